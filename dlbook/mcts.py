"""AlphaZero in small: a policy/value network, Monte Carlo tree search guided by it, and self-play::

    net = PolicyValueNet()
    search = MCTS(evaluator(net), simulations=25)
    visits = search.visits(board())                  # (9,) how often each move was tried
    examples = self_play(net, games=20, rng=rng)     # boards, visit distributions, outcomes
    loss = alphazero_loss(net, *examples)            # cross-entropy to the visits + squared value error

The game is tic-tac-toe from :mod:`dlbook.games`; values are always from the side of the player to move.
"""

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from dlbook.games import SYMMETRIES, Board, Player, board, encode, legal_moves, play, symmetries, to_move, winner

Evaluate = Callable[[Board], tuple[np.ndarray, float]]


class PolicyValueNet(nn.Module):
    """A shared trunk with two heads: x: (batch, 18) from games.encode -> policy logits (batch, 9), value (batch,).

    The value, in (-1, 1), is the network's guess of the outcome for the player to move.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(18, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.policy = nn.Linear(width, 9)
        self.value = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: ``(batch, 18)`` encoded boards -> policy logits ``(batch, 9)``, values ``(batch,)``."""
        h = self.trunk(x)
        return self.policy(h), torch.tanh(self.value(h)).squeeze(-1)


def evaluator(net: nn.Module, symmetric: bool = True) -> Evaluate:
    """board -> (move probabilities over the legal moves (9,), value for the player to move), cached per board.

    ``symmetric`` averages the network's logits and value over the board's 8 rotations and reflections,
    which are all the same position: a cheap ensemble. The cache is right only while the weights stay
    as they are: make a new evaluator after training. The network is called as it is (the book's has no
    dropout or batch norm, so train and eval modes agree).
    """
    cache: dict[Board, tuple[np.ndarray, float]] = {}
    net_device = next(net.parameters()).device
    perms = [list(p) for p in (SYMMETRIES if symmetric else SYMMETRIES[:1])]

    def evaluate(b: Board) -> tuple[np.ndarray, float]:
        if b not in cache:
            turned = np.asarray(b)[perms]  # (k, 9): turned[k, i] = b[perms[k][i]]
            with torch.inference_mode():
                logits, value = net(torch.from_numpy(encode(turned)).to(net_device))
            turned_logits = logits.cpu().double().numpy()
            logits = np.zeros((len(perms), 9))
            for k, p in enumerate(perms):  # turn each back: square perms[k][i] of b is square i of turned[k]
                logits[k, p] = turned_logits[k]
            logits = logits.mean(0)
            legal = np.array([v == 0 for v in b])
            priors = np.exp(np.where(legal, logits - logits[legal].max(), -np.inf))
            cache[b] = (priors / priors.sum(), value.mean().item())
        return cache[b]

    return evaluate


def uniform(b: Board) -> tuple[np.ndarray, float]:
    """An evaluator that knows nothing: every legal move equally likely, value 0."""
    priors = np.zeros(9)
    priors[legal_moves(b)] = 1.0
    return priors / priors.sum(), 0.0


