"""The handwritten digits of scikit-learn (8×8, or upsampled to 16×16), glyphs drawn the same
way (letters, for measurements outside what a digit model has seen), and the digit inpainting
problem that Day 3 reconstructs with TV, a VAE and a diffusion model.

Images are ``(N, 1, S, S)`` float32 in [0, 1] with S = 8 or 16.
"""

from __future__ import annotations

import deepinv as dinv
import numpy as np
import torch
from torch import Tensor

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


def load_digits(split: str = "train", size: int = 8) -> tuple[Tensor, Tensor]:
    """The 8×8 handwritten digits of scikit-learn (1797 images, classes 0–9).

    The split is fixed (stratified by class, 25 % test, seed 0), so every notebook sees the
    same 1347 training and 450 test images.

    :param split: ``"train"``, ``"test"`` or ``"all"``.
    :param size: 8 (the original pixels: each counts the ink of a 4×4 block of a 32×32 bitmap,
        0..16, divided by 16) or 16 (upsampled ×2 bilinearly; still in [0, 1]).
    :returns: images ``(N, 1, size, size)`` float32 in [0, 1] and labels ``(N,)`` int64.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    if size not in (8, 16):
        raise ValueError(f"size must be 8 or 16, got {size!r}.")
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}.")
    if size == 16:
        images, labels = load_digits(split)
        return _upsample(images), labels
    bunch = sklearn_digits()
    images = torch.from_numpy(bunch.images / 16.0).float()[:, None]  # pixel values are 0..16
    labels = torch.from_numpy(bunch.target).long()
    if split == "all":
        return images, labels
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)),
        test_size=DIGITS_TEST_FRACTION,
        stratify=bunch.target,
        random_state=DIGITS_SPLIT_SEED,
    )
    idx = torch.from_numpy(np.sort(train_idx if split == "train" else test_idx))
    return images[idx], labels[idx]


def _upsample(images: Tensor) -> Tensor:
    # ×2 bilinear: each pixel is a convex combination of its neighbours, so still in [0, 1]
    return torch.nn.functional.interpolate(images, scale_factor=2, mode="bilinear")


def render_glyphs(chars: str, size: int = 16) -> Tensor:
    """Characters drawn as the digits were made: a 32×32 bitmap of the glyph (DejaVu Sans Bold,
    which ships with matplotlib), scaled to fill the box, whose 4×4 blocks are counted (0..16)
    and divided by 16; then upsampled to 16×16 when ``size`` is 16.

    :returns: ``(len(chars), 1, size, size)`` float32 in [0, 1].
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    if size not in (8, 16):
        raise ValueError(f"size must be 8 or 16, got {size!r}.")
    if not chars or any(c.isspace() for c in chars):
        raise ValueError(f"chars must be a non-empty string without spaces, got {chars!r}.")
    font = FontProperties(family="DejaVu Sans", weight="bold")
    centres = np.stack(np.meshgrid(np.arange(32) + 0.5, np.arange(32) + 0.5), -1).reshape(-1, 2)
    out = []
    for c in chars:
        path = TextPath((0, 0), c, size=100, prop=font)
        v = path.vertices
        lo, hi = v.min(0), v.max(0)
        scale = 28.0 / max(hi - lo)  # the longer side fills 28 of the 32 pixels
        offset = 16.0 - scale * (lo + hi) / 2
        path = path.transformed(Affine2D().scale(scale).translate(*offset))
        ink = path.contains_points(centres).reshape(32, 32)[::-1]  # image rows run downwards
        counts = ink.reshape(8, 4, 8, 4).sum((1, 3))
        out.append(torch.from_numpy(counts / 16.0).float())
    images = torch.stack(out)[:, None]
    return _upsample(images) if size == 16 else images


INPAINTING_KEEP = 0.4
"""The share of pixels the digit inpainting measurement keeps."""
INPAINTING_SIGMA = 0.05
"""Its noise level (images in [0, 1])."""


def inpainting_problem(
    x: Tensor, seed: int, keep: float = INPAINTING_KEEP, sigma: float = INPAINTING_SIGMA
) -> tuple[dinv.physics.Inpainting, Tensor]:
    """The Day 3 inpainting measurement of images ``x`` ``(B, 1, S, S)``: each image keeps its
    own random ``keep`` share of the pixels (a mask drawn from ``seed``), with Gaussian noise
    of level ``sigma`` on the kept ones.

    :returns: the physics (mask ``(B, 1, S, S)``, noise model included) and ``y = A x + n``
        (zero outside the mask).
    """
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected images of shape (B, 1, S, S), got {tuple(x.shape)}.")
    if not 0 < keep <= 1 or sigma < 0:
        raise ValueError(f"need 0 < keep <= 1 and sigma >= 0, got {keep} and {sigma}.")
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(x.shape, generator=g) < keep).to(x.dtype)
    physics = dinv.physics.Inpainting(
        img_size=tuple(x.shape[1:]), mask=mask, noise_model=dinv.physics.GaussianNoise(sigma)
    )
    noise = sigma * torch.randn(x.shape, generator=g, dtype=x.dtype)
    return physics, physics.A(x) + mask * noise
