"""Challenge reference submission: plug-and-play DPIR with a denoiser trained by the course.

    x_0 = Aᵀy,   z_k = (AᵀA + I/η_k)⁻¹ (Aᵀy + x_k / η_k),   x_{k+1} = f(z_k, σ_k),   k < 8

DPIR's schedule (σ_k log-spaced from 49/255 down to the noise level 0.03, η_k =
(σ_k / 0.03)² / λ) around a small DRUNet ``f(·, σ)``, applied to each opponent colour channel
alone (``course_utils.hqs.Channelwise``), trained for Gaussian denoising alone by ``train.py``
in this folder, on the challenge's training photographs only: the denoiser never saw the blur
(see README.md). The schedule (K, σ_1, λ) is read from ``schedule.json``, where
``tune_schedule.py`` recorded the best of a grid on the validation patches (K = 8, σ_1 = 49/255
as published, λ = 0.3 instead of the published 0.23).

Score it on the dev set with::

    python -m course_utils.challenge score solutions/challenge/pnp_drunet \
        solutions/challenge/tv_baseline
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from course_utils import NOISE_SIGMA, hqs

WEIGHTS = "pnp_drunet.safetensors"
SCHEDULE = "schedule.json"  # chosen on the validation patches by tune_schedule.py


def load_reconstructor(folder: Path):
    """Load the denoiser from ``folder``; return ``reconstruct(y, physics)``."""
    schedule = json.loads((Path(folder) / SCHEDULE).read_text())["chosen"]
    denoiser = hqs.load_small_drunet(Path(folder) / WEIGHTS)
    model = hqs.pnp_dpir(denoiser, sigma=NOISE_SIGMA, **schedule)

    def reconstruct(y: torch.Tensor, physics) -> torch.Tensor:
        hqs.check_drunet_size(y)
        with torch.no_grad():
            return model(y, physics)

    return reconstruct
