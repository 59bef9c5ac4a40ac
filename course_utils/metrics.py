"""PSNR and SSIM with one convention, used by every notebook and by the challenge scorer.

Convention
----------
* Images are ``(B, C, H, W)`` tensors with data range 1: the ground truth ``x`` must lie in
  [0, 1] (an error is raised otherwise).
* The estimate ``x_hat`` is clamped to [0, 1] before scoring, as it would be when saved or
  displayed as an image. Clamping never increases the error against an ``x`` in [0, 1], so
  a method gains nothing by producing values outside the range, and loses nothing either.
* PSNR: ``10 log10(1 / MSE)``, the MSE taken over all pixels *and* all channels of an image.
* SSIM: the Gaussian-window SSIM of Wang et al. (2004) as implemented by torchmetrics (window
  11, sigma 1.5, K1 = 0.01, K2 = 0.03), computed on each colour channel and averaged over
  channels and pixels. It differs from ``skimage.metrics.structural_similarity`` in the
  fourth decimal.
* Both return one value per image, shape ``(B,)``; a score is the mean over the test set.

Both are thin wrappers of ``deepinv.metric.PSNR`` and ``deepinv.metric.SSIM``.
"""

from __future__ import annotations

import deepinv as dinv
import torch
from torch import Tensor

from .validate import check_images, check_same_shape

_PSNR = dinv.metric.PSNR(max_pixel=1.0, min_pixel=0.0)
_SSIM = dinv.metric.SSIM(max_pixel=1.0, min_pixel=0.0)


def _prepare(x_hat: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    check_images(x, "x (ground truth)", value_range=(0.0, 1.0))
    check_images(x_hat, "x_hat (estimate)")
    check_same_shape(x_hat, x, ("x_hat", "x"))
    return x_hat.detach().clamp(0.0, 1.0).to(x.dtype), x.detach()


def psnr(x_hat: Tensor, x: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB, one value per image, shape ``(B,)``.

    Identical images give 80 dB (deepinv adds 1e-8 to the MSE).
    """
    x_hat, x = _prepare(x_hat, x)
    with torch.no_grad():
        return _PSNR(x_hat, x).reshape(-1)


def ssim(x_hat: Tensor, x: Tensor) -> Tensor:
    """Structural similarity in [-1, 1] (1 for identical images), shape ``(B,)``."""
    x_hat, x = _prepare(x_hat, x)
    if min(x.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {tuple(x.shape)}.")
    with torch.no_grad():
        return _SSIM(x_hat, x).reshape(-1)
