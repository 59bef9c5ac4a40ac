"""Autoencoders and variational autoencoders for the 16×16 digits (Day 3), and a digit classifier.

Images are ``(B, 1, 16, 16)`` float32 in [0, 1] (``cu.load_digits(split, size=16)``); latent
codes are ``(B, n_z)``. The encoder is three convolutions (16×16 → 8×8 → 4×4) and a linear map;
the decoder mirrors it with transposed convolutions and ends in a sigmoid, so its output lies in
[0, 1].

The VAE's decoder is Gaussian, p(x | z) = N(G(z), σ_G² I), with one learned standard deviation
σ_G for all pixels (``log_scale`` is log σ_G); its prior is N(0, I) and its encoder
q(z | x) = N(z̄(x), diag ω(x)²), which outputs z̄ and log ω². Log-likelihoods are in nats per
image, of a density on ℝ^256: they can be positive (a density may exceed 1).

:func:`latent_map` reconstructs an image from a measurement by optimising in latent space
(the generative regulariser of Bora, Jalal, Price and Dimakis 2017).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

SIDE = 16
"""The digits' side in pixels (upsampled from 8)."""

N_PIXELS = SIDE * SIDE
AE_LATENTS = (2, 16)
"""The latent sizes of the shipped autoencoders and VAEs."""


def _encoder_body() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.SiLU(),
        nn.Conv2d(32, 32, 4, stride=2, padding=1),  # 8x8
        nn.SiLU(),
        nn.Conv2d(32, 64, 4, stride=2, padding=1),  # 4x4
        nn.SiLU(),
        nn.Flatten(),
    )


class Decoder(nn.Module):
    """G: ``(B, n_z)`` latent codes → ``(B, 1, 16, 16)`` images in [0, 1]."""

    def __init__(self, latent: int):
        super().__init__()
        self.latent = latent
        self.linear = nn.Linear(latent, 64 * 4 * 4)
        self.body = nn.Sequential(
            nn.SiLU(),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),  # 8x8
            nn.SiLU(),
            nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1),  # 16x16
            nn.SiLU(),
            nn.Conv2d(32, 1, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z: Tensor) -> Tensor:
        _check_codes(z, self.latent)
        return self.body(self.linear(z).view(-1, 64, 4, 4))


class Autoencoder(nn.Module):
    """A plain (deterministic) convolutional autoencoder with a ``latent``-dimensional code."""

    def __init__(self, latent: int):
        super().__init__()
        self.latent = latent
        self.encoder = nn.Sequential(_encoder_body(), nn.Linear(64 * 4 * 4, latent))
        self.decoder = Decoder(latent)

    def encode(self, x: Tensor) -> Tensor:
        """``(B, 1, 16, 16)`` → codes ``(B, n_z)``."""
        _check_digits(x)
        return self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encode(x))


