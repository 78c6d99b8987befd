"""dlbook.games and dlbook.mcts: the rules of tic-tac-toe, bad boards and moves, the perfect player,
search that finds a win in one and blocks a loss, self-play examples and the AlphaZero loss."""

import numpy as np
import pytest
import torch

from dlbook.games import (
    SYMMETRIES,
    O,
    X,
    best_moves,
    board,
    encode,
    legal_moves,
    match,
    minimax_value,
    perfect_player,
    play,
    play_game,
    random_player,
    render,
    rule_player,
    symmetries,
    to_move,
    winner,
)
from dlbook.mcts import MCTS, PolicyValueNet, alphazero_loss, evaluator, mcts_player, self_play, train_on, uniform

# ---------- the rules ----------


def test_boards_from_strings_lists_and_numbers_agree():
    b = board("X.O\n.X.\n..O")
    assert b == (1, 0, -1, 0, 1, 0, 0, 0, -1)
    assert board([[1, 0, -1], [0, 1, 0], [0, 0, -1]]) == b == board(list(b)) == board(np.array(b))
    assert board() == (0,) * 9 and render(b) == "X.O\n.X.\n..O"


@pytest.mark.parametrize(
    "cells, message",
    [
        ("X.O.....", "9 squares"),
        ("XQ.......", "unknown marks"),
        ([[1, 0], [0, 0]], "shape"),
        ("OO.......", "X moves first"),
        ("XXX......", "X moves first"),
        ([2] + [0] * 8, "squares hold"),
    ],
)
def test_bad_boards_are_refused_with_a_reason(cells, message):
    with pytest.raises(ValueError, match=message):
        board(cells)


