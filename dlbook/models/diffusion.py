"""Denoising diffusion (Ho et al., 2020): noise data step by step, learn to predict the noise, walk back.

The forward process adds Gaussian noise in ``steps`` small steps with variances ``betas``; after ``t`` of
them, ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise`` in one jump. A network
``model(x_t, t)`` learns to predict that noise, and sampling runs the steps backwards from pure noise::

    ddpm = DDPM(linear_beta_schedule(100))
    model = TimeMLP(data_dim=2)
    loss = ddpm.loss(model, x0)                   # one training loss, x0: (batch, 2)
    samples = ddpm.sample(model, (500, 2))        # (500, 2)

Steps are numbered ``t = 0 ... steps - 1``: ``t = 0`` is the first, lightest noising step.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dlbook.checks import check_int, check_number
from dlbook.models.mlp import MLP

__all__ = ["DDPM", "TimeMLP", "cosine_beta_schedule", "linear_beta_schedule", "sinusoidal_embedding"]


def linear_beta_schedule(
    steps: int = 1000, beta_start: float | None = None, beta_end: float | None = None
) -> torch.Tensor:
    """Noise variances rising linearly from ``beta_start`` to ``beta_end``: ``(steps,)`` float64.

    Ho et al. used 1e-4 to 0.02 over 1000 steps. The defaults scale those by ``1000 / steps`` (as Nichol
    and Dhariwal do), so that a shorter schedule still ends in almost pure noise.
    """
    steps = check_int("steps", steps, minimum=2)
    scale = 1000 / steps
    beta_start = check_number("beta_start", 1e-4 * scale if beta_start is None else beta_start, 0, 1)
    beta_end = check_number("beta_end", 0.02 * scale if beta_end is None else beta_end, 0, 1,
                            high_inclusive=False, hint="(with the default, use 21 steps or more)")  # fmt: skip
    if not 0 < beta_start <= beta_end:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start} and {beta_end}.")
    return torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)


def cosine_beta_schedule(steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """The cosine schedule of Nichol and Dhariwal (2021): ``(steps,)`` float64 variances.

    Chosen so that ``alpha_bar`` follows ``cos^2((t / steps + s) / (1 + s) * pi / 2)``, falling slowly at
    both ends; each beta is ``1 - alpha_bar_t / alpha_bar_(t-1)``, capped at ``max_beta``.
    """
    steps = check_int("steps", steps, minimum=2)
    s = check_number("s", s)
    f = torch.cos((torch.arange(steps + 1, dtype=torch.float64) / steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


def _randn(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    """Standard normal noise on ``device``, drawn from ``generator`` (on its own device) when given."""
    if generator is None:
        return torch.randn(shape, device=device)
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


class DDPM:
    """A noise schedule and what is computed from it: ``betas``, ``alphas = 1 - betas``, ``alpha_bars``.

    ``betas``: ``(steps,)`` variances in (0, 1), e.g. :func:`linear_beta_schedule`. ``alpha_bars[t]`` is the
    product of ``alphas[0 ... t]``: how much of x_0 is left after step ``t``. Kept in float64 on the CPU;
    each method moves what it needs to the data's device and dtype.
    """

    def __init__(self, betas: torch.Tensor):
        betas = torch.as_tensor(betas, dtype=torch.float64).cpu()
        if betas.ndim != 1 or len(betas) < 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError(f"betas must be (steps,) variances in (0, 1), got shape {tuple(betas.shape)}.")
        self.betas = betas
        self.alphas = 1 - betas
        self.alpha_bars = torch.cumprod(self.alphas, dim=0)
        self.steps = len(betas)

    def _at(self, values: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """values[t] as (batch, 1, ..., 1), to broadcast against x: (batch, ...)."""
        return values.to(x.device)[t].to(x.dtype).reshape(-1, *[1] * (x.ndim - 1))

    def _check_t(self, t: torch.Tensor, x: torch.Tensor) -> None:
        if t.shape != (len(x),) or t.is_floating_point():
            raise ValueError(f"t must be ({len(x)},) integer steps, one per example, got {t.dtype} {tuple(t.shape)}.")
        if len(t) and not 0 <= int(t.min()) <= int(t.max()) < self.steps:
            raise ValueError(f"steps t must be in [0, {self.steps - 1}], got {int(t.min())} ... {int(t.max())}.")

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """x_t given x_0 in one jump: ``sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise``.

        x0: (batch, ...), t: (batch,) int64 steps, noise: like x0 (drawn when None) -> x_t: like x0.
        """
        self._check_t(t, x0)
        if noise is None:
            noise = torch.randn_like(x0)
        alpha_bar = self._at(self.alpha_bars, t, x0)
        return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise

    def loss(self, model: nn.Module, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The simple DDPM loss: MSE between the noise and ``model(x_t, t)``; x0: (batch, ...) -> scalar.

        One step ``t`` per example, uniform over all steps, and fresh noise; ``generator`` makes them repeatable.
        """
        place = x0.device if generator is None else generator.device
        t = torch.randint(0, self.steps, (len(x0),), generator=generator, device=place).to(x0.device)
        noise = _randn(x0.shape, generator, x0.device)
        return F.mse_loss(model(self.q_sample(x0, t, noise), t), noise)

    @torch.no_grad()
    def sample(
        self,
        model: nn.Module | Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        device: str | torch.device | None = None,
        trajectory: bool = False,
        variance: str = "posterior",
    ) -> torch.Tensor:
        """Draw ``shape = (batch, ...)`` samples by walking the steps back from pure noise.

        At each step, from the predicted noise ``e = model(x_t, t)``::

            mean = (x_t - beta_t / sqrt(1 - alpha_bar_t) * e) / sqrt(alpha_t)
            x_(t-1) = mean + sqrt(var_t) * z,  z ~ N(0, I),  no noise at the last step (t = 0)

        with ``var_t = beta_t (1 - alpha_bar_(t-1)) / (1 - alpha_bar_t)``, the variance of the reverse step
        when x_0 is known (``variance="posterior"``), or ``var_t = beta_t`` (``variance="beta"``), exact
        when the data are ``N(mean, I)``. Ho et al. found the two equally good on images; with few steps
        the first makes the samples a little too narrow, the second a little too wide.

        ``model`` is any ``fn(x_t, t)`` giving the noise (a network, or an exact formula); a network runs in
        eval mode, and the samples are drawn where its parameters are (or on ``device``). ``generator``
        makes the noise repeatable. ``trajectory=True`` returns every x_t instead,
        ``(steps + 1, batch, ...)``, pure noise first.
        """
        if variance not in ("posterior", "beta"):
            raise ValueError(f"variance must be 'posterior' or 'beta', got {variance!r}.")
        module = isinstance(model, nn.Module)
        if device is None:
            params = list(model.parameters()) if module else []
            device = params[0].device if params else torch.device("cpu")
        was_training = module and model.training
        if module:
            model.eval()
        x = _randn(tuple(shape), generator, device)
        path = [x]
        try:
            for step in reversed(range(self.steps)):
                t = torch.full((len(x),), step, dtype=torch.long, device=device)
                e = model(x, t)
                beta, alpha = self._at(self.betas, t, x), self._at(self.alphas, t, x)
                alpha_bar = self._at(self.alpha_bars, t, x)
                x = (x - beta / (1 - alpha_bar).sqrt() * e) / alpha.sqrt()
                if step > 0:
                    var = beta
                    if variance == "posterior":
                        var = beta * (1 - self._at(self.alpha_bars, t - 1, x)) / (1 - alpha_bar)
                    x = x + var.sqrt() * _randn(x.shape, generator, device)
                if trajectory:
                    path.append(x)
        finally:
            if module:
                model.train(was_training)
        return torch.stack(path) if trajectory else x


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """The Transformer's sinusoidal position code for steps: t: (batch,) -> (batch, dim), dim even.

    Column ``i < dim / 2`` is ``sin(t * w_i)`` and column ``dim / 2 + i`` is ``cos(t * w_i)``, with
    frequencies ``w_i = max_period ** (-2 i / dim)`` from 1 down towards ``1 / max_period``.
    """
    dim = check_int("dim", dim, minimum=2)
    if dim % 2:
        raise ValueError(f"dim must be even (a sine and a cosine per frequency), got {dim}.")
    if t.ndim != 1:
        raise ValueError(f"t must be (batch,) steps, got shape {tuple(t.shape)}.")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class TimeMLP(nn.Module):
    """A denoiser for points: (x_t: (batch, data_dim), t: (batch,)) -> predicted noise (batch, data_dim).

    The step enters as a sinusoidal embedding of ``time_dim`` values (:func:`sinusoidal_embedding`),
    concatenated to x_t, then an MLP of ``depth`` hidden layers of ``hidden`` SiLU units.
    """

    def __init__(self, data_dim: int = 2, hidden: int = 128, depth: int = 3, time_dim: int = 32):
        super().__init__()
        self.data_dim, self.time_dim = data_dim, time_dim
        self.net = MLP([data_dim + time_dim, *[hidden] * depth, data_dim], activation=nn.SiLU)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x: (batch, data_dim), t: (batch,) integer steps -> (batch, data_dim)."""
        if x.ndim != 2 or x.shape[1] != self.data_dim or t.shape != (len(x),):
            raise ValueError(f"TimeMLP needs x: (batch, {self.data_dim}) and t: (batch,), "
                             f"got {tuple(x.shape)} and {tuple(t.shape)}.")  # fmt: skip
        return self.net(torch.cat([x, sinusoidal_embedding(t, self.time_dim)], dim=1))
