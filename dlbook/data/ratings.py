"""Ratings for recommendation: MovieLens latest-small, a split by time per user, and batches with negatives.

:func:`movielens` reads the 100,004 ratings that 671 MovieLens users gave 9,066 films (GroupLens' 2016
"latest-small", shipped in ``files/``; research use only, see ``files/LICENSES.md``) as :class:`Ratings`.
:func:`leave_last_out` holds out each user's last rated film for testing and the one before for validation,
so a model is always asked about the future of a user's history. :class:`ImplicitPairs` turns the training
ratings into batches of ``(user, item)`` pairs labelled 1 (rated) or 0 (a film drawn at random), fresh
negatives every epoch, for a model that learns what a user will watch next::

    data = movielens()
    train, val, test = leave_last_out(data, n=5)      # index tensors into the ratings
    pairs = ImplicitPairs(data.user[train], data.item[train], data.num_items, negatives=4)
    for x, y in pairs:                                 # x: (batch, 2) user and item ids, y: (batch,) 0/1
        ...
"""

import lzma
from dataclasses import dataclass

import numpy as np
import torch

from dlbook.data import files

RATINGS_FILE = "movielens_ratings.tsv.xz"
MOVIES_FILE = "movielens_movies.tsv.xz"


@dataclass(repr=False)
class Ratings:
    """n ratings of ``num_items`` films by ``num_users`` users, users and films renumbered from 0.

    ``user, item: (n,)`` int64 (user ``u`` is MovieLens user ``u + 1``; item ``i`` is the film with
    MovieLens id ``movie_ids[i]``), ``rating: (n,)`` float32 stars in 0.5..5, ``timestamp: (n,)`` int64
    seconds since 1970 (UTC). Per item: ``titles`` (``""`` where the source has none), ``years`` (0 where
    unknown) and ``genres`` (a list of genre names each).
    """

    user: torch.Tensor
    item: torch.Tensor
    rating: torch.Tensor
    timestamp: torch.Tensor
    movie_ids: torch.Tensor
    titles: list[str]
    years: list[int]
    genres: list[list[str]]

    @property
    def num_users(self) -> int:
        return int(self.user.max()) + 1

    @property
    def num_items(self) -> int:
        return len(self.titles)

    def find(self, title: str) -> int:
        """The item id of the film whose title is ``title`` (exactly), or of the one film whose title contains it."""
        exact = [i for i, t in enumerate(self.titles) if t == title]
        found = exact or [i for i, t in enumerate(self.titles) if title.lower() in t.lower()]
        if len(found) != 1:
            shown = ", ".join(repr(self.titles[i]) for i in found[:5])
            raise KeyError(f"{len(found)} films match {title!r}{': ' + shown if found else ''}; give the exact title.")
        return found[0]

    def __len__(self) -> int:
        return len(self.user)

    def __repr__(self) -> str:
        return f"Ratings({len(self):,} ratings, {self.num_users:,} users, {self.num_items:,} items)"


def _table(filename: str) -> list[list[str]]:
    """The rows of a shipped ``.tsv.xz`` table (SHA-256 checked), header dropped, each a list of fields."""
    text = lzma.decompress(files.shipped(filename).read_bytes()).decode("utf-8")
    lines = text.split("\n")
    if lines[-1] != "":
        raise ValueError(f"{filename} does not end with a newline: the file is damaged; reinstall dlbook.")
    return [line.split("\t") for line in lines[1:-1]]


def movielens() -> Ratings:
    """MovieLens latest-small (2016): 100,004 ratings by 671 users of 9,066 films, as :class:`Ratings`.

    Every user rated at least 20 films; most films have few ratings (half have 3 or fewer). From the
    GroupLens Research Project (Harper and Konstan, 2015), under GroupLens' usage licence: research use
    only, no commercial use; see ``files/LICENSES.md``.
    """
    ratings = np.array(_table(RATINGS_FILE), dtype=np.float64)  # user, movie, rating, timestamp
    movies = _table(MOVIES_FILE)
    movie_ids = np.array([int(row[0]) for row in movies], dtype=np.int64)
    item = np.searchsorted(movie_ids, ratings[:, 1].astype(np.int64))
    if np.any(movie_ids[item] != ratings[:, 1]):
        raise ValueError(f"{RATINGS_FILE} names a film missing from {MOVIES_FILE}: reinstall dlbook.")
    return Ratings(
        user=torch.from_numpy(ratings[:, 0].astype(np.int64) - 1),
        item=torch.from_numpy(item.astype(np.int64)),
        rating=torch.from_numpy(ratings[:, 2].astype(np.float32)),
        timestamp=torch.from_numpy(ratings[:, 3].astype(np.int64)),
        movie_ids=torch.from_numpy(movie_ids),
        titles=[row[1] for row in movies],
        years=[int(row[2]) if row[2] else 0 for row in movies],
        genres=[row[3].split("|") for row in movies],
    )


