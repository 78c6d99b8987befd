"""dlbook.control: returns-to-go against a hand computation, the REINFORCE loss and its gradient,
episodes on a tiny hand-made environment and on gymnasium's CartPole, bad input."""

import math

import numpy as np
import pytest
import torch

from dlbook.control import (
    episode_lengths,
    greedy_policy,
    random_policy,
    reinforce_loss,
    returns_to_go,
    run_episode,
    sampling_policy,
)


class Corridor:
    """A tiny environment: walk right (action 1) from 0 to 3; reward 1 at the goal, -0.1 per other step."""

    def reset(self, seed=None):
        self.position = 0
        return np.array([0.0]), {}

    def step(self, action):
        self.position = max(0, self.position + (1 if action == 1 else -1))
        done = self.position == 3
        return np.array([float(self.position)]), 1.0 if done else -0.1, done, False, {}


def test_returns_to_go_by_hand():
    rewards = torch.tensor([1.0, 0.0, 2.0, -1.0])
    gamma = 0.5
    expected = [1 + 0.5 * 0 + 0.25 * 2 + 0.125 * -1, 0 + 0.5 * 2 + 0.25 * -1, 2 + 0.5 * -1, -1.0]
    torch.testing.assert_close(returns_to_go(rewards, gamma), torch.tensor(expected))
    torch.testing.assert_close(returns_to_go([1, 1, 1], 1.0), torch.tensor([3.0, 2.0, 1.0]))
    assert math.isclose(returns_to_go(torch.ones(500), 0.99)[0].item(), (1 - 0.99**500) / 0.01, rel_tol=1e-5)


@pytest.mark.parametrize("gamma", [-0.1, 1.5])
def test_returns_to_go_refuses_bad_discounts(gamma):
    with pytest.raises(ValueError, match="gamma"):
        returns_to_go(torch.ones(3), gamma)


def test_returns_to_go_wants_one_episode():
    with pytest.raises(ValueError, match="\\(T,\\)"):
        returns_to_go(torch.ones(2, 3), 0.9)


def test_reinforce_loss_gradient_is_the_policy_gradient():
    torch.manual_seed(0)
    logits = torch.randn(6, 3, requires_grad=True)
    actions = torch.tensor([0, 2, 1, 1, 0, 2])
    returns, baseline = torch.randn(6), torch.randn(6)
    reinforce_loss(logits, actions, returns, baseline).backward()
    # by hand: d/dlogits of -log softmax(logits)[a] * A / T = (softmax - onehot(a)) * A / T
    advantage = (returns - baseline)[:, None]
    expected = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(actions, 3)) * advantage / 6
    torch.testing.assert_close(logits.grad, expected.detach())


def test_baseline_is_a_constant():
    logits = torch.zeros(3, 2, requires_grad=True)
    baseline = torch.ones(3, requires_grad=True)
    reinforce_loss(logits, torch.tensor([0, 1, 0]), torch.ones(3), baseline).backward()
    assert baseline.grad is None  # detached: the loss does not train the baseline
    with pytest.raises(ValueError, match="logits \\(T, n_actions\\)"):
        reinforce_loss(torch.zeros(3, 2), torch.tensor([0, 1]), torch.ones(3))


def test_run_episode_records_the_loop():
    right = run_episode(Corridor(), lambda observation: 1)
    assert len(right) == 3 and right.actions.tolist() == [1, 1, 1]
    torch.testing.assert_close(right.rewards, torch.tensor([-0.1, -0.1, 1.0]))
    assert right.observations[:, 0].tolist() == [0.0, 1.0, 2.0]  # what the policy saw before each action
    capped = run_episode(Corridor(), lambda observation: 0, max_steps=7)
    assert len(capped) == 7
    with pytest.raises(ValueError, match="max_steps"):
        run_episode(Corridor(), lambda observation: 1, max_steps=0)


def test_learning_the_corridor():
    """REINFORCE learns to walk right: the loss pieces fit together and can improve a policy."""
    torch.manual_seed(0)
    net = torch.nn.Linear(1, 2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    act = sampling_policy(net, torch.Generator().manual_seed(0))
    for _ in range(60):
        episode = run_episode(Corridor(), act, max_steps=30)
        returns = returns_to_go(episode.rewards, 0.9)
        loss = reinforce_loss(net(episode.observations), episode.actions, returns, returns.mean().expand_as(returns))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert len(run_episode(Corridor(), greedy_policy(net), max_steps=30)) == 3


def test_cartpole_random_policy_falls_quickly():
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CartPole-v1")
    lengths = episode_lengths(env, random_policy(2, np.random.default_rng(0)), range(20))
    assert lengths.shape == (20,) and 10 < lengths.mean() < 40
    again = episode_lengths(env, random_policy(2, np.random.default_rng(0)), range(20))
    np.testing.assert_array_equal(lengths, again)  # seeded: the same episodes