class MCTS:
    """Monte Carlo tree search guided by an evaluator, with statistics per board (positions reached by
    different move orders share them).

    Each simulation walks from the root: **select** the move with the best
    Q + c_puct * P * sqrt(N_parent) / (1 + N) until a board not seen before, **expand** and **evaluate**
    it with the network (or score a finished game exactly), then **back up** the value along the path,
    flipping its sign at each level, since the players alternate.
    """

    def __init__(self, evaluate: Evaluate, simulations: int = 25, c_puct: float = 1.5):
        if not isinstance(simulations, int) or simulations < 1:
            raise ValueError(f"simulations must be a positive int, got {simulations!r}.")
        self.evaluate, self.simulations, self.c_puct = evaluate, simulations, c_puct
        self.P: dict[Board, np.ndarray] = {}  # priors of each expanded board, (9,)
        self.N: dict[Board, np.ndarray] = {}  # visit counts of its moves, (9,)
        self.W: dict[Board, np.ndarray] = {}  # total value of its moves for the player to move there, (9,)

    def simulate(self, b: Board) -> float:
        """One simulation from ``b``; returns the value of ``b`` for the player to move there."""
        w = winner(b)
        if w is not None:  # a finished game: exact value
            return float(w * to_move(b))
        if b not in self.P:  # expand and evaluate a new leaf
            priors, value = self.evaluate(b)
            self.P[b], self.N[b], self.W[b] = priors, np.zeros(9), np.zeros(9)
            return value
        P, N, W = self.P[b], self.N[b], self.W[b]  # select
        Q = np.divide(W, N, out=np.zeros(9), where=N > 0)
        score = Q + self.c_puct * P * math.sqrt(N.sum() + 1) / (1 + N)
        score[[v != 0 for v in b]] = -np.inf  # taken squares
        move = int(np.argmax(score))
        value = -self.simulate(b[:move] + (to_move(b),) + b[move + 1 :])  # the child's value is the opponent's
        N[move] += 1  # back up
        W[move] += value
        return value

    def visits(self, b: Board, noise: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
        """Run the simulations from ``b``; the visit count of each move: (9,).

        ``noise`` > 0 mixes Dirichlet(1) noise into the root's priors (self-play explores with it).
        """
        if not legal_moves(board(b)):
            raise ValueError(f"the game on this board is over; nothing to search:\n{b}")
        if b not in self.P:
            self.simulate(b)  # expand the root first, so noise can be mixed into its priors
        if noise > 0:
            if rng is None:
                raise ValueError("noise needs an rng: pass rng=np.random.default_rng(seed).")
            clean = self.P[b]
            dirichlet = np.zeros(9)
            dirichlet[legal_moves(b)] = rng.dirichlet(np.ones(len(legal_moves(b))))
            self.P[b] = (1 - noise) * clean + noise * dirichlet
        for _ in range(self.simulations):
            self.simulate(b)
        if noise > 0:
            self.P[b] = clean
        return self.N[b].copy()


def mcts_player(evaluate: Evaluate, simulations: int = 25) -> Player:
    """A player that searches with a fresh tree each move and plays the most visited move.

    Deterministic (ties go to the lowest square), so its move for each board is computed once and remembered.
    """
    memory: dict[Board, int] = {}

    def move(b: Board) -> int:
        if b not in memory:
            memory[b] = int(np.argmax(MCTS(evaluate, simulations).visits(b)))
        return memory[b]

    return move


def policy_player(evaluate: Evaluate) -> Player:
    """A player with no search: the network's most probable legal move."""
    return lambda b: int(np.argmax(evaluate(b)[0]))


def self_play(
    net: nn.Module,
    games: int,
    rng: np.random.Generator,
    simulations: int = 25,
    noise: float = 0.25,
    explore_moves: int = 9,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Play ``games`` games of the network against itself; one example per move made.

    Returns boards (n, 9), the search's visit distributions (n, 9) and the outcomes (n,) from the side
    of the player to move (1 won, 0 drew, -1 lost). The first ``explore_moves`` moves of each game (by
    default all) are drawn from the visit distribution, so the games vary; the rest are the most visited move.
    """
    evaluate = evaluator(net)
    boards, policies, players, outcomes = [], [], [], []
    for _ in range(games):
        b, start = board(), len(boards)
        search = MCTS(evaluate, simulations)  # one tree per game: a position's statistics carry over
        while winner(b) is None:
            counts = search.visits(b, noise=noise, rng=rng)
            pi = counts / counts.sum()
            move = int(rng.choice(9, p=pi)) if b.count(0) > 9 - explore_moves else int(np.argmax(counts))
            boards.append(b)
            policies.append(pi)
            players.append(to_move(b))
            b = play(b, move)
        outcomes += [winner(b) * p for p in players[start:]]
    return np.array(boards, dtype=np.int64), np.array(policies, dtype=np.float32), np.array(outcomes, dtype=np.float32)


def alphazero_loss(net: nn.Module, boards, policies, outcomes) -> torch.Tensor:
    """Cross-entropy from the search's visits to the policy, plus the squared error of the value.

    boards: (n, 9), policies: (n, 9), outcomes: (n,) -> a scalar (the mean over the n examples).
    """
    device = next(net.parameters()).device
    x = torch.as_tensor(encode(boards), device=device)
    pi = torch.as_tensor(policies, dtype=torch.float32, device=device)
    z = torch.as_tensor(outcomes, dtype=torch.float32, device=device)
    if pi.shape != (len(x), 9) or z.shape != (len(x),):
        raise ValueError(f"boards (n, 9), policies (n, 9), outcomes (n,); got {len(x)}, {tuple(pi.shape)}, "
                         f"{tuple(z.shape)}.")
    logits, value = net(x)
    return -(pi * torch.log_softmax(logits, 1)).sum(1).mean() + (value - z).square().mean()


def train_on(net: nn.Module, optimizer: torch.optim.Optimizer, examples, epochs: int, batch_size: int,
             rng: np.random.Generator) -> float:
    """A few epochs of minibatch steps on self-play examples, each in its 8 symmetries; the last epoch's mean loss."""
    boards, policies, outcomes = examples
    boards, policies = symmetries(boards, policies)
    outcomes = np.tile(outcomes, 8)
    net.train()
    for _ in range(epochs):
        order, losses = rng.permutation(len(boards)), []
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            loss = alphazero_loss(net, boards[idx], policies[idx], outcomes[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return float(np.mean(losses))