def test_turns_lines_and_the_end_of_the_game():
    assert to_move(board()) == X and to_move(play(board(), 4)) == O
    assert winner(board("XXX.OO...")) == X and winner(board("XX.OOOX..")) == O
    assert winner(board("XOXXOOOXX")) == 0  # full, no line: a draw
    assert winner(board("X.O......")) is None
    assert legal_moves(board("XXX.OO...")) == []  # nothing to play once someone has won
    assert legal_moves(board("X.O......")) == [1, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize("move", [0, 9, -1, 2.0, "4"])
def test_illegal_moves_are_refused(move):
    with pytest.raises(ValueError, match="illegal move"):
        play(board("X.O......"), move)


def test_no_move_after_a_win():
    with pytest.raises(ValueError, match="legal moves are \\[\\]"):
        play(board("XXX.OO..."), 6)


def test_symmetries_turn_board_and_policy_together():
    assert len(set(SYMMETRIES)) == 8 and all(sorted(p) == list(range(9)) for p in SYMMETRIES)
    b = np.array([board("XO.......")])
    pi = np.zeros((1, 9))
    pi[0, 2] = 1.0  # the move next to O
    boards, policies = symmetries(b, pi)
    assert boards.shape == policies.shape == (8, 9)
    for rb, rp in zip(boards, policies, strict=True):  # in every copy, the move is still an empty square next to O
        move, o = int(rp.argmax()), int(np.flatnonzero(rb == O)[0])
        assert rb[move] == 0 and abs(move // 3 - o // 3) + abs(move % 3 - o % 3) == 1
    with pytest.raises(ValueError, match="\\(n, 9\\)"):
        symmetries(np.zeros((2, 3, 3)), np.zeros((2, 9)))


def test_encoding_is_from_the_side_of_the_player_to_move():
    x = encode([board("X........"), board("XO.......")])
    assert x.shape == (2, 18) and x.dtype == np.float32
    assert x[0, 9] == 1 and x[0, :9].sum() == 0  # O to move: X's mark is the opponent's
    assert x[1, 0] == 1 and x[1, 10] == 1 and x[1].sum() == 2  # X to move: own X at 0, opponent's O at 1


# ---------- the fixed players ----------


def test_perfect_play_is_a_draw_and_never_loses_to_random():
    assert minimax_value(board()) == 0
    rng = np.random.default_rng(0)
    for first in (True, False):
        counts = match(perfect_player(rng), random_player(rng), games=100, agent_first=first)
        assert counts["loss"] == 0 and counts["win"] > 50, counts
    assert play_game(perfect_player(rng), perfect_player(rng)) == 0


def test_minimax_sees_a_fork():
    # X at 0 and 8, O at 4: O must take an edge; a corner lets X fork
    b = board("X...O...X")
    assert minimax_value(b) == 0 and sorted(best_moves(b)) == [1, 3, 5, 7]


def test_rule_player_wins_then_blocks():
    rng = np.random.default_rng(0)
    assert rule_player(rng)(board("XX.OO....")) == 2  # its own win before the block
    assert rule_player(rng)(board("OO.X.X..X")) == 2  # X to move: block O's row
    counts = match(rule_player(rng), random_player(rng), games=100)
    assert counts["win"] > 80


def test_match_counts_and_checks_its_arguments():
    rng = np.random.default_rng(0)
    counts = match(random_player(rng), random_player(rng), games=30)
    assert sum(counts.values()) == 30
    with pytest.raises(ValueError, match="positive int"):
        match(random_player(rng), random_player(rng), games=0)
    with pytest.raises(ValueError, match="illegal move"):
        play_game(lambda b: 0, random_player(rng))  # a player that always plays square 0


# ---------- search ----------


@pytest.mark.parametrize("evaluate", [uniform, evaluator(PolicyValueNet())], ids=["uniform", "untrained net"])
def test_search_finds_a_win_in_one_and_blocks_a_loss(evaluate):
    win = board("XX.OO....")  # X to move: 2 wins at once
    assert mcts_player(evaluate, simulations=50)(win) == 2
    block = board("OO.X....X")  # X to move, no win of its own; O threatens 2
    assert mcts_player(evaluate, simulations=100)(block) == 2


def test_search_visits_only_legal_moves_and_counts_its_simulations():
    search = MCTS(uniform, simulations=40)
    visits = search.visits(board("X.O.X...."))
    assert visits.sum() == 40 and visits[[0, 2, 4]].sum() == 0
    noisy = MCTS(uniform, simulations=40).visits(board(), noise=0.5, rng=np.random.default_rng(0))
    assert noisy.sum() == 40
    with pytest.raises(ValueError, match="over"):
        search.visits(board("XXX.OO..."))
    with pytest.raises(ValueError, match="rng"):
        MCTS(uniform).visits(board(), noise=0.25)
    with pytest.raises(ValueError, match="positive int"):
        MCTS(uniform, simulations=0)


def test_evaluator_gives_probabilities_over_legal_moves():
    priors, value = evaluator(PolicyValueNet())(board("X.O......"))
    assert priors.shape == (9,) and priors[[0, 2]].sum() == 0 and abs(priors.sum() - 1) < 1e-9
    assert -1 < value < 1


# ---------- self-play and learning ----------


def test_self_play_examples_are_consistent():
    torch.manual_seed(0)
    boards, policies, outcomes = self_play(PolicyValueNet(), games=3, rng=np.random.default_rng(0), simulations=10)
    n = len(boards)
    assert boards.shape == (n, 9) and policies.shape == (n, 9) and outcomes.shape == (n,)
    np.testing.assert_allclose(policies.sum(1), 1, rtol=1e-6)
    assert np.all(policies[boards != 0] == 0)  # no visits to taken squares
    assert set(np.unique(outcomes)) <= {-1.0, 0.0, 1.0}
    starts = np.flatnonzero((boards != 0).sum(1) == 0)
    assert len(starts) == 3
    for a, b in zip(starts, list(starts[1:]) + [n], strict=True):  # in one game: z flips each move, or is 0
        z = outcomes[a:b]
        assert np.all(z == 0) or np.all(z[1:] == -z[:-1])


def test_alphazero_loss_and_training_reduce_the_loss():
    torch.manual_seed(0)
    net = PolicyValueNet(width=32)
    examples = self_play(net, games=4, rng=np.random.default_rng(1), simulations=8)
    before = alphazero_loss(net, *examples).item()
    pi = torch.as_tensor(examples[1])
    entropy = -(pi * torch.log(pi.clamp_min(1e-12))).sum(1).mean().item()
    assert before > entropy  # cross-entropy >= entropy of the target
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    train_on(net, opt, examples, epochs=30, batch_size=64, rng=np.random.default_rng(0))
    assert alphazero_loss(net, *examples).item() < 0.8 * before
    with pytest.raises(ValueError, match="outcomes"):
        alphazero_loss(net, examples[0], examples[1], examples[2][:-1])


def test_symmetric_evaluator_gives_the_same_answer_for_a_turned_board():
    torch.manual_seed(0)
    evaluate = evaluator(PolicyValueNet())
    b = board("XO..X....")
    perm = list(SYMMETRIES[1])
    turned = tuple(b[i] for i in perm)  # turned[i] = b[perm[i]]
    (p, v), (tp, tv) = evaluate(b), evaluate(turned)
    np.testing.assert_allclose(tp, p[perm], atol=1e-6)
    assert abs(v - tv) < 1e-6
    plain = evaluator(PolicyValueNet(), symmetric=False)
    assert plain(b)[0].shape == (9,)
