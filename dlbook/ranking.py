"""Measuring a recommender: does the film a user chose next appear near the top of the list it ranks?

A recommender scores every item for every user, ``scores: (users, items)``; the items a user already has
(``exclude``, e.g. those rated in training) are never recommended again. For the items each user is known to
want, ``relevant: (users, items)`` bool (often one held-out item per user):

- :func:`recall_at_k`: the fraction of a user's relevant items among the top ``k`` (with one relevant item,
  1 if it made the top ``k``, else 0: the hit rate);
- :func:`ndcg_at_k`: normalized discounted cumulative gain (Järvelin and Kekäläinen, 2002): a relevant item at
  position ``p`` (0 first) earns ``1 / log2(p + 2)``, divided by the most the user's relevant items could earn,
  so 1 means they fill the top of the list and an item ranked 10th earns less than one ranked 1st;
- :func:`ranks`: where one target item per user lands (0 = first), for a histogram.

Each returns one value per user, ``(users,)``, so the mean, its spread and a comparison per user are one line
away. Items with equal scores keep ``torch.topk``'s order (for :func:`ranks`, ties count against the target).
"""

import torch

__all__ = ["masked_scores", "ndcg_at_k", "ranks", "recall_at_k", "seen"]


def seen(user: torch.Tensor, item: torch.Tensor, num_users: int, num_items: int) -> torch.Tensor:
    """The pairs a user has: ``user, item: (n,)`` ids -> ``(num_users, num_items)`` bool, True where rated."""
    mask = torch.zeros(num_users, num_items, dtype=torch.bool)
    mask[user, item] = True
    return mask


def masked_scores(scores: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """``scores: (users, items)`` as float, ``-inf`` where ``exclude: (users, items)`` is True."""
    if scores.ndim != 2:
        raise ValueError(f"scores must be (users, items), got shape {tuple(scores.shape)}.")
    scores = scores.float()
    if exclude is None:
        return scores
    if exclude.shape != scores.shape or exclude.dtype != torch.bool:
        raise ValueError(f"exclude must be a bool tensor of the scores' shape {tuple(scores.shape)}, "
                         f"got {exclude.dtype} {tuple(exclude.shape)}.")  # fmt: skip
    return scores.masked_fill(exclude, float("-inf"))


def _top_hits(scores, relevant, k, exclude) -> tuple[torch.Tensor, torch.Tensor]:
    """(hits: (users, k) float, 1 where the p-th recommended item is relevant; relevant counts: (users,))."""
    scores = masked_scores(scores, exclude)
    if relevant.shape != scores.shape or relevant.dtype != torch.bool:
        raise ValueError(f"relevant must be a bool tensor of the scores' shape {tuple(scores.shape)}, "
                         f"got {relevant.dtype} {tuple(relevant.shape)}.")  # fmt: skip
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= scores.shape[1]:
        raise ValueError(f"k must be an int in 1..{scores.shape[1]} (the number of items), got {k!r}.")
    if exclude is not None and (relevant & exclude).any():
        raise ValueError("an item is both relevant and excluded for some user: it could never be recommended.")
    counts = relevant.sum(1)
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} users have no relevant item; leave them out first.")
    top = scores.topk(k, dim=1).indices  # (users, k)
    return relevant.gather(1, top).float(), counts


def recall_at_k(
    scores: torch.Tensor, relevant: torch.Tensor, k: int = 10, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """Recall@k per user, ``(users,)``: relevant items in the top ``k`` / the user's relevant items.

    ``scores: (users, items)``, ``relevant``, ``exclude: (users, items)`` bool (excluded items are never in
    the top ``k``).
    """
    hits, counts = _top_hits(scores, relevant, k, exclude)
    return hits.sum(1) / counts


def ndcg_at_k(
    scores: torch.Tensor, relevant: torch.Tensor, k: int = 10, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """NDCG@k per user, ``(users,)`` in [0, 1]: sum over relevant items in the top ``k`` of ``1 / log2(p + 2)``
    (``p`` = 0 for the first), divided by its largest possible value, ``sum_{p < min(k, |relevant|)} 1 / log2(p + 2)``.
    """
    hits, counts = _top_hits(scores, relevant, k, exclude)
    discount = 1.0 / torch.log2(torch.arange(k, dtype=torch.float32) + 2)  # (k,)
    ideal = torch.cumsum(discount, 0)[counts.clamp(max=k) - 1]  # (users,)
    return (hits * discount).sum(1) / ideal


def ranks(scores: torch.Tensor, target: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Where each user's ``target`` item lands, ``(users,)`` int64: 0 if it is scored highest.

    The rank is the number of other, not excluded items that score at least as high (ties count against
    the target, so a model that scores everything alike ranks nothing first).
    """
    scores = masked_scores(scores, exclude)
    if target.shape != (scores.shape[0],) or target.is_floating_point():
        raise ValueError(f"target must be (users,) = ({scores.shape[0]},) item ids, got {tuple(target.shape)}.")
    if exclude is not None and exclude.gather(1, target[:, None]).any():
        raise ValueError("a target item is excluded for its user: it could never be recommended.")
    own = scores.gather(1, target[:, None])  # (users, 1)
    return (scores >= own).sum(1) - 1
