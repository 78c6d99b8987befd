"""dlbook.schedules against torch's own schedulers and a hand-written range test."""

import numpy as np
import pytest
import torch
from torch import nn

from dlbook import schedules
from dlbook.schedules import lr_range_test, warmup_cosine, warmup_cosine_scheduler


def torch_lrs(make_scheduler, lr: float, steps: int) -> list[float]:
    """The lr a torch scheduler sets at steps 0, 1, ..., steps - 1."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler, lrs = make_scheduler(opt), []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("total, warmup, peak, final", [(100, 10, 0.5, 0.0), (37, 1, 3e-4, 1e-5), (20, 0, 1.0, 0.1)])
def test_warmup_cosine_matches_torch_linear_then_cosine(total, warmup, peak, final):
    if warmup > 1:  # LinearLR: start_factor + (1 - start_factor) * step / total_iters
        linear = torch_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(o, 1 / warmup, 1.0, warmup - 1), peak, warmup)
        np.testing.assert_allclose([warmup_cosine(s, total, peak, warmup, final) for s in range(warmup)],
                                   linear, rtol=1e-12)
    cosine = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, total - warmup, final),
                       peak, total - warmup + 1)
    mine = [warmup_cosine(s, total, peak, warmup, final) for s in range(warmup, total + 1)]
    np.testing.assert_allclose(mine, cosine, rtol=1e-9, atol=1e-15)
    assert mine[-1] == pytest.approx(final, abs=1e-15)


def test_warmup_starts_above_zero_and_reaches_the_peak():
    assert warmup_cosine(0, 100, 1.0, 4) == 0.25
    assert warmup_cosine(3, 100, 1.0, 4) == 1.0


def test_scheduler_scales_every_group_by_the_schedule():
    total, warmup, ratio = 30, 5, 0.1
    cos = np.cos(np.pi * np.arange(total - warmup + 1) / (total - warmup))
    factors = np.concatenate([np.arange(1, warmup + 1) / warmup, ratio + (1 - ratio) * (1 + cos) / 2])
    params = [nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD([{"params": [params[0]], "lr": 0.1}, {"params": [params[1]], "lr": 0.02}])
    scheduler, seen = warmup_cosine_scheduler(opt, total, warmup, ratio), []
    for _ in range(total + 1):
        seen.append([group["lr"] for group in opt.param_groups])
        opt.step()
        if len(seen) <= total:
            scheduler.step()
    np.testing.assert_allclose(seen, np.outer(factors, [0.1, 0.02]), rtol=1e-12)


@pytest.mark.parametrize("args, match", [
    (dict(step=0, total_steps=0, peak_lr=1.0, warmup_steps=0), "total_steps"),
    (dict(step=0, total_steps=10, peak_lr=1.0, warmup_steps=10), "warmup_steps"),
    (dict(step=0, total_steps=10, peak_lr=1.0, warmup_steps=-1), "warmup_steps"),
    (dict(step=11, total_steps=10, peak_lr=1.0, warmup_steps=2), "step 11"),
    (dict(step=-1, total_steps=10, peak_lr=1.0, warmup_steps=2), "step -1"),
    (dict(step=0, total_steps=10, peak_lr=0.1, warmup_steps=2, final_lr=0.2), "final_lr"),
])
def test_warmup_cosine_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        warmup_cosine(**args)


def test_scheduler_bad_ratio():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="final_lr_ratio"):
        warmup_cosine_scheduler(opt, 10, 2, final_lr_ratio=1.5)


def regression_problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(64, 1, generator=gen)
    torch.manual_seed(0)
    return nn.Linear(3, 1), [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]


def sgd(model):
    return lambda lr: torch.optim.SGD(model.parameters(), lr=lr)


def test_range_test_matches_a_hand_written_loop_and_restores_the_model():
    model, loader = regression_problem()
    model.eval()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    lrs, losses = lr_range_test(model, loader, nn.functional.mse_loss, sgd(model), 1e-3, 10.0, steps=40)
    assert torch.equal(model.weight, start["weight"]) and torch.equal(model.bias, start["bias"])
    assert not model.training and model.weight.grad is None

    assert 3 < len(lrs) < 40, "lr 10 makes SGD diverge on this problem: the test should stop early"
    np.testing.assert_allclose(lrs, np.geomspace(1e-3, 10.0, 40)[: len(lrs)], rtol=1e-12)
    assert losses[-1] > 4 * min(losses) and all(b <= 4 * min(losses[: i + 1]) for i, b in enumerate(losses[:-1]))

    opt, raw = torch.optim.SGD(model.parameters(), lr=lrs[0]), []  # the same run, written out
    for i, lr in enumerate(lrs):
        opt.param_groups[0]["lr"] = lr
        x, y = loader[i % len(loader)]
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        raw.append(loss.item())
    beta = schedules.SMOOTHING
    weights = [[(1 - beta) * beta ** (i - j) for j in range(i + 1)] for i in range(len(raw))]
    expected = [np.dot(w, raw[: len(w)]) / sum(w) for w in weights]  # sum(w) = 1 - beta^(i+1)
    np.testing.assert_allclose(losses, expected, rtol=1e-6)


def test_range_test_runs_every_step_when_the_loss_stays_tame():
    model, loader = regression_problem()
    lrs, losses = lr_range_test(model, loader, nn.functional.mse_loss, sgd(model), 1e-4, 0.1, steps=20)
    assert len(lrs) == len(losses) == 20
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(0.1)
    assert np.all(np.diff(lrs) > 0)
    assert losses[-1] < losses[0]


def test_range_test_restores_the_model_when_training_fails():
    model, loader = regression_problem()
    start = model.weight.detach().clone()
    calls = []

    def failing_loss(out, target):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return nn.functional.mse_loss(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        lr_range_test(model, loader, failing_loss, sgd(model), steps=10)
    assert torch.equal(model.weight, start)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(loader=[]), ValueError, "no batches"),
    (dict(loader=[torch.zeros(2, 3)]), TypeError, "pairs"),
    (dict(min_lr=1.0, max_lr=0.1), ValueError, "min_lr"),
    (dict(steps=1), ValueError, "steps"),
    (dict(optimizer_factory=lambda lr: None), TypeError, "optimizer_factory"),
])
def test_range_test_bad_arguments(kwargs, error, match):
    model, loader = regression_problem()
    args = dict(model=model, loader=loader, loss_fn=nn.functional.mse_loss, optimizer_factory=sgd(model))
    with pytest.raises(error, match=match):
        lr_range_test(**{**args, **kwargs})
