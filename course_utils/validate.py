"""Input checks with errors that say what is wrong and how to fix it.

Every public function of ``course_utils`` that takes images calls :func:`check_images`, so a
wrong shape, channel count, dtype, device or value range fails early and clearly instead of
producing a silently wrong number.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_images(
    x,
    name: str = "x",
    *,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    value_range: tuple[float, float] | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Check that ``x`` is a finite float batch of images of shape ``(B, C, H, W)``; return it.

    :param channels: required ``C`` (``None``: any).
    :param size: required ``(H, W)`` (``None``: any).
    :param value_range: inclusive ``(low, high)`` every value must lie in (``None``: any).
    :param device: required device (``None``: any).
    :raises TypeError: not a tensor, or not a floating-point dtype.
    :raises ValueError: wrong number of dimensions, channels, size, range, or non-finite values.
    """
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}. "
            "Convert with torch.as_tensor(...) and add a batch axis with x[None]."
        )
    if not torch.is_floating_point(x):
        raise TypeError(
            f"{name} has dtype {x.dtype}; images must be floating point in [0, 1]. "
            "For uint8 images use x.float() / 255."
        )
    if x.ndim != 4:
        hint = " Add a batch axis with x[None]." if x.ndim == 3 else ""
        raise ValueError(
            f"{name} must have shape (B, C, H, W), got {tuple(x.shape)} ({x.ndim} dims).{hint}"
        )
    if channels is not None and x.shape[1] != channels:
        hint = ""
        if channels == 3 and x.shape[1] == 1:
            hint = " Repeat a grayscale image with x.expand(-1, 3, -1, -1)."
        elif x.shape[-1] == channels:
            hint = " It looks channels-last: use x.permute(0, 3, 1, 2)."
        raise ValueError(f"{name} must have {channels} channels, got shape {tuple(x.shape)}.{hint}")
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        raise ValueError(
            f"{name} must be {size[0]}x{size[1]} pixels, got {x.shape[-2]}x{x.shape[-1]}. "
            "Use course_utils.to_official_size to crop and resize an image."
        )
    if device is not None and x.device != torch.device(device):
        raise ValueError(f"{name} is on {x.device} but must be on {device}: use {name}.to(...).")
    if not torch.isfinite(x).all():
        n_bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite values.")
    if value_range is not None:
        low, high = value_range
        lo, hi = float(x.min()), float(x.max())
        if lo < low or hi > high:
            hint = " It looks like a 0-255 image: divide by 255." if hi > 1.5 and high == 1 else ""
            raise ValueError(
                f"{name} must lie in [{low}, {high}], but its values span [{lo:.4g}, {hi:.4g}]."
                + hint
            )
    return x


def check_same_shape(a: Tensor, b: Tensor, names: tuple[str, str] = ("x_hat", "x")) -> None:
    """Raise a ``ValueError`` naming both shapes when ``a`` and ``b`` differ in shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}."
        )
