"""Recommenders that learn an embedding per user and per item: matrix factorization and neural collaborative
filtering.

Both read ``x: (batch, 2)``, a user id and an item id per row, and return one logit per row, ``(batch,)``:
how likely the user is to want the item. Trained on rated pairs (label 1) against random items (label 0)
with ``F.binary_cross_entropy_with_logits`` (see :class:`dlbook.data.ratings.ImplicitPairs`).
``score_all(users)`` scores every item for some users, ``(len(users), num_items)``, for ranking.

- :class:`MatrixFactorization` (Koren et al., 2009): ``logit = <p_u, q_i> + b_i``, a dot product of
  the two embeddings plus an item bias (popularity).
- :class:`NeuralCF` (He et al., 2017, its "MLP" model): ``logit = MLP([p_u; q_i])``, a multilayer
  perceptron on the concatenated embeddings, which may learn any function of the pair, not just a dot product.
"""

import torch
from torch import nn


def _check_pairs(x: torch.Tensor, num_users: int, num_items: int, who: str) -> None:
    if x.ndim != 2 or x.shape[1] != 2 or x.is_floating_point():
        raise ValueError(f"{who} needs x: (batch, 2) integer (user, item) ids, got {x.dtype} {tuple(x.shape)}.")
    for column, size, name in ((0, num_users, "user"), (1, num_items, "item")):
        ids = x[:, column]
        if len(ids) and (ids.min() < 0 or ids.max() >= size):
            raise ValueError(f"{name} ids must be in 0..{size - 1}, got {int(ids.min())}..{int(ids.max())}.")


class MatrixFactorization(nn.Module):
    """``x: (batch, 2)`` (user, item) ids -> ``(batch,)`` logits ``<p_u, q_i> + b_i``.

    ``users: (num_users, dim)`` and ``items: (num_items, dim)`` embeddings, initialized with standard
    deviation ``init_std``; ``item_bias: (num_items,)`` starts at 0.
    """

    def __init__(self, num_users: int, num_items: int, dim: int = 32, init_std: float = 0.1):
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.users = nn.Embedding(num_users, dim)
        self.items = nn.Embedding(num_items, dim)
        self.item_bias = nn.Parameter(torch.zeros(num_items))
        nn.init.normal_(self.users.weight, std=init_std)
        nn.init.normal_(self.items.weight, std=init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``(batch, 2)`` (user, item) ids -> ``(batch,)`` logits."""
        _check_pairs(x, self.num_users, self.num_items, "MatrixFactorization")
        user, item = x[:, 0], x[:, 1]
        return (self.users(user) * self.items(item)).sum(-1) + self.item_bias[item]

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """users: ``(n,)`` ids -> ``(n, num_items)`` logits for every item."""
        return self.users(users) @ self.items.weight.T + self.item_bias


class NeuralCF(nn.Module):
    """``x: (batch, 2)`` (user, item) ids -> ``(batch,)`` logits ``MLP([p_u; q_i])``.

    The MLP is ``Linear(2 dim, hidden[0])``, ReLU, ..., ``Linear(hidden[-1], 1)``. Its first layer on the
    concatenation is ``W [p; q] = W_p p + W_q q``, which ``score_all`` uses to score every item without
    building every pair's input.
    """

    def __init__(
        self, num_users: int, num_items: int, dim: int = 32, hidden: tuple[int, ...] = (64, 32), init_std: float = 0.1
    ):
        super().__init__()
        if not hidden:
            raise ValueError("NeuralCF needs at least one hidden layer, e.g. hidden=(64, 32).")
        self.num_users, self.num_items, self.dim = num_users, num_items, dim
        self.users = nn.Embedding(num_users, dim)
        self.items = nn.Embedding(num_items, dim)
        nn.init.normal_(self.users.weight, std=init_std)
        nn.init.normal_(self.items.weight, std=init_std)
        sizes = [2 * dim, *hidden]
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.mlp = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``(batch, 2)`` (user, item) ids -> ``(batch,)`` logits."""
        _check_pairs(x, self.num_users, self.num_items, "NeuralCF")
        pair = torch.cat([self.users(x[:, 0]), self.items(x[:, 1])], dim=-1)  # (batch, 2 dim)
        return self.mlp(pair)[:, 0]

    def score_all(self, users: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """users: ``(n,)`` ids -> ``(n, num_items)`` logits, ``chunk`` users at a time."""
        first, rest = self.mlp[0], self.mlp[1:]
        w_user, w_item = first.weight[:, : self.dim], first.weight[:, self.dim :]  # (hidden, dim) each
        from_items = self.items.weight @ w_item.T + first.bias  # (num_items, hidden)
        out = []
        for some in users.split(chunk):
            h = (self.users(some) @ w_user.T)[:, None, :] + from_items  # (chunk, num_items, hidden)
            out.append(rest(h)[..., 0])
        return torch.cat(out)
