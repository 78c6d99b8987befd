"""Learning to act from rewards: run an episode, the returns-to-go, the REINFORCE loss.

The loop of an autonomous system, in a few lines::

    env = gymnasium.make("CartPole-v1")
    episode = run_episode(env, sampling_policy(net, generator), seed=0)  # observe, decide, act, reward
    returns = returns_to_go(episode.rewards, gamma=0.99)                   # (T,)
    loss = reinforce_loss(net(episode.observations), episode.actions, returns, baseline)

Any environment with gymnasium's ``reset(seed=...)`` and ``step(action)`` will do.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

Policy = Callable[[np.ndarray], int]


@dataclass
class Episode:
    """What one episode recorded: observations (T, obs_dim), actions (T,) and rewards (T,), as tensors."""

    observations: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor

    def __len__(self) -> int:
        return len(self.rewards)


def run_episode(env, policy: Policy, seed: int | None = None, max_steps: int | None = None) -> Episode:
    """Play one episode: observe, let ``policy`` decide, act, collect the reward, until the episode ends.

    ``policy`` maps an observation (obs_dim,) to an action. The episode ends when the environment says
    so (terminated or truncated, e.g. CartPole-v1's limit of 500 steps) or after ``max_steps``.
    """
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}.")
    observation, _ = env.reset(seed=seed)
    observations, actions, rewards = [], [], []
    done = False
    while not done and (max_steps is None or len(rewards) < max_steps):
        action = policy(observation)
        observations.append(np.asarray(observation, dtype=np.float32))
        actions.append(int(action))
        observation, reward, terminated, truncated, _ = env.step(action)
        rewards.append(float(reward))
        done = terminated or truncated
    return Episode(
        torch.from_numpy(np.stack(observations)), torch.tensor(actions), torch.tensor(rewards, dtype=torch.float32)
    )


def returns_to_go(rewards, gamma: float) -> torch.Tensor:
    """G_t = r_t + gamma * r_{t+1} + gamma^2 * r_{t+2} + ..., to the end of the episode: rewards (T,) -> (T,)."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma is a discount in [0, 1], got {gamma!r}.")
    rewards = torch.as_tensor(rewards, dtype=torch.float32)
    if rewards.ndim != 1:
        raise ValueError(f"rewards of one episode: shape (T,), got {tuple(rewards.shape)}.")
    returns, running = [], 0.0
    for reward in reversed(rewards.tolist()):  # from the last step back: G_t = r_t + gamma * G_{t+1}
        running = reward + gamma * running
        returns.append(running)
    return torch.tensor(returns[::-1], dtype=torch.float32)


def reinforce_loss(logits: torch.Tensor, actions: torch.Tensor, returns: torch.Tensor,
                   baseline: torch.Tensor | None = None) -> torch.Tensor:
    """The policy-gradient loss -mean(log pi(a_t | s_t) * (G_t - b_t)), whose gradient is REINFORCE's.

    logits: (T, n_actions), actions: (T,), returns: (T,), baseline: (T,) or None -> a scalar. The baseline
    (e.g. a value network's guess of G_t) is treated as a constant: it lowers the variance of the
    gradient without changing its expectation.
    """
    if logits.ndim != 2 or actions.shape != logits.shape[:1] or returns.shape != actions.shape:
        raise ValueError(f"logits (T, n_actions), actions (T,), returns (T,); got {tuple(logits.shape)}, "
                         f"{tuple(actions.shape)}, {tuple(returns.shape)}.")
    advantage = returns if baseline is None else returns - baseline.detach()
    log_probs = torch.log_softmax(logits, dim=1).gather(1, actions[:, None]).squeeze(1)
    return -(log_probs * advantage).mean()


def sampling_policy(net: nn.Module, generator: torch.Generator | None = None) -> Policy:
    """A policy that draws its action from softmax(net(observation)): how the agent explores while it learns."""

    @torch.no_grad()
    def policy(observation: np.ndarray) -> int:
        logits = net(torch.as_tensor(observation, dtype=torch.float32)[None])
        return int(torch.multinomial(torch.softmax(logits[0], 0), 1, generator=generator))

    return policy


def greedy_policy(net: nn.Module) -> Policy:
    """A policy that takes the action the network rates highest."""

    @torch.no_grad()
    def policy(observation: np.ndarray) -> int:
        return int(net(torch.as_tensor(observation, dtype=torch.float32)[None]).argmax())

    return policy


def random_policy(n_actions: int, rng: np.random.Generator) -> Policy:
    """A policy that ignores what it sees and picks an action at random."""
    return lambda observation: int(rng.integers(n_actions))


def episode_lengths(env, policy: Policy, seeds) -> np.ndarray:
    """How many steps the policy lasts in one episode per seed: (len(seeds),)."""
    return np.array([len(run_episode(env, policy, seed=int(s))) for s in seeds])
