"""Challenge reference submission: DPIR unfolded and trained end to end (an unrolled network).

    x_0 = Aᵀy,   z_k = (AᵀA + I/η_k)⁻¹ (Aᵀy + x_k / η_k),   x_{k+1} = f_θ(z_k, σ_k),   k < 8

The eight iterations of the plug-and-play reference (``../pnp_drunet``) with one shared small
DRUNet f_θ, applied to each opponent colour channel alone, and the schedule η_k, σ_k learned:
``train.py`` in this folder starts from the plug-and-play denoiser and schedule and trains all
of it together on the official operator, on the challenge's training photographs only
(``course_utils.hqs.unfolded_dpir``; see README.md). The data step is exact (two FFTs).

Score it on the dev set with::

    python -m course_utils.challenge score solutions/challenge/unfolded_dpir \
        solutions/challenge/tv_baseline
"""

from __future__ import annotations

from pathlib import Path

import torch

from course_utils import hqs

WEIGHTS = "unfolded_dpir.safetensors"


def load_reconstructor(folder: Path):
    """Load the network from ``folder``; return ``reconstruct(y, physics)``."""
    model = hqs.load_unfolded_dpir(Path(folder) / WEIGHTS)

    def reconstruct(y: torch.Tensor, physics) -> torch.Tensor:
        hqs.check_drunet_size(y)
        with torch.no_grad():
            return model(y, physics)

    return reconstruct
