"""dlbook.robust: FGSM's exact step on a linear model, attacks that raise the loss within their budget, PGD at least
as strong as FGSM, corruptions that do what they say, and clear errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook.robust import corrupt, fgsm, pgd


def small_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))


def data(n=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_fgsm_on_a_linear_model_lowers_the_margin_by_epsilon_times_the_l1_norm():
    torch.manual_seed(0)
    model = nn.Linear(10, 2)
    x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
    w_diff = (model.weight[y] - model.weight[1 - y]).detach()

    def margin(inputs):
        with torch.no_grad():
            logits = model(inputs)
        return logits.gather(1, y[:, None])[:, 0] - logits.gather(1, 1 - y[:, None])[:, 0]

    adversarial = fgsm(model, x, y, 0.05, bounds=(-100, 100))
    torch.testing.assert_close(margin(x) - margin(adversarial), 0.05 * w_diff.abs().sum(1))
    torch.testing.assert_close(adversarial - x, -0.05 * w_diff.sign())


def test_fgsm_raises_the_loss_and_stays_within_epsilon_and_bounds():
    model, (x, y) = small_net(), data()
    adversarial = fgsm(model, x, y, 0.1)
    with torch.no_grad():
        before, after = F.cross_entropy(model(x), y), F.cross_entropy(model(adversarial), y)
    assert after > before
    assert (adversarial - x).abs().max() <= 0.1 + 1e-6
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert not adversarial.requires_grad


def test_pgd_stays_in_the_box_and_is_at_least_as_strong_as_fgsm():
    model, (x, y) = small_net(), data()
    strong = pgd(model, x, y, 0.1, steps=20)
    with torch.no_grad():
        loss_pgd = F.cross_entropy(model(strong), y)
        loss_fgsm = F.cross_entropy(model(fgsm(model, x, y, 0.1)), y)
    assert (strong - x).abs().max() <= 0.1 + 1e-6
    assert strong.min() >= 0 and strong.max() <= 1
    assert loss_pgd >= loss_fgsm - 1e-4
    torch.testing.assert_close(pgd(model, x, y, 0.1, seed=3), pgd(model, x, y, 0.1, seed=3))


def test_zero_epsilon_changes_nothing():
    model, (x, y) = small_net(), data()
    torch.testing.assert_close(fgsm(model, x, y, 0.0), x)
    torch.testing.assert_close(pgd(model, x, y, 0.0), x)


def test_attacks_refuse_bad_arguments_clearly():
    model, (x, y) = small_net(), data()
    with pytest.raises(ValueError, match="epsilon"):
        fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match=r"y must be \(64,\)"):
        fgsm(model, x, y[:10], 0.1)
    with pytest.raises(ValueError, match="low < high"):
        fgsm(model, x, y, 0.1, bounds=(1, 0))
    with pytest.raises(ValueError, match="steps"):
        pgd(model, x, y, 0.1, steps=0)


def test_corruptions_do_what_they_say():
    x, _ = data(n=8)
    for kind in ("noise", "contrast", "brightness", "blur"):
        torch.testing.assert_close(corrupt(x, kind, 0.0), x)
    noisy = corrupt(x * 0 + 0.5, "noise", 0.1)
    assert 0.08 < (noisy - 0.5).std() < 0.12
    flat = corrupt(x, "contrast", 1.0)
    torch.testing.assert_close(flat, x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x))
    torch.testing.assert_close(corrupt(x * 0.5, "brightness", 0.25), x * 0.5 + 0.25)
    blurred = corrupt(x, "blur", 1.0)
    assert blurred.std() < x.std()  # smoother
    torch.testing.assert_close(blurred.mean(), x.mean(), atol=0.05, rtol=0)
    assert corrupt(x, "noise", 5.0).max() <= 1 and corrupt(x, "noise", 5.0).min() >= 0


def test_corrupt_refuses_unknown_kinds_and_levels_clearly():
    x, _ = data(n=2)
    with pytest.raises(ValueError, match="unknown corruption 'fog'"):
        corrupt(x, "fog", 0.1)
    with pytest.raises(ValueError, match="level"):
        corrupt(x, "contrast", 1.5)
    with pytest.raises(ValueError, match="blur needs images"):
        corrupt(x.flatten(1), "blur", 1.0)
