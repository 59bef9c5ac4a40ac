"""Challenge reference submission: a variational model whose regulariser was learned by bilevel
optimisation (a field of experts with Huber potentials).

    x_hat = argmin_x ½‖A x - y‖² + Σ_j α_j Σ_i h_{γ_j}((k_j ⋆ x)_i)

with 24 learned 5×5 colour filters k_j, weights α_j and Huber smoothings γ_j
(``course_utils.FieldOfExperts``), trained by ``train.py`` in this folder on the "train" images
only (see README.md). The minimisation is L-BFGS (``course_utils.bilevel.solve_lower_level``),
in float64, started from the measurement.

Score it on the dev set with::

    python -m course_utils.challenge score solutions/challenge/bilevel_foe \
        solutions/challenge/tv_baseline
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, load_model

from course_utils.bilevel import solve_lower_level
from course_utils.regularisers import FieldOfExperts

WEIGHTS = "foe.safetensors"
MAX_ITER = 300
TOL = 1e-4


def load_reconstructor(folder: Path):
    """Load the learned regulariser from ``folder``; return ``reconstruct(y, physics)``."""
    weights = Path(folder) / WEIGHTS
    n_filters, channels, size, _ = load_file(weights)["filters"].shape  # the architecture
    model = FieldOfExperts(n_filters=n_filters, size=size, channels=channels).double()
    load_model(model, str(weights))
    model.eval()

    def reconstruct(y: torch.Tensor, physics) -> torch.Tensor:
        x_hat, _ = solve_lower_level(y.double(), physics.A, model, max_iter=MAX_ITER, tol=TOL)
        return x_hat.to(y.dtype)

    return reconstruct
