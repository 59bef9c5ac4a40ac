"""Smooth regularisers for bilevel learning: the Huber function, Huber-smoothed TV and a field of
experts.

Huber function, with smoothing parameter γ > 0::

    h_γ(r) = r² / (2γ)     if |r| <= γ
             |r| - γ / 2   otherwise

It is convex and C¹ with a (1/γ)-Lipschitz derivative; h_γ(r) -> |r| as γ -> 0, with
|r| - γ/2 <= h_γ(r) <= |r|. Its second derivative, 1/γ inside the band and 0 outside, jumps at
|r| = γ, so an energy built from it is twice differentiable wherever no argument sits exactly on
a kink (almost everywhere), which is what the implicit function theorem needs.

* :func:`huber_tv`: Σ_i h_γ(‖(∇x)_i‖₂), isotropic, per channel, on deepinv's forward differences
  (Neumann boundary), the smoothed version of :func:`course_utils.baseline.total_variation`.
* :class:`HuberTV`: λ · huber_tv, with λ learned.
* :class:`FieldOfExperts`: Σ_j α_j Σ_i h_{γ_j}((k_j ⋆ x)_i), with J learned colour filters k_j
  (zero mean, circular boundary), weights α_j > 0 and smoothings γ_j > 0.

Every function takes a batch ``(B, C, H, W)`` and returns one value per image, shape ``(B,)``,
and is twice differentiable by autograd (Hessian-vector products work).
"""

from __future__ import annotations

import math

import deepinv as dinv
import torch
import torch.nn.functional as F
from torch import Tensor

_nabla = dinv.models.TVDenoiser.nabla


def _check_gamma(gamma) -> None:
    if torch.is_tensor(gamma):
        if not bool((gamma > 0).all()):
            raise ValueError("the Huber parameter gamma must be > 0 everywhere.")
    elif not gamma > 0:
        raise ValueError(f"the Huber parameter gamma must be > 0, got {gamma}.")


def huber(r: Tensor, gamma: float | Tensor) -> Tensor:
    """The Huber function h_γ applied elementwise to ``r`` (any shape; ``gamma`` broadcasts)."""
    _check_gamma(gamma)
    a = r.abs()
    return torch.where(a <= gamma, r * r / (2 * gamma), a - gamma / 2)


def huber_of_norm(r2: Tensor, gamma: float | Tensor) -> Tensor:
    """h_γ(√r2) elementwise, from the squared norm ``r2`` >= 0, twice differentiable at r2 = 0.

    (Differentiating √r2 at 0 gives NaN; inside the band h_γ(√r2) = r2 / (2γ) needs no root.)
    """
    _check_gamma(gamma)
    gamma2 = gamma * gamma
    root = torch.sqrt(torch.clamp(r2, min=gamma2))
    return torch.where(r2 <= gamma2, r2 / (2 * gamma), root - gamma / 2)


def huber_tv(x: Tensor, gamma: float) -> Tensor:
    """Huber-smoothed isotropic TV of each image of ``x`` ``(B, C, H, W)``: shape ``(B,)``.

    Σ over channels c and pixels i of h_γ(‖(∇x_c)_i‖₂); it lies between TV(x) - γ·C·H·W/2 and
    TV(x) (:func:`course_utils.baseline.total_variation`).
    """
    if x.ndim != 4:
        raise ValueError(f"x must be a batch (B, C, H, W), got shape {tuple(x.shape)}.")
    r2 = _nabla(x).pow(2).sum(-1)
    return huber_of_norm(r2, gamma).flatten(1).sum(1)


