"""dlbook.models.diffusion: the schedules, the forward process against its closed form, the reverse loop
with exact (oracle) noise predictors, and a short training run of the denoiser on the 2-D mixture."""

import math

import pytest
import torch

from dlbook.data import gaussian_mixture
from dlbook.models import DDPM, TimeMLP, cosine_beta_schedule, linear_beta_schedule, sinusoidal_embedding


def test_linear_schedule():
    betas = linear_beta_schedule(1000)
    assert betas.shape == (1000,) and betas.dtype == torch.float64
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)  # Ho et al.
    short = linear_beta_schedule(100)  # scaled by 1000 / steps
    assert short[0].item() == pytest.approx(1e-3) and short[-1].item() == pytest.approx(0.2)
    assert (betas.diff() > 0).all()
    torch.testing.assert_close(linear_beta_schedule(3, 0.1, 0.3), torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))
    with pytest.raises(ValueError, match="21 steps or more"):
        linear_beta_schedule(10)
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        linear_beta_schedule(10, 0.2, 0.1)


@pytest.mark.parametrize("schedule", [linear_beta_schedule, cosine_beta_schedule])
def test_alpha_bar_falls_from_one_to_zero(schedule):
    ddpm = DDPM(schedule(100))
    bars = ddpm.alpha_bars
    assert ddpm.steps == 100 and (bars.diff() < 0).all()
    assert bars[0] > 0.99 and bars[-1] < 1e-3
    by_loop, product = [], 1.0
    for beta in ddpm.betas.tolist():
        product *= 1 - beta
        by_loop.append(product)
    torch.testing.assert_close(bars, torch.tensor(by_loop, dtype=torch.float64))


def test_cosine_schedule_follows_its_formula():
    steps, s = 50, 0.008
    bars = DDPM(cosine_beta_schedule(steps, s)).alpha_bars
    f = [math.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2 for t in range(steps + 1)]
    expected = torch.tensor([v / f[0] for v in f[1:]], dtype=torch.float64)
    torch.testing.assert_close(bars[:-1], expected[:-1])  # the last beta is capped at 0.999
    assert cosine_beta_schedule(steps).max() <= 0.999


def test_q_sample_matches_the_closed_form():
    ddpm = DDPM(linear_beta_schedule(100))
    x0 = torch.tensor([1.5, -2.0, 0.0])
    for step in (0, 30, 99):
        n = 100_000
        t = torch.full((n,), step)
        torch.manual_seed(step)
        xt = ddpm.q_sample(x0.expand(n, 3), t)
        bar = ddpm.alpha_bars[step].item()
        se_mean = math.sqrt((1 - bar) / n)
        assert (xt.mean(0) - math.sqrt(bar) * x0).abs().max() < 5 * se_mean
        torch.testing.assert_close(xt.var(0), torch.full((3,), 1 - bar), rtol=0.02, atol=1e-5)
    noise = torch.randn(4, 3)
    t = torch.tensor([0, 5, 50, 99])
    bar = ddpm.alpha_bars[t].float()[:, None]
    torch.testing.assert_close(ddpm.q_sample(x0.expand(4, 3), t, noise), bar.sqrt() * x0 + (1 - bar).sqrt() * noise)


def test_q_sample_on_images_and_errors():
    ddpm = DDPM(cosine_beta_schedule(20))
    x0 = torch.rand(2, 1, 4, 4)
    assert ddpm.q_sample(x0, torch.tensor([0, 19])).shape == (2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"steps t must be in \[0, 19\]"):
        ddpm.q_sample(x0, torch.tensor([0, 20]))
    with pytest.raises(ValueError, match=r"t must be \(2,\) integer steps"):
        ddpm.q_sample(x0, torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="variances in"):
        DDPM(torch.tensor([0.1, 1.0]))


def point_oracle(ddpm: DDPM, x0: torch.Tensor):
    """The exact noise when every example is x0: x_t = sqrt(bar) x0 + sqrt(1 - bar) noise, solved for noise."""

    def predict(x, t):
        bar = ddpm.alpha_bars[t].float()[:, None]
        return (x - bar.sqrt() * x0) / (1 - bar).sqrt()

    return predict


