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
from safetensors.torch import load_model

from course_utils.bilevel import solve_lower_level
from course_utils.regularisers import FieldOfExperts

WEIGHTS = "foe.safetensors"
ARCHITECTURE = {"n_filters": 24, "size": 5}
"""Must match ``train.py``'s CONFIG (the weight file's shapes are checked on loading)."""
MAX_ITER = 300
TOL = 1e-4


def load_reconstructor(folder: Path):
    """Load the learned regulariser from ``folder``; return ``reconstruct(y, physics)``."""
    model = FieldOfExperts(**ARCHITECTURE).double()
    load_model(model, str(Path(folder) / WEIGHTS))
    model.eval()

    def reconstruct(y: torch.Tensor, physics) -> torch.Tensor:
        x_hat, _ = solve_lower_level(y.double(), physics.A, model, max_iter=MAX_ITER, tol=TOL)
        return x_hat.to(y.dtype)

    return reconstruct
