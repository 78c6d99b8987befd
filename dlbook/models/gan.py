"""Generative adversarial networks (Goodfellow et al., 2014): the two players, their losses, one training step.

A generator ``G`` maps noise ``z: (batch, latent_dim)`` to samples; a discriminator ``D`` maps a sample to
one logit, "real" when large. The pieces::

    G, D = Generator(latent_dim=8), Discriminator()                     # MLPs for 2-D points
    G, D = DCGenerator(64, channels=1), DCDiscriminator(channels=1)     # DCGAN for 28x28 images
    stats = gan_step(G, D, real, opt_g, opt_d, latent_dim=8)            # one step of each player

The losses are functions of logits (:func:`discriminator_loss`, :func:`generator_loss`, and for a
Wasserstein critic :func:`critic_loss` with :func:`gradient_penalty`); ``spectral=True`` on a
discriminator puts spectral normalization (Miyato et al., 2018) on its layers.
"""

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from dlbook.checks import check_int, check_number
from dlbook.models.mlp import MLP

__all__ = [
    "DCDiscriminator", "DCGenerator", "Discriminator", "Generator", "apply_spectral_norm", "critic_loss",
    "discriminator_loss", "gan_step", "generator_loss", "gradient_penalty",
]  # fmt: skip

GENERATOR_LOSSES = ("non_saturating", "minimax", "wasserstein")
STEP_LOSSES = ("non_saturating", "minimax", "wgan-gp")
UPSAMPLINGS = {8: 2, 16: 2, 28: 2, 32: 3}  # image size -> stride-2 layers; the smallest map is 2, 4, 7 or 4


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalization on every Linear and Conv2d in ``module`` (in place); returns ``module``.

    Each weight ``W`` is used as ``W / sigma(W)``, ``sigma`` its largest singular value, estimated by one
    step of power iteration per forward pass in training mode. Every layer then has Lipschitz constant at
    most 1 (leaky ReLU has 1 too), so the whole discriminator cannot change faster than its input does.
    """
    for layer in list(module.modules()):
        if isinstance(layer, nn.Linear | nn.Conv2d):
            spectral_norm(layer)
    return module


class Generator(MLP):
    """An MLP generator for points: z: (batch, latent_dim) -> x: (batch, data_dim).

    ``depth`` hidden layers of ``hidden`` ReLU units; the output layer is linear, so any point can come out.
    """

    def __init__(self, latent_dim: int = 8, data_dim: int = 2, hidden: int = 128, depth: int = 3):
        super().__init__([latent_dim, *[hidden] * depth, data_dim])
        self.latent_dim = latent_dim


class Discriminator(MLP):
    """An MLP discriminator for points: x: (batch, data_dim) -> logits (batch,), large for "real".

    ``depth`` hidden layers of ``hidden`` leaky ReLU units (slope 0.2). ``spectral=True`` puts spectral
    normalization on every layer (:func:`apply_spectral_norm`).
    """

    def __init__(self, data_dim: int = 2, hidden: int = 128, depth: int = 3, spectral: bool = False):
        super().__init__([data_dim, *[hidden] * depth, 1], activation=partial(nn.LeakyReLU, 0.2))
        if spectral:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, data_dim) -> (batch,)."""
        return super().forward(x).squeeze(-1)


def _sizes(image_size: int) -> tuple[int, int]:
    """How many stride-2 layers an image size gets, and the side of the smallest feature map."""
    if image_size not in UPSAMPLINGS:
        raise ValueError(f"image_size must be one of {sorted(UPSAMPLINGS)}, got {image_size!r}.")
    ups = UPSAMPLINGS[image_size]
    return ups, image_size // 2**ups


def _check_labels(labels, num_classes, batch: int, name: str) -> None:
    if num_classes is None and labels is not None:
        raise ValueError(f"this {name} is unconditional (num_classes=None): call it without labels.")
    if num_classes is not None:
        if labels is None or labels.shape != (batch,) or labels.is_floating_point():
            got = "none" if labels is None else f"{labels.dtype} of shape {tuple(labels.shape)}"
            raise ValueError(f"this {name} is conditional: pass labels: ({batch},) int64 class ids, got {got}.")


