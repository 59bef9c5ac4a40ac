"""Challenge reference submission: an unrolled half-quadratic-splitting network.

    x_0 = Aᵀy,   z_k = (AᵀA + I/η_k)⁻¹ (Aᵀy + x_k / η_k),   x_{k+1} = f_k(z_k),   k < K

The data step is exact (two FFTs, the official operator), the prior steps f_k are K small
residual CNNs, each applied to every opponent colour channel alone, and the η_k are learned
(``course_utils.hqs.unrolled_hqs``), trained end to end by ``train.py`` in this folder on the
challenge's training photographs only (see README.md).

Score it on the dev set with::

    python -m course_utils.challenge score solutions/challenge/unrolled_hqs \
        solutions/challenge/tv_baseline
"""

from __future__ import annotations

from pathlib import Path

import torch

from course_utils import hqs

WEIGHTS = "unrolled_hqs.safetensors"


def load_reconstructor(folder: Path):
    """Load the network from ``folder``; return ``reconstruct(y, physics)``."""
    model = hqs.load_unrolled_hqs(Path(folder) / WEIGHTS)

    def reconstruct(y: torch.Tensor, physics) -> torch.Tensor:
        with torch.no_grad():
            return model(y, physics)

    return reconstruct