def test_sampling_with_an_oracle_recovers_a_single_point_and_the_forward_marginals():
    ddpm, x0 = DDPM(linear_beta_schedule(100)), torch.tensor([1.5, -0.5])
    path = ddpm.sample(point_oracle(ddpm, x0), (20_000, 2), torch.Generator().manual_seed(0), trajectory=True)
    assert path.shape == (101, 20_000, 2)
    torch.testing.assert_close(path[-1], x0.expand(20_000, 2), atol=1e-4, rtol=0)
    torch.testing.assert_close(path[0].std(0), torch.ones(2), atol=0.02, rtol=0)  # pure noise first
    # each reverse step samples q(x_(t-1) | x_t, x_0) exactly, so every x_t has the forward process's marginal
    for step in (80, 40, 10):
        xt, bar = path[100 - step], ddpm.alpha_bars[step - 1].item()  # path[k] holds x_(100 - k)
        torch.testing.assert_close(xt.mean(0), math.sqrt(bar) * x0, atol=0.03, rtol=0)
        torch.testing.assert_close(xt.var(0), torch.full((2,), 1 - bar), rtol=0.05, atol=1e-4)


def gaussian_oracle(ddpm: DDPM, mean: torch.Tensor, std: float):
    """The exact expected noise for data N(mean, std^2 I): x_t is N(sqrt(bar) mean, (bar std^2 + 1 - bar) I)."""

    def predict(x, t):
        bar = ddpm.alpha_bars[t].float()[:, None]
        return (1 - bar).sqrt() * (x - bar.sqrt() * mean) / (bar * std**2 + 1 - bar)

    return predict


def test_sampling_a_gaussian_with_its_exact_noise_predictor():
    ddpm, mean = DDPM(linear_beta_schedule(100)), torch.tensor([1.0, -2.0])
    rng = torch.Generator().manual_seed(0)
    x = ddpm.sample(gaussian_oracle(ddpm, mean, 1.0), (40_000, 2), rng, variance="beta")
    torch.testing.assert_close(x.mean(0), mean, atol=0.02, rtol=0)
    torch.testing.assert_close(x.std(0), torch.ones(2), atol=0.015, rtol=0)  # exact for N(mean, I), as documented
    narrow = ddpm.sample(gaussian_oracle(ddpm, mean, 0.5), (40_000, 2), rng).std(0)
    wide = ddpm.sample(gaussian_oracle(ddpm, mean, 0.5), (40_000, 2), rng, variance="beta").std(0)
    assert (narrow < 0.49).all() and (wide > 0.5).all() and (wide < 0.52).all(), (narrow, wide)
    with pytest.raises(ValueError, match="'posterior' or 'beta'"):
        ddpm.sample(gaussian_oracle(ddpm, mean, 1.0), (2, 2), variance="fixed")


def test_sinusoidal_embedding():
    e = sinusoidal_embedding(torch.tensor([0, 1, 7]), 8)
    assert e.shape == (3, 8)
    torch.testing.assert_close(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    freqs = 10_000 ** (-torch.arange(4) / 4)
    torch.testing.assert_close(e[2], torch.cat([(7 * freqs).sin(), (7 * freqs).cos()]))
    with pytest.raises(ValueError, match="even"):
        sinusoidal_embedding(torch.tensor([1]), 7)


def test_time_mlp_shapes_and_errors():
    model = TimeMLP(data_dim=3, hidden=16, depth=2, time_dim=8)
    assert model(torch.randn(5, 3), torch.arange(5)).shape == (5, 3)
    with pytest.raises(ValueError, match=r"needs x: \(batch, 3\) and t: \(batch,\)"):
        model(torch.randn(5, 3), torch.arange(4))


def test_a_short_training_run_lowers_the_loss_and_sampling_restores_the_mode():
    torch.manual_seed(0)
    ddpm, model = DDPM(cosine_beta_schedule(50)), TimeMLP(hidden=64, depth=2, time_dim=16)
    x, _ = gaussian_mixture(2048, modes=8, std=0.05)

    def held_out_loss() -> float:
        with torch.no_grad():
            return ddpm.loss(model, x[:1024], generator=torch.Generator().manual_seed(1)).item()

    before = held_out_loss()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = ddpm.loss(model, x[1024:][torch.randint(0, 1024, (256,))])
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = held_out_loss()
    assert after < 0.6 * before, (before, after)
    model.train()
    samples = ddpm.sample(model, (500, 2), torch.Generator().manual_seed(2))
    assert model.training, "sample leaves the model in the mode it found"
    off_ring = (samples.norm(dim=1) - 2).abs().median()  # the ring has radius 2
    assert off_ring < 0.45, off_ring  # about 0.29 after 300 steps; standard normal noise gives about 0.85