class DCGenerator(nn.Module):
    """A DCGAN generator (Radford et al., 2016): z: (batch, latent_dim) -> images (batch, channels, size, size).

    A linear layer projects z to a small map (``width * 2`` channels of 7x7 for 28x28 images), then
    transposed convolutions (kernel 4, stride 2) double the side while halving the channels, each followed
    by batch norm and ReLU; the last one outputs ``channels`` through tanh, so pixels are in [-1, 1]
    (scale real images to ``2 * x - 1``). ``image_size`` is 8, 16, 28 or 32. With ``num_classes`` the
    generator is conditional (Mirza and Osindero, 2014): ``forward(z, labels)`` concatenates a learned
    embedding of the label, ``(batch, latent_dim)``, to z.
    """

    def __init__(
        self, latent_dim: int = 64, channels: int = 1, image_size: int = 28, width: int = 64,
        num_classes: int | None = None,
    ):  # fmt: skip
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        channels, width = check_int("channels", channels, minimum=1), check_int("width", width, minimum=1)
        ups, side = _sizes(image_size)
        self.num_classes = None if num_classes is None else check_int("num_classes", num_classes, minimum=2)
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        start = width * 2 ** (ups - 1)
        inputs = 2 * latent_dim if num_classes else latent_dim
        layers: list[nn.Module] = [
            nn.Linear(inputs, start * side * side, bias=False),
            nn.Unflatten(1, (start, side, side)),  # -> (start, side, side)
            nn.BatchNorm2d(start),
            nn.ReLU(),
        ]
        for i in range(ups - 1):  # each doubles the side and halves the channels
            layers += [
                nn.ConvTranspose2d(start // 2**i, start // 2 ** (i + 1), 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(start // 2 ** (i + 1)),
                nn.ReLU(),
            ]
        layers += [nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.image_shape = (channels, image_size, image_size)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z: (batch, latent_dim), labels: (batch,) class ids if conditional -> (batch, channels, size, size)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"DCGenerator needs z: (batch, {self.latent_dim}), got {tuple(z.shape)}.")
        _check_labels(labels, self.num_classes, len(z), "DCGenerator")
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z)


class DCDiscriminator(nn.Module):
    """A DCGAN discriminator: images (batch, channels, size, size) -> logits (batch,).

    Strided convolutions (kernel 4, stride 2) halve the side while doubling the channels, from ``width``;
    each is followed by batch norm (not after the first, as in Radford et al.) and leaky ReLU (slope
    0.2); one linear layer gives the logit. ``batch_norm=False`` leaves batch norm out: do so for a
    WGAN-GP critic, whose penalty treats each example on its own, and usually with ``spectral=True``
    (:func:`apply_spectral_norm`). With ``num_classes`` the discriminator is conditional, by projection
    (Miyato and Koyama, 2018): ``forward(x, labels)`` adds ``<embed(label), h>`` to the logit, ``h`` the
    features the linear layer reads.
    """

    def __init__(
        self, channels: int = 1, image_size: int = 28, width: int = 64, num_classes: int | None = None,
        spectral: bool = False, batch_norm: bool = True,
    ):  # fmt: skip
        super().__init__()
        channels, width = check_int("channels", channels, minimum=1), check_int("width", width, minimum=1)
        ups, side = _sizes(image_size)
        self.num_classes = None if num_classes is None else check_int("num_classes", num_classes, minimum=2)
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(ups):
            c_out = width * 2**i
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=not (batch_norm and i)))
            if batch_norm and i:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
        layers.append(nn.Flatten())  # -> (batch, c_in * side * side)
        self.features = nn.Sequential(*layers)
        features = c_in * side * side
        self.head = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if num_classes else None
        if spectral:
            apply_spectral_norm(self)  # Linear and Conv2d only: the embedding stays as it is
        self.image_shape = (channels, image_size, image_size)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, channels, size, size), labels: (batch,) class ids if conditional -> (batch,)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"DCDiscriminator needs x: (batch, {', '.join(map(str, self.image_shape))}), "
                             f"got {tuple(x.shape)}.")  # fmt: skip
        _check_labels(labels, self.num_classes, len(x), "DCDiscriminator")
        h = self.features(x)
        logits = self.head(h).squeeze(-1)
        if self.embed is not None:
            logits = logits + (self.embed(labels) * h).sum(dim=1)
        return logits