def leave_last_out(data: Ratings, n: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index tensors ``(train, val, test)`` into ``data``: each user's last ``n`` ratings are test, the ``n``
    before them validation, the rest training.

    "Last" is by timestamp; ratings given in the same second keep the file's order. Every user needs more
    than ``2 n`` ratings (MovieLens users have 20 or more). Training a model on ``train`` and asking it which
    films a user rated next is an honest test of a recommender: it never sees the future of a user's history.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    order = np.lexsort((np.arange(len(data)), data.timestamp.numpy(), data.user.numpy()))  # by user, then time
    users = data.user.numpy()[order]
    counts = np.bincount(users, minlength=data.num_users)
    if counts.min() <= 2 * n:
        raise ValueError(f"user {int(counts.argmin())} has {counts.min()} ratings; leave_last_out(n={n}) needs "
                         f"more than {2 * n}.")  # fmt: skip
    from_end = np.cumsum(counts)[users] - 1 - np.arange(len(data))  # 0 for each user's last rating
    test, val, train = order[from_end < n], order[(from_end >= n) & (from_end < 2 * n)], order[from_end >= 2 * n]
    return tuple(torch.from_numpy(np.sort(part).astype(np.int64)) for part in (train, val, test))


class ImplicitPairs:
    """Batches ``(x: (batch, 2), y: (batch,))`` of rated pairs (y = 1) and random films for the same users (y = 0).

    ``user, item: (n,)`` are the rated pairs. Each epoch (each ``iter``) draws ``negatives`` films uniformly at
    random for every rated pair, shuffles all ``n * (1 + negatives)`` pairs and yields them in batches;
    ``x[:, 0]`` are users, ``x[:, 1]`` items, ``y`` float32 labels. A random film is almost always one the user
    did not rate; the few that were rated stay labelled 0, a small noise. ``generator`` is the
    ``torch.Generator`` seeded with ``seed`` that draws and shuffles (so ``fit``'s checkpoints can resume it).
    """

    def __init__(
        self,
        user: torch.Tensor,
        item: torch.Tensor,
        num_items: int,
        negatives: int = 4,
        batch_size: int = 1024,
        seed: int = 0,
    ):
        if user.shape != item.shape or user.ndim != 1 or len(user) == 0:
            raise ValueError(f"need user and item ids of the same shape (n,), got {tuple(user.shape)} "
                             f"and {tuple(item.shape)}.")  # fmt: skip
        if int(item.max()) >= num_items or int(item.min()) < 0:
            raise ValueError(f"item ids must be in 0..{num_items - 1}, got {int(item.min())}..{int(item.max())}.")
        for name, value in (("negatives", negatives), ("batch_size", batch_size)):
            if not isinstance(value, int) or value < (0 if name == "negatives" else 1):
                raise ValueError(f"{name} must be a {'non-negative' if name == 'negatives' else 'positive'} int, "
                                 f"got {value!r}.")  # fmt: skip
        self.user, self.item, self.num_items = user.long(), item.long(), num_items
        self.negatives, self.batch_size = negatives, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.user) * (1 + self.negatives) // self.batch_size)

    def __iter__(self):
        n, k = len(self.user), self.negatives
        fake = torch.randint(self.num_items, (n * k,), generator=self.generator)
        x = torch.stack([self.user.repeat(1 + k), torch.cat([self.item, fake])], dim=1)
        y = torch.cat([torch.ones(n), torch.zeros(n * k)])
        order = torch.randperm(len(y), generator=self.generator)
        for start in range(0, len(y), self.batch_size):
            batch = order[start : start + self.batch_size]
            yield x[batch], y[batch]