class FieldOfExperts(torch.nn.Module):
    """R(x) = Σ_j α_j Σ_i h_{γ_j}((k_j ⋆ x)_i) for ``x`` ``(B, channels, H, W)``; returns ``(B,)``.

    Parameters (all learned): ``filters`` ``(J, channels, w, w)`` (made zero-mean in
    :meth:`kernels`, so constant images cost nothing), ``log_alpha`` ``(J,)`` and ``log_gamma``
    ``(J,)`` (α = exp(log_alpha) > 0 and γ = exp(log_gamma) > 0 whatever the optimiser does).
    The correlation k_j ⋆ x uses a circular boundary, like the challenge operator. R is convex
    in x, so the lower-level problem ½‖Ax - y‖² + R(x) has a unique minimiser when A keeps
    constants (a blur does).

    ``init="tv"`` starts from anisotropic Huber TV with weight ``alpha`` and smoothing
    ``gamma``: the first 2·channels filters are the horizontal and vertical differences of each
    channel, the others are small random zero-mean filters with weight ``alpha / 100``.
    """

    def __init__(
        self,
        n_filters: int = 24,
        size: int = 5,
        channels: int = 3,
        alpha: float = 0.006,
        gamma: float = 0.01,
        init: str = "tv",
        seed: int = 0,
    ):
        super().__init__()
        if size % 2 == 0 or size < 3:
            raise ValueError(f"size must be odd and >= 3, got {size}.")
        if init not in ("tv", "random"):
            raise ValueError(f"init must be 'tv' or 'random', got {init!r}.")
        if alpha <= 0 or gamma <= 0:
            raise ValueError(f"alpha and gamma must be > 0, got {alpha} and {gamma}.")
        n_tv = 2 * channels if init == "tv" else 0
        if n_filters < n_tv:
            raise ValueError(f"init='tv' needs n_filters >= {n_tv}, got {n_filters}.")
        gen = torch.Generator().manual_seed(seed)
        k = torch.randn(n_filters, channels, size, size, generator=gen)
        k = k - k.mean(dim=(1, 2, 3), keepdim=True)
        k = 0.5 * k / k.flatten(1).norm(dim=1)[:, None, None, None]
        log_alpha = torch.full((n_filters,), math.log(alpha))
        c = size // 2
        for j in range(n_tv):
            ch, direction = divmod(j, 2)
            k[j] = 0.0
            k[j, ch, c, c] = -1.0
            if direction == 0:
                k[j, ch, c, c + 1] = 1.0
            else:
                k[j, ch, c + 1, c] = 1.0
        log_alpha[n_tv:] = math.log(alpha / 100)
        self.filters = torch.nn.Parameter(k)
        self.log_alpha = torch.nn.Parameter(log_alpha)
        self.log_gamma = torch.nn.Parameter(torch.full((n_filters,), math.log(gamma)))

    def kernels(self) -> Tensor:
        """The zero-mean filters k_j, shape ``(J, channels, w, w)``."""
        return self.filters - self.filters.mean(dim=(1, 2, 3), keepdim=True)

    def responses(self, x: Tensor) -> Tensor:
        """k_j ⋆ x with a circular boundary, shape ``(B, J, H, W)``."""
        if x.ndim != 4 or x.shape[1] != self.filters.shape[1]:
            raise ValueError(
                f"x must be (B, {self.filters.shape[1]}, H, W), got shape {tuple(x.shape)}."
            )
        p = self.filters.shape[-1] // 2
        return F.conv2d(F.pad(x, (p, p, p, p), mode="circular"), self.kernels().to(x.dtype))

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.log_alpha.exp().to(x.dtype)[None, :, None, None]
        gamma = self.log_gamma.exp().to(x.dtype)[None, :, None, None]
        return (alpha * huber(self.responses(x), gamma)).flatten(1).sum(1)


class HuberTV(torch.nn.Module):
    """R(x) = λ · :func:`huber_tv` (x, γ), with λ = exp(``log_lam``) learned (γ fixed).

    For ``x`` ``(B, C, H, W)``; returns ``(B,)``. The log-parametrisation keeps λ > 0 whatever
    the optimiser does.
    """

    def __init__(self, lam: float = 0.006, gamma: float = 0.01):
        super().__init__()
        if lam <= 0 or gamma <= 0:
            raise ValueError(f"lam and gamma must be > 0, got {lam} and {gamma}.")
        self.log_lam = torch.nn.Parameter(torch.tensor(math.log(lam), dtype=torch.float64))
        self.gamma = gamma

    @property
    def lam(self) -> float:
        return float(self.log_lam.detach().exp())

    def forward(self, x: Tensor) -> Tensor:
        return self.log_lam.exp().to(x.dtype) * huber_tv(x, self.gamma)
