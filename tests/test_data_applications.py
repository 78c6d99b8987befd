"""Chapter 13's data: MovieLens ratings with a split by time per user, batches with negatives, LFW faces."""

import pytest
import torch

from dlbook.data import ImplicitPairs, leave_last_out, lfw_faces, movielens


@pytest.fixture(scope="module")
def data():
    return movielens()


def test_movielens(data):
    assert (len(data), data.num_users, data.num_items) == (100_004, 671, 9_066)
    assert data.rating.min() == 0.5 and data.rating.max() == 5.0
    assert torch.bincount(data.user).min() >= 20
    star_wars = data.find("Star Wars: Episode IV - A New Hope")
    assert data.years[star_wars] == 1977 and "Sci-Fi" in data.genres[star_wars]
    with pytest.raises(KeyError, match="films match"):
        data.find("Star Wars")


def test_leave_last_out_holds_out_each_users_latest(data):
    train, val, test = leave_last_out(data, n=2)
    assert len(train) + len(val) + len(test) == len(data)
    assert len(set(train.tolist()) | set(val.tolist()) | set(test.tolist())) == len(data)
    assert len(test) == len(val) == 2 * data.num_users
    for user in (0, 100, 670):
        mine = data.user == user
        last_train = data.timestamp[train][data.user[train] == user].max()
        first_val, last_val = (f(data.timestamp[val][data.user[val] == user]) for f in (torch.min, torch.max))
        assert last_train <= first_val and last_val <= data.timestamp[test][data.user[test] == user].min()
        assert mine.sum() == (data.user[train] == user).sum() + 4
    with pytest.raises(ValueError, match="needs more than"):
        leave_last_out(data, n=10)


def test_implicit_pairs_draws_fresh_negatives_each_epoch():
    user, item = torch.tensor([0, 0, 1]), torch.tensor([3, 4, 5])
    pairs = ImplicitPairs(user, item, num_items=50, negatives=3, batch_size=4, seed=1)
    first, second = list(pairs), list(pairs)
    assert len(first) == len(pairs) == 3
    x, y = torch.cat([b[0] for b in first]), torch.cat([b[1] for b in first])
    assert x.shape == (12, 2) and y.sum() == 3 and y.dtype == torch.float32
    assert sorted(x[y == 1].tolist()) == [[0, 3], [0, 4], [1, 5]]
    assert not torch.equal(x, torch.cat([b[0] for b in second]))
    with pytest.raises(ValueError, match="item ids must be in"):
        ImplicitPairs(user, item, num_items=5)


def test_lfw_faces():
    x, y = lfw_faces()
    assert x.shape == (200, 1, 25, 25) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and y[:100].eq(1).all() and y[100:].eq(0).all()
