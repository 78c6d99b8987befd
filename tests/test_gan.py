"""dlbook.models.gan and dlbook.data.gaussian_mixture: shapes, the losses against hand formulas and the
gradients theory predicts, the gradient penalty of known critics, spectral norm, one training step."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook.data import gaussian_mixture, mixture_centres
from dlbook.models import (
    DCDiscriminator,
    DCGenerator,
    Discriminator,
    Generator,
    apply_spectral_norm,
    critic_loss,
    discriminator_loss,
    gan_step,
    generator_loss,
    gradient_penalty,
)

# ---------- the 2-D mixture ----------


def test_ring_centres_lie_on_the_circle_at_equal_angles():
    centres = mixture_centres(8, radius=2.0).double()
    assert centres.shape == (8, 2) and centres.dtype == torch.float64
    torch.testing.assert_close(centres.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    angles = torch.atan2(centres[:, 1], centres[:, 0]) % (2 * math.pi)
    torch.testing.assert_close(angles, torch.arange(8, dtype=torch.float64) * math.pi / 4, atol=1e-6, rtol=0)


def test_grid_centres():
    centres = mixture_centres(25, radius=2.0, layout="grid")
    assert centres.shape == (25, 2)
    assert sorted(set(centres[:, 0].tolist())) == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert len({tuple(c) for c in centres.tolist()}) == 25
    with pytest.raises(ValueError, match="square number of modes"):
        mixture_centres(8, layout="grid")
    with pytest.raises(ValueError, match="'ring' or 'grid'"):
        mixture_centres(8, layout="circle")


@pytest.mark.parametrize("layout, modes", [("ring", 8), ("grid", 9)])
def test_gaussian_mixture_points_sit_around_their_centre(layout, modes):
    x, mode = gaussian_mixture(9000, modes=modes, radius=3.0, std=0.05, layout=layout, seed=0)
    assert x.shape == (9000, 2) and x.dtype == torch.float32 and mode.dtype == torch.int64
    assert torch.bincount(mode).tolist() == [9000 // modes] * modes
    offsets = x - mixture_centres(modes, 3.0, layout)[mode]
    torch.testing.assert_close(offsets.mean(0), torch.zeros(2), atol=0.003, rtol=0)  # 4 standard errors
    torch.testing.assert_close(offsets.std(0), torch.full((2,), 0.05), atol=0.002, rtol=0)
    assert torch.equal(x, gaussian_mixture(9000, modes, 3.0, 0.05, layout, seed=0)[0])
    assert not torch.equal(x, gaussian_mixture(9000, modes, 3.0, 0.05, layout, seed=1)[0])
    assert mode[:modes].unique().numel() > 1, "the modes come shuffled, not in blocks"


def test_gaussian_mixture_bad_arguments():
    with pytest.raises(ValueError, match="n \\(the number of points\\)"):
        gaussian_mixture(0)
    with pytest.raises(ValueError, match="std"):
        gaussian_mixture(10, std=-1.0)
    with pytest.raises(TypeError, match="modes"):
        gaussian_mixture(10, modes=8.0)


# ---------- the networks ----------


def test_mlp_players_shapes():
    G, D = Generator(latent_dim=5, data_dim=3, hidden=16, depth=2), Discriminator(data_dim=3, hidden=16, depth=2)
    x = G(torch.randn(7, 5))
    assert x.shape == (7, 3) and D(x).shape == (7,)
    assert sum(isinstance(m, nn.Linear) for m in G) == 3 and sum(isinstance(m, nn.LeakyReLU) for m in D) == 2
    assert D[2].negative_slope == 0.2
    with pytest.raises(ValueError, match="5 values per example"):
        G(torch.randn(7, 4))


def largest_singular_values(model: nn.Module) -> list[float]:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    return [torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item() for m in layers]


def test_spectral_norm_makes_every_layer_1_lipschitz():
    torch.manual_seed(0)
    plain, spectral = Discriminator(hidden=32), Discriminator(hidden=32, spectral=True)
    assert max(largest_singular_values(plain)) > 1.2  # the default init is not 1-Lipschitz
    for _ in range(30):  # each forward pass in train mode takes one step of power iteration
        spectral(torch.randn(4, 2))
    assert largest_singular_values(spectral) == pytest.approx([1.0] * 4, abs=1e-3)
    conv = DCDiscriminator(channels=1, image_size=16, width=4, spectral=True, batch_norm=False)
    for _ in range(30):
        conv(torch.randn(2, 1, 16, 16))
    # the conv's weight reshaped to (out, in*k*k) has norm 1 (Miyato et al.'s approximation of the conv's norm)
    assert largest_singular_values(conv) == pytest.approx([1.0] * 3, abs=1e-3)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in conv.modules())
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert apply_spectral_norm(model) is model and all(hasattr(model[i], "parametrizations") for i in (0, 2))


@pytest.mark.parametrize("size", [8, 16, 28, 32])
def test_dcgan_shapes_for_each_image_size(size):
    G, D = DCGenerator(latent_dim=10, channels=3, image_size=size, width=8), DCDiscriminator(3, size, width=8)
    images = G(torch.randn(4, 10) * 10)
    assert images.shape == (4, 3, size, size)
    assert images.abs().max() <= 1, "tanh keeps pixels in [-1, 1]"
    assert D(images).shape == (4,)
    kinds = [type(m).__name__ for m in D.features]
    assert kinds[:2] == ["Conv2d", "LeakyReLU"], "no batch norm after the first convolution (Radford et al.)"
    assert "BatchNorm2d" in kinds and "ConvTranspose2d" in [type(m).__name__ for m in G.net]


def test_conditional_dcgan_uses_the_label():
    torch.manual_seed(0)
    G = DCGenerator(latent_dim=6, image_size=8, width=4, num_classes=3).eval()
    z = torch.randn(1, 6).repeat(3, 1)
    images = G(z, torch.tensor([0, 1, 2]))
    assert not torch.allclose(images[0], images[1]) and not torch.allclose(images[1], images[2])
    D = DCDiscriminator(image_size=8, width=4, num_classes=3).eval()
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 1, 0])
    h = D.features(x)  # the projection discriminator: head(h) + <embed(y), h>
    torch.testing.assert_close(D(x, y), D.head(h).squeeze(1) + (D.embed.weight[y] * h).sum(1))


def test_dcgan_errors():
    with pytest.raises(ValueError, match="image_size must be one of"):
        DCGenerator(image_size=24)
    with pytest.raises(ValueError, match=r"needs z: \(batch, 64\)"):
        DCGenerator()(torch.randn(2, 32))
    with pytest.raises(ValueError, match=r"needs x: \(batch, 1, 28, 28\), got \(2, 1, 32, 32\)"):
        DCDiscriminator()(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="is conditional: pass labels"):
        DCGenerator(num_classes=10)(torch.randn(2, 64))
    with pytest.raises(ValueError, match="is conditional: pass labels"):
        DCDiscriminator(num_classes=10)(torch.randn(2, 1, 28, 28), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="unconditional"):
        DCDiscriminator()(torch.randn(2, 1, 28, 28), torch.tensor([0, 1]))


# ---------- the losses ----------


def test_discriminator_loss_is_the_binary_cross_entropy():
    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.2])
    by_hand = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    torch.testing.assert_close(discriminator_loss(real, fake), by_hand)
    torch.testing.assert_close(discriminator_loss(torch.zeros(4), torch.zeros(4)), torch.tensor(2 * math.log(2)))
    # a confident, wrong discriminator: sigmoid(-100) is 0 in float32, yet the loss is finite and right
    torch.testing.assert_close(discriminator_loss(torch.tensor([-100.0]), torch.tensor([100.0])), torch.tensor(200.0))


def test_generator_losses_by_hand():
    fake = torch.tensor([1.5, -0.5, -4.0])
    d = torch.sigmoid(fake)
    torch.testing.assert_close(generator_loss(fake, "minimax"), torch.log(1 - d).mean())
    torch.testing.assert_close(generator_loss(fake, "non_saturating"), -torch.log(d).mean())
    torch.testing.assert_close(generator_loss(fake, "wasserstein"), -fake.mean())
    torch.testing.assert_close(critic_loss(torch.tensor([1.0, 3.0]), fake), fake.mean() - 2.0)
    with pytest.raises(ValueError, match="kind must be one of"):
        generator_loss(fake, "hinge")
    with pytest.raises(TypeError, match="float tensor of logits"):
        discriminator_loss(torch.tensor([1, 0]), fake)


@pytest.mark.parametrize("kind", ["minimax", "non_saturating"])
def test_the_gradients_when_the_discriminator_rejects_the_fakes(kind):
    """Early in training D(G(z)) is near 0: the minimax loss saturates, the non-saturating one does not."""
    logits = torch.full((4,), -8.0, requires_grad=True)  # D(G(z)) = sigmoid(-8) = 0.00034
    generator_loss(logits, kind).backward()
    d = torch.sigmoid(torch.tensor(-8.0))
    expected = -d / 4 if kind == "minimax" else -(1 - d) / 4
    torch.testing.assert_close(logits.grad, torch.full((4,), expected.item()))
    if kind == "minimax":
        assert logits.grad.abs().max() < 1e-4  # almost no signal for G
    else:
        assert logits.grad.abs().min() > 0.24  # about -1/batch: a strong signal


def test_both_generator_losses_push_the_same_way_and_agree_when_d_is_undecided():
    logits = torch.zeros(3, requires_grad=True)
    grads = []
    for kind in ("minimax", "non_saturating"):
        logits.grad = None
        generator_loss(logits, kind).backward()
        grads.append(logits.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])  # both -1/(2 batch) at D = 1/2
    assert (grads[0] < 0).all()  # gradient descent raises the logit: G makes D call its fakes real


# ---------- the gradient penalty ----------


def test_gradient_penalty_of_linear_critics():
    torch.manual_seed(0)
    w = torch.randn(5)
    real, fake = torch.randn(16, 5), torch.randn(16, 5)
    unit = w / w.norm()
    assert gradient_penalty(lambda x: x @ unit, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(lambda x: x @ (2 * unit), real, fake).item() == pytest.approx(1.0, rel=1e-5)
    weights = torch.randn(3, 4, 4)  # a linear critic of images: the gradient is `weights` wherever we look
    penalty = gradient_penalty(lambda x: (x * weights).sum((1, 2, 3)), torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4))
    assert penalty.item() == pytest.approx((weights.norm().item() - 1) ** 2, rel=1e-5)


def test_gradient_penalty_samples_between_real_and_fake_and_can_be_backpropagated():
    seen = []

    def critic(x):
        seen.append(x.detach().clone())
        return (x**2).sum(1)  # gradient 2x: the penalty depends on where x_hat lies

    real, fake = torch.zeros(2000, 1), torch.ones(2000, 1)
    penalty = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    e = 1 - seen[0][:, 0]  # x_hat = e * 0 + (1 - e) * 1
    assert 0 <= e.min() and e.max() <= 1 and e.mean().item() == pytest.approx(0.5, abs=0.03)
    torch.testing.assert_close(penalty, ((2 * seen[0][:, 0]).abs() - 1).pow(2).mean())
    w = torch.tensor([3.0, 4.0], requires_grad=True)  # |w| = 5: penalty (5 - 1)^2, gradient 2 (5 - 1) w / 5
    gradient_penalty(lambda x: x @ w, torch.randn(8, 2), torch.randn(8, 2)).backward()
    torch.testing.assert_close(w.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5)
    with pytest.raises(ValueError, match="one shape"):
        gradient_penalty(critic, torch.zeros(3, 2), torch.zeros(4, 2))


# ---------- one training step ----------


def small_gan(seed: int = 0):
    torch.manual_seed(seed)
    return Generator(latent_dim=4, hidden=32, depth=2), Discriminator(hidden=32, depth=2)


def test_gan_step_trains_the_discriminator_on_a_fixed_batch():
    G, D = small_gan()
    real, _ = gaussian_mixture(64, std=0.05)
    z = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    before = discriminator_loss(D(real), D(G(z))).item()
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-2)
    g_weights = [p.clone() for p in G.parameters()]
    for _ in range(30):
        stats = gan_step(G, D, real, None, opt_d, latent_dim=4)
    after = discriminator_loss(D(real), D(G(z))).item()
    assert after < 0.5 * before, (before, after)
    assert stats["d_real"] > 0.5 > stats["d_fake"] and math.isnan(stats["g_loss"])
    assert all(torch.equal(p, q) for p, q in zip(G.parameters(), g_weights, strict=True)), "G is left alone"
    assert all(p.grad is None for p in G.parameters()), "the fakes are detached in D's step"


def test_gan_step_generator_update_fools_the_updated_discriminator():
    G, D = small_gan()
    real, _ = gaussian_mixture(64, std=0.05)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.05), torch.optim.SGD(D.parameters(), lr=0.05)
    torch.manual_seed(3)
    stats = gan_step(G, D, real, opt_g, opt_d, latent_dim=4)
    torch.manual_seed(3)  # the same z as inside the step
    z = torch.randn(64, 4)
    assert set(stats) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert generator_loss(D(G(z))).item() < stats["g_loss"]  # G's loss fell against the same, updated D


def test_gan_step_wgan_gp_and_conditional():
    G, D = small_gan()
    real, _ = gaussian_mixture(32, std=0.05)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    stats = gan_step(G, D, real, opt_g, opt_d, latent_dim=4, loss="wgan-gp")
    assert stats["gp"] >= 0 and stats["g_loss"] == pytest.approx(-stats["d_fake"], abs=1.0)
    assert stats["d_loss"] == pytest.approx(stats["d_fake"] - stats["d_real"] + 10 * stats["gp"], rel=1e-4)
    torch.manual_seed(0)
    G = DCGenerator(latent_dim=6, image_size=8, width=4, num_classes=3)
    D = DCDiscriminator(image_size=8, width=4, num_classes=3, batch_norm=False, spectral=True)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    images, labels = torch.rand(8, 1, 8, 8) * 2 - 1, torch.arange(8) % 3
    for loss in ("non_saturating", "minimax", "wgan-gp"):
        stats = gan_step(G, D, images, opt_g, opt_d, latent_dim=6, loss=loss, labels=labels)
        assert all(math.isfinite(v) for v in stats.values())
    with pytest.raises(ValueError, match="is conditional"):
        gan_step(G, D, images, opt_g, opt_d, latent_dim=6)
    with pytest.raises(ValueError, match="loss must be one of"):
        gan_step(G, D, images, opt_g, opt_d, latent_dim=6, loss="wgan", labels=labels)


def test_binary_cross_entropy_matches_torch():
    real, fake = torch.randn(10), torch.randn(10)
    ours = discriminator_loss(real, fake)
    theirs = F.binary_cross_entropy_with_logits(real, torch.ones(10)) + F.binary_cross_entropy_with_logits(
        fake, torch.zeros(10)
    )
    torch.testing.assert_close(ours, theirs)