def _check_logits(**logits: torch.Tensor) -> None:
    for name, value in logits.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.numel() == 0:
            raise TypeError(f"{name} must be a non-empty float tensor of logits, got {value!r:.60}.")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's binary cross-entropy: real as 1, fake as 0; logits (batch,) each -> scalar.

    ``-mean log D(x) - mean log(1 - D(G(z)))`` with ``D = sigmoid(logit)``, i.e. minus the value ``V(D, G)``
    of the GAN game, which D maximizes. Written with ``log sigmoid(a) = -softplus(-a)`` and
    ``log(1 - sigmoid(a)) = -softplus(a)``, which never take the log of 0. At the game's equilibrium D
    outputs 1/2 everywhere and the loss is ``2 log 2``.
    """
    _check_logits(real_logits=real_logits, fake_logits=fake_logits)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """The generator's loss from the discriminator's logits on fakes: fake_logits (batch,) -> scalar.

    - ``"minimax"``: ``mean log(1 - D(G(z)))`` = ``-mean softplus(a)``, G's side of the game. Its
      gradient with respect to a logit ``a`` is ``-sigmoid(a)/batch``: it vanishes when D confidently
      rejects the fakes (D(G(z)) near 0), which is exactly when G most needs to learn.
    - ``"non_saturating"``: ``-mean log D(G(z))`` = ``mean softplus(-a)`` (Goodfellow et al.'s fix). Same
      fixed point, but the gradient is ``-(1 - sigmoid(a))/batch``, near ``-1/batch`` when D(G(z)) is near 0.
    - ``"wasserstein"``: ``-mean a``, for a critic's unbounded scores (WGAN, Arjovsky et al., 2017).
    """
    _check_logits(fake_logits=fake_logits)
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    if kind == "wasserstein":
        return -fake_logits.mean()
    raise ValueError(f"kind must be one of {GENERATOR_LOSSES}, got {kind!r}.")


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN critic's loss: ``mean f(G(z)) - mean f(x)``; scores (batch,) each -> scalar.

    Minimizing it maximizes the gap between the critic's scores on real and fake data, which, for a
    1-Lipschitz critic at its best, is the Wasserstein-1 distance between the two distributions.
    """
    _check_logits(real_scores=real_scores, fake_scores=fake_scores)
    return fake_scores.mean() - real_scores.mean()


def gradient_penalty(
    critic, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al., 2017): ``mean (|grad critic(x_hat)| - 1)^2`` -> scalar.

    ``x_hat = e * real + (1 - e) * fake`` with one ``e ~ U(0, 1)`` per example, on the lines between real
    and fake samples; real and fake: (batch, ...) of one shape. ``critic`` is any function of x_hat giving
    (batch,) scores (for a conditional critic, ``lambda x: D(x, labels)``). The gradient is kept in the graph
    (``create_graph=True``), so the penalty itself can be backpropagated. Weight it, usually by 10.
    """
    if real.shape != fake.shape or real.ndim < 2:
        raise ValueError(f"real and fake must both be (batch, ...) of one shape, got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}.")  # fmt: skip
    shape = (len(real),) + (1,) * (real.ndim - 1)
    place = real.device if generator is None else generator.device
    e = torch.rand(shape, generator=generator, device=place).to(real)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def gan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    real: torch.Tensor,
    opt_g: torch.optim.Optimizer | None,
    opt_d: torch.optim.Optimizer,
    latent_dim: int,
    loss: str = "non_saturating",
    labels: torch.Tensor | None = None,
    gp_weight: float = 10.0,
) -> dict[str, float]:
    """One step of each player on a batch ``real: (batch, ...)``: first D, then G; returns the numbers.

    ``loss`` is ``"non_saturating"`` or ``"minimax"`` (the generator's loss; D is trained by
    :func:`discriminator_loss`), or ``"wgan-gp"`` (:func:`critic_loss` plus ``gp_weight`` times the
    :func:`gradient_penalty`, and the Wasserstein generator loss). ``opt_g=None`` trains D alone (WGAN-GP
    trains the critic several steps per generator step). ``labels: (batch,)`` are passed to both networks
    of a conditional GAN. Noise ``z: (batch, latent_dim)`` is drawn from torch's global generator.

    Returns ``d_loss``, ``g_loss`` (nan when G was not trained), and ``d_real`` and ``d_fake``, the mean
    of D(x) and of D(G(z)) (probabilities, or for WGAN-GP the critic's raw scores) before D's step;
    with WGAN-GP also ``gp``, the penalty.
    """
    if loss not in STEP_LOSSES:
        raise ValueError(f"loss must be one of {STEP_LOSSES}, got {loss!r}.")
    latent_dim = check_int("latent_dim", latent_dim, minimum=1)
    gp_weight = check_number("gp_weight", gp_weight)
    extra = () if labels is None else (labels,)  # the label goes to both networks of a conditional GAN
    z = torch.randn(len(real), latent_dim, device=real.device)
    fake = generator(z, *extra)

    # 1. The discriminator: push real up and fake down. detach(): this step does not train G.
    real_logits = discriminator(real, *extra)
    fake_logits = discriminator(fake.detach(), *extra)
    stats = {}
    if loss == "wgan-gp":
        gp = gradient_penalty(lambda x: discriminator(x, *extra), real, fake)
        d_loss = critic_loss(real_logits, fake_logits) + gp_weight * gp
        stats["gp"] = gp.item()
    else:
        d_loss = discriminator_loss(real_logits, fake_logits)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()

    # 2. The generator: make the updated discriminator call its fakes real.
    g_loss = torch.tensor(float("nan"))
    if opt_g is not None:
        kind = "wasserstein" if loss == "wgan-gp" else loss
        g_loss = generator_loss(discriminator(fake, *extra), kind)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()  # also leaves gradients in D, which D's next zero_grad clears
        opt_g.step()

    score = (lambda a: a) if loss == "wgan-gp" else torch.sigmoid
    stats.update(
        d_loss=d_loss.item(),
        g_loss=g_loss.item(),
        d_real=score(real_logits).mean().item(),
        d_fake=score(fake_logits).mean().item(),
    )
    return stats
