"""Classical reconstructions for the challenge: the total-variation (TV) baseline and Tikhonov.

TV baseline
-----------
    x_hat = argmin_x  1/2 ||A x - y||^2 + lam * TV(x),   TV(x) = sum_{c,i} ||(grad x_c)_i||_2

Isotropic TV on each colour channel (forward differences, Neumann boundary), solved with the
Chambolle-Pock primal-dual algorithm of deepinv (``deepinv.optim.PDCP``) with K = grad:
the dual step is the prox of (lam ||.||_{2,1})^*, the primal step is the prox of the data
term, which ``BlurFFT`` computes exactly with FFTs. Steps tau * sigma * ||grad||^2 = 1,
with ||grad||^2 <= 8.

lam and the iteration count were tuned on the public dev set by ``python -m
course_utils.tune_baseline``; the grid and its results are recorded in
``data/challenge/baseline_tuning.json``.

Tikhonov (Wiener with a white signal model)
-------------------------------------------
    x_hat = argmin_x  1/2 ||A x - y||^2 + lam/2 ||x||^2 = (A^T A + lam I)^{-1} A^T y,

one division in the Fourier domain.
"""

from __future__ import annotations

import deepinv as dinv
import torch
from deepinv.optim import PDCP, L12Prior
from deepinv.optim.data_fidelity import L2
from torch import Tensor

from .validate import check_images

TV_LAMBDA = 0.006
"""TV weight tuned on the dev set (see ``data/challenge/baseline_tuning.json``)."""
TV_ITERS = 100
"""Iterations after which the dev-set PSNR stays within 0.01 dB of its converged value."""
TV_STEP = 3.0
"""Primal step tau; the dual step is 1 / (8 tau)."""
TIKHONOV_LAMBDA = 0.05
"""Tikhonov weight tuned on the dev set."""

_nabla = dinv.models.TVDenoiser.nabla
_nabla_adjoint = dinv.models.TVDenoiser.nabla_adjoint


def _physics_for(y: Tensor, physics):
    if physics is None:
        from .physics import make_physics

        physics = make_physics(device=y.device)
    return physics


def total_variation(x: Tensor) -> Tensor:
    """Isotropic TV of each image of a batch ``(B, C, H, W)``: shape ``(B,)``."""
    return L12Prior(l2_axis=-1).fn(_nabla(x))


def tv_objective(x: Tensor, y: Tensor, physics, lam: float = TV_LAMBDA) -> Tensor:
    """The TV objective 1/2 ||A x - y||^2 + lam TV(x), one value per image, shape ``(B,)``."""
    residual = physics.A(x) - y
    return 0.5 * residual.pow(2).flatten(1).sum(1) + lam * total_variation(x)


def tv_reconstruct(
    y: Tensor,
    physics: dinv.physics.LinearPhysics | None = None,
    lam: float = TV_LAMBDA,
    n_iter: int = TV_ITERS,
    tau: float = TV_STEP,
) -> Tensor:
    """TV reconstruction of a batch of measurements ``y`` ``(B, C, H, W)``; same shape out.

    :param physics: the forward operator (default: the challenge operator). It must provide
        ``prox_l2``, as ``BlurFFT`` does.
    :param lam: TV weight (> 0).
    :param n_iter: Chambolle-Pock iterations; the cost is about 4 ms per iteration per
        256x256 RGB image on 2 CPU cores.
    """
    check_images(y, "y")
    if lam <= 0 or n_iter < 1 or tau <= 0:
        raise ValueError(f"need lam > 0, n_iter >= 1 and tau > 0, got {lam}, {n_iter}, {tau}.")
    physics = _physics_for(y, physics)

    def init(y, physics):
        u0 = torch.zeros(*y.shape, 2, dtype=y.dtype, device=y.device)
        return {"est": (y.clone(), y.clone(), u0)}

    solver = PDCP(
        K=_nabla,
        K_adjoint=_nabla_adjoint,
        data_fidelity=L2(),
        prior=L12Prior(l2_axis=-1),
        lambda_reg=lam,
        stepsize=tau,
        stepsize_dual=1.0 / (8.0 * tau),
        max_iter=n_iter,
        g_first=True,
        custom_init=init,
    )
    with torch.no_grad():
        return solver(y, physics)


def tikhonov_reconstruct(
    y: Tensor, physics: dinv.physics.LinearPhysics | None = None, lam: float = TIKHONOV_LAMBDA
) -> Tensor:
    """Tikhonov reconstruction ``(A^T A + lam I)^{-1} A^T y`` of ``y`` ``(B, C, H, W)``."""
    check_images(y, "y")
    if lam <= 0:
        raise ValueError(f"lam must be > 0, got {lam}.")
    physics = _physics_for(y, physics)
    with torch.no_grad():
        return physics.prox_l2(0, y, gamma=1.0 / lam)
