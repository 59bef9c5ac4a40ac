"""Challenge reference submission: plug-and-play DPIR with a denoiser trained by the course.

    x_0 = Aᵀy,   u_k = (AᵀA + I/γ_k)⁻¹ (Aᵀy + x_k / γ_k),   x_{k+1} = D(u_k, σ_k),   k < 8

deepinv's DPIR schedule (σ_k log-spaced from 49/255 down to the noise level 0.03, γ_k =
(σ_k / 0.03)² / 0.23) around a small DRUNet ``D(·, σ)`` trained for Gaussian denoising alone by
``train.py`` in this folder, on the challenge's training photographs only: the denoiser never saw
the blur (see README.md).

Score it on the dev set with::

    python -m course_utils.challenge score solutions/challenge/pnp_drunet \
        solutions/challenge/tv_baseline
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, load_model

from course_utils import NOISE_SIGMA, hqs

WEIGHTS = "pnp_drunet.safetensors"


def load_reconstructor(folder: Path):
    """Load the denoiser from ``folder``; return ``reconstruct(y, physics)``."""
    weights = Path(folder) / WEIGHTS
    state = load_file(weights)  # the channels of the four scales, read from the weight shapes
    nc = (
        state["denoiser.m_head.weight"].shape[0],
        *(state[f"denoiser.m_down{i}.1.weight"].shape[0] for i in (1, 2, 3)),
    )
    denoiser = hqs.small_drunet(nc=nc)
    load_model(denoiser, str(weights))
    denoiser.eval()
    model = hqs.pnp_dpir(denoiser, sigma=NOISE_SIGMA)

    def reconstruct(y: torch.Tensor, physics) -> torch.Tensor:
        if y.shape[-2] % 8 or y.shape[-1] % 8:
            raise ValueError(
                f"DRUNet needs image sides divisible by 8, got {tuple(y.shape[-2:])}: pad the "
                "measurement (circularly, as the blur) and crop the output."
            )
        with torch.no_grad():
            return model(y, physics)

    return reconstruct
