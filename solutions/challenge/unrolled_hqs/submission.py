"""Challenge reference submission: an unrolled half-quadratic-splitting network.

    x_0 = Aᵀy,   u_k = (AᵀA + I/γ_k)⁻¹ (Aᵀy + x_k / γ_k),   x_{k+1} = D_k(u_k),   k < K

The data step is exact (two FFTs, the official operator), the prior steps D_k are K small
residual CNNs and the γ_k are learned (``course_utils.hqs.unrolled_hqs``), trained end to end by
``train.py`` in this folder on the challenge's training photographs only (see README.md).

Score it on the dev set with::

    python -m course_utils.challenge score solutions/challenge/unrolled_hqs \
        solutions/challenge/tv_baseline
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, load_model

from course_utils import hqs

WEIGHTS = "unrolled_hqs.safetensors"


def load_reconstructor(folder: Path):
    """Load the network from ``folder``; return ``reconstruct(y, physics)``."""
    weights = Path(folder) / WEIGHTS
    state = load_file(weights)  # the architecture, read from the weight shapes
    n_iter = sum(k.endswith(".denoiser.in_conv.weight") for k in state)
    hidden = "prior.0.denoiser.denoiser.conv_list."
    depth = 2 + sum(k.startswith(hidden) and k.endswith(".weight") for k in state)
    nf = state["prior.0.denoiser.denoiser.in_conv.weight"].shape[0]
    model = hqs.unrolled_hqs(n_iter=n_iter, depth=depth, nf=nf)
    load_model(model, str(weights))
    model.eval()
    hqs.check_stepsizes(model)

    def reconstruct(y: torch.Tensor, physics) -> torch.Tensor:
        with torch.no_grad():
            return model(y, physics)

    return reconstruct