class VAE(nn.Module):
    """A variational autoencoder with a ``latent``-dimensional Gaussian code (see the module)."""

    def __init__(self, latent: int):
        super().__init__()
        self.latent = latent
        self.encoder = nn.Sequential(_encoder_body(), nn.Linear(64 * 4 * 4, 2 * latent))
        self.decoder = Decoder(latent)
        self.log_scale = nn.Parameter(torch.tensor(math.log(0.1)))  # log s

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | x): means z̄ and log-variances log ω², each ``(B, n_z)``."""
        _check_digits(x)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def log_likelihood(self, x: Tensor, x_mean: Tensor) -> Tensor:
        """log N(x; x_mean, σ_G² I) in nats, one value per image, shape ``(B,)``."""
        s2 = torch.exp(2 * self.log_scale)
        sq = (x - x_mean).pow(2).flatten(1).sum(1)
        return -0.5 * sq / s2 - N_PIXELS * (self.log_scale + 0.5 * math.log(2 * math.pi))

    def elbo(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A one-sample estimate of the ELBO (reparameterised, closed-form KL), ``(B,)``."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.log_likelihood(x, self.decoder(z)) - gaussian_kl(mu, logvar)

    def iw_bound(
        self, x: Tensor, n_samples: int, generator: torch.Generator | None = None
    ) -> Tensor:
        """The importance-weighted bound with ``n_samples`` samples (Burda et al. 2016), ``(B,)``.

        log (1/S) Σ_s p(x, z_s) / q(z_s | x), z_s ~ q(z | x); S = 1 is the ELBO (with the KL
        estimated by sampling), and its expectation never decreases with S.
        """
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}.")
        mu, logvar = self.encode(x)
        std = torch.exp(0.5 * logvar)
        shape = (n_samples, *mu.shape)
        eps = torch.randn(shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + std * eps  # (K, B, d)
        x_mean = self.decoder(z.flatten(0, 1)).view(n_samples, *x.shape)
        log_px = self.log_likelihood(
            x.expand(n_samples, *x.shape).flatten(0, 1), x_mean.flatten(0, 1)
        )
        log_px = log_px.view(n_samples, -1)
        log_prior = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
        log_q = -0.5 * (eps.pow(2) + logvar + math.log(2 * math.pi)).sum(-1)
        return torch.logsumexp(log_px + log_prior - log_q, dim=0) - math.log(n_samples)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` decoder means G(z), z ~ N(0, I): ``(n, 1, 16, 16)``."""
        z = torch.randn(n, self.latent, generator=generator)
        return self.decoder(z)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL( N(z̄, diag ω²) || N(0, I) ) in nats from ``mu`` = z̄ and ``logvar`` = log ω², summed
    over the last dimension."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


