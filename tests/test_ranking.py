"""Ranking metrics: recall@k, NDCG@k and ranks against values worked out by hand."""

import math

import pytest
import torch

from dlbook import ranking


def test_recall_and_ndcg_by_hand():
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.5], [0.1, 0.2, 0.3, 0.4]])
    relevant = torch.tensor([[False, True, False, False], [True, False, False, True]])
    # user 0: ranking 0, 1, 3, 2 -> relevant item 1 second; user 1: 3, 2, 1, 0 -> item 3 first, item 0 last
    assert ranking.recall_at_k(scores, relevant, 2).tolist() == [1.0, 0.5]
    ndcg = ranking.ndcg_at_k(scores, relevant, 2)
    assert ndcg[0].item() == pytest.approx(1 / math.log2(3))
    assert ndcg[1].item() == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ranking.ndcg_at_k(scores, relevant, 4)[1].item() == pytest.approx(
        (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    )


def test_excluded_items_are_never_recommended():
    scores = torch.tensor([[0.9, 0.8, 0.1]])
    relevant = torch.tensor([[False, True, False]])
    exclude = torch.tensor([[True, False, False]])
    assert ranking.recall_at_k(scores, relevant, 1).item() == 0.0
    assert ranking.recall_at_k(scores, relevant, 1, exclude).item() == 1.0
    assert ranking.ndcg_at_k(scores, relevant, 1, exclude).item() == 1.0
    assert ranking.ranks(scores, torch.tensor([1]), exclude).item() == 0
    assert ranking.ranks(scores, torch.tensor([2])).item() == 2


def test_ties_count_against_the_target():
    assert ranking.ranks(torch.zeros(2, 5), torch.tensor([0, 3])).tolist() == [4, 4]


def test_seen():
    mask = ranking.seen(torch.tensor([0, 1, 1]), torch.tensor([2, 0, 2]), 2, 3)
    assert mask.tolist() == [[False, False, True], [True, False, True]]


def test_bad_input_is_explained():
    scores, relevant = torch.rand(2, 3), torch.tensor([[True, False, False], [False, False, False]])
    with pytest.raises(ValueError, match="no relevant item"):
        ranking.recall_at_k(scores, relevant, 1)
    with pytest.raises(ValueError, match="k must be"):
        ranking.ndcg_at_k(scores, relevant | True, 4)
    with pytest.raises(ValueError, match="both relevant and excluded"):
        ranking.recall_at_k(scores, relevant | True, 1, exclude=torch.eye(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool tensor"):
        ranking.recall_at_k(scores, relevant.float(), 1)
