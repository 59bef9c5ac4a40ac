"""Figures shared by the notebooks (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from torch import Tensor

from .metrics import psnr, ssim
from .validate import check_images


def _as_batch(img: Tensor) -> Tensor:
    return img[None] if img.ndim == 3 else img


def _show(ax, img: Tensor, title: str) -> None:
    img = img.detach().float().cpu().clamp(0, 1)
    if img.shape[0] == 1:
        ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def plot_comparison(
    x_true: Tensor | None,
    estimates: Mapping[str, Tensor],
    indices: Sequence[int] = (0,),
    size: float = 3.0,
    suptitle: str | None = None,
):
    """Ground truth next to measurements and reconstructions, with PSNR/SSIM in the titles.

    :param x_true: ground truth ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1], or ``None``.
    :param estimates: name -> image batch of the same shape (e.g. ``{"measurement": y,
        "TV": x_tv}``). Display clips to [0, 1]; the metrics follow ``course_utils.metrics``.
    :param indices: which images of the batch to show, one row each.
    :returns: the matplotlib figure.
    """
    panels = {k: _as_batch(v) for k, v in estimates.items()}
    if x_true is not None:
        x_true = check_images(_as_batch(x_true), "x_true", value_range=(0.0, 1.0))
    ncols = len(panels) + (x_true is not None)
    fig, axes = plt.subplots(
        len(indices), ncols, figsize=(size * ncols, size * len(indices) + 0.4), squeeze=False
    )
    for row, i in enumerate(indices):
        col = 0
        if x_true is not None:
            _show(axes[row, 0], x_true[i], "ground truth")
            col = 1
        for name, batch in panels.items():
            title = name
            if x_true is not None:
                est = batch[i : i + 1].to(x_true.device)
                p = psnr(est, x_true[i : i + 1]).item()
                s = ssim(est, x_true[i : i + 1]).item()
                title = f"{name}\nPSNR {p:.2f} dB, SSIM {s:.3f}"
            _show(axes[row, col], batch[i], title)
            col += 1
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