class DigitClassifier(nn.Module):
    """A small CNN: ``(B, 1, 16, 16)`` digits → ``(B, 10)`` logits (about 99 % test accuracy)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 128),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(128, 10),
        )

    def forward(self, x: Tensor) -> Tensor:
        _check_digits(x)
        return self.net(x)


class Models(nn.Module):
    """The shipped models of checkpoint ``digit_models``: ``ae2``, ``ae16`` (autoencoders),
    ``vae2``, ``vae16`` (VAEs) and ``classifier``; load with
    ``cu.load_checkpoint(Models(), "digit_models")``."""

    def __init__(self):
        super().__init__()
        for d in AE_LATENTS:
            self.add_module(f"ae{d}", Autoencoder(d))
            self.add_module(f"vae{d}", VAE(d))
        self.classifier = DigitClassifier()


def latent_objective(
    decoder: nn.Module, forward: Callable[[Tensor], Tensor], y: Tensor, sigma: float, z: Tensor
) -> Tensor:
    """The negative log-posterior of codes z given y, up to a constant that does not depend on
    z: ‖A G(z) − y‖² / (2σ²) + ‖z‖² / 2 for y = A G(z) + n, n ~ N(0, σ² I), z ~ N(0, I).

    :returns: one value per image, shape ``(B,)``.
    """
    misfit = (forward(decoder(z)) - y).pow(2).flatten(1).sum(1)
    return misfit / (2 * sigma**2) + 0.5 * z.pow(2).sum(1)


def latent_map(
    decoder: nn.Module,
    forward: Callable[[Tensor], Tensor],
    y: Tensor,
    sigma: float,
    z0: Tensor,
    steps: int = 300,
    lr: float = 0.05,
) -> tuple[Tensor, Tensor]:
    """MAP in latent space: minimise :func:`latent_objective` over z by Adam.

    :param forward: the operator A (e.g. a deepinv physics' ``A``), images → measurements.
    :param z0: starting codes ``(B, n_z)``; each image is optimised independently (the loss is
        a sum over the batch).
    :returns: the reconstructions G(z) ``(B, 1, 16, 16)`` and the codes ``(B, n_z)``, detached.
    """
    if sigma <= 0 or steps < 1:
        raise ValueError(f"need sigma > 0 and steps >= 1, got {sigma} and {steps}.")
    z = z0.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    flags = [p.requires_grad for p in decoder.parameters()]
    for p in decoder.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            optimizer.zero_grad()
            latent_objective(decoder, forward, y, sigma, z).sum().backward()
            optimizer.step()
    finally:  # the decoder's parameters are left as they were
        for p, flag in zip(decoder.parameters(), flags, strict=True):
            p.requires_grad_(flag)
    with torch.no_grad():
        return decoder(z), z.detach()


def _check_digits(x: Tensor) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, SIDE, SIDE):
        raise ValueError(
            f"expected digits of shape (B, 1, {SIDE}, {SIDE}), got {tuple(x.shape)}: load them "
            f"with cu.load_digits(split, size={SIDE})."
        )


def _check_codes(z: Tensor, latent: int) -> None:
    if z.ndim != 2 or z.shape[1] != latent:
        raise ValueError(f"expected latent codes of shape (B, {latent}), got {tuple(z.shape)}.")


# ------------------------------------------------------------------ few labels (day3_1 §6)

FEW_LABELS_PER_CLASS = 10
FEW_LABELS_VALIDATION = 300
"""Training digits held out (a fixed random slice) to choose the few-label hyper-parameters."""


class CodeClassifier(nn.Module):
    """An encoder (images → codes ``(B, n_z)``) followed by a linear layer to 10 logits; the
    codes are standardised by fixed ``shift`` and ``scale`` ``(n_z,)`` first."""

    def __init__(self, encoder: nn.Module, shift: Tensor, scale: Tensor):
        super().__init__()
        self.encoder, self.head = encoder, nn.Linear(shift.numel(), 10)
        self.register_buffer("shift", shift.clone())
        self.register_buffer("scale", scale.clone())

    def forward(self, x: Tensor) -> Tensor:
        return self.head((self.encoder(x) - self.shift) / self.scale)


def few_label_split(labels: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    """Indices into the training digits: ``FEW_LABELS_PER_CLASS`` labelled digits per class
    (drawn with ``seed``) and the validation slice (the same for every seed, never labelled
    for training)."""
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(123))
    validation, pool = perm[:FEW_LABELS_VALIDATION], perm[FEW_LABELS_VALIDATION:]
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(10):
        members = pool[labels[pool] == c]
        chosen.append(members[torch.randperm(len(members), generator=g)[:FEW_LABELS_PER_CLASS]])
    return torch.cat(chosen), validation


def _adam(net: nn.Module, params, x: Tensor, c: Tensor, steps: int, lr: float) -> None:
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), c).backward()
        opt.step()


def few_label_classifier(
    x: Tensor,
    c: Tensor,
    seed: int,
    lr: float,
    steps: int,
    pretrained: Autoencoder | None = None,
    unlabelled: Tensor | None = None,
) -> CodeClassifier:
    """Train a :class:`CodeClassifier` on the labelled digits ``x`` ``(B, 1, 16, 16)``, ``c``.

    From scratch (``pretrained`` None): a fresh encoder (initialised under ``seed``), every
    layer trained by Adam for ``steps`` at ``lr``. Pre-trained: a copy of the autoencoder's
    encoder, its codes standardised by their mean and standard deviation over the
    ``unlabelled`` digits; a linear probe first (300 Adam steps at 1e-2 on the frozen codes),
    then every layer for ``steps`` at ``lr``.
    """
    torch.manual_seed(seed)
    encoder = Autoencoder(16 if pretrained is None else pretrained.latent).encoder
    if pretrained is None:
        net = CodeClassifier(encoder, torch.zeros(16), torch.ones(16))
        _adam(net, net.parameters(), x, c, steps, lr)
        return net.eval()
    if unlabelled is None:
        raise ValueError("a pre-trained encoder needs the unlabelled digits to standardise codes.")
    encoder.load_state_dict(pretrained.encoder.state_dict())
    for p in encoder.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        codes = encoder(unlabelled)
    net = CodeClassifier(encoder, codes.mean(0), codes.std(0))
    with torch.no_grad():  # the probe: the encoder is frozen, so the codes are fixed
        z = (encoder(x) - net.shift) / net.scale
    _adam(net.head, net.head.parameters(), z, c, 300, 1e-2)
    _adam(net, net.parameters(), x, c, steps, lr)
    return net.eval()


def accuracy(net: nn.Module, x: Tensor, c: Tensor) -> float:
    """The share of ``x`` that ``net`` classifies as ``c``."""
    with torch.no_grad():
        return float((net(x).argmax(1) == c).float().mean())
