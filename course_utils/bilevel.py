"""Bilevel learning: the lower-level variational problem, its solver, and its derivative by the
implicit function theorem.

Lower level, for a measurement ``y`` and parameters θ of a smooth convex regulariser R_θ::

    E_θ(x) = ½ ‖A x - y‖² + R_θ(x),        x*(θ) = argmin_x E_θ(x).

Upper level: a loss ℓ(x*(θ)) against the ground truth (mean squared error). The optimality
condition ∇ₓE_θ(x*) = 0 holds for every θ; differentiating it gives (implicit function theorem)

    d x*/dθ = -H⁻¹ ∂θ∇ₓE,   H = ∇²ₓE_θ(x*) (symmetric positive definite),

so the hypergradient is  dℓ/dθ = -(∂θ∇ₓE)ᵀ v  with  H v = ∇ℓ(x*): one linear solve, by
conjugate gradients on Hessian-vector products, and one vector-Jacobian product.
:func:`argmin` packages this as a differentiable layer.

Shapes: ``y`` and ``x`` are batches ``(B, C, H, W)``; ``A`` is a callable (the forward
operator, e.g. ``physics.A`` or ``lambda x: cu.fft_blur(x, spectrum)``); energies are ``(B,)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from deepinv.optim.utils import conjugate_gradient
from torch import Tensor


def energy(x: Tensor, y: Tensor, A: Callable[[Tensor], Tensor], regulariser) -> Tensor:
    """E(x) = ½‖A x - y‖² + R(x) for each image of the batch: shape ``(B,)``."""
    residual = A(x) - y
    return 0.5 * residual.pow(2).flatten(1).sum(1) + regulariser(x)


def energy_gradient(x: Tensor, y: Tensor, A, regulariser, create_graph: bool = False) -> Tensor:
    """∇ₓE at ``x`` (the images of a batch are independent), shape of ``x``."""
    with torch.enable_grad():
        x = x if x.requires_grad else x.detach().requires_grad_(True)
        return torch.autograd.grad(
            energy(x, y, A, regulariser).sum(), x, create_graph=create_graph
        )[0]


def solve_lower_level(
    y: Tensor,
    A: Callable[[Tensor], Tensor],
    regulariser,
    x0: Tensor | None = None,
    max_iter: int = 500,
    tol: float = 1e-6,
    history_size: int = 20,
    newton_steps: int = 0,
) -> tuple[Tensor, dict]:
    """Minimise E over ``x`` with L-BFGS (strong Wolfe line search), from ``x0`` (default ``y``).

    Stops when the largest entry of |∇ₓE| falls below ``tol`` or after ``max_iter`` iterations.
    L-BFGS stalls where the energy's decrease falls below its rounding (in float64 near
    max |∇ₓE| ~ 1e-8 for a 64×64 image); ``newton_steps`` > 0 then polishes with up to that many
    Newton steps x <- x - H⁻¹∇ₓE (each solved by :func:`hessian_solve`), kept only while they
    reduce max |∇ₓE|: on a Huber energy, piecewise quadratic, they reach rounding level.
    Returns ``(x*, info)`` with ``x*`` detached and ``info = {"iterations", "evaluations",
    "newton_steps", "gradient_max"}`` (``gradient_max``: max |∇ₓE(x*)|, the certificate of the
    solve). The regulariser's parameters get no gradient from the solve.
    """
    if max_iter < 1 or tol <= 0:
        raise ValueError(f"need max_iter >= 1 and tol > 0, got {max_iter} and {tol}.")
    x = (y if x0 is None else x0).detach().clone().requires_grad_(True)
    if x.shape != y.shape and x0 is not None:
        raise ValueError(f"x0 has shape {tuple(x0.shape)}, but y has {tuple(y.shape)}.")
    opt = torch.optim.LBFGS(
        [x],
        lr=1.0,
        max_iter=max_iter,
        max_eval=4 * max_iter,
        history_size=history_size,
        tolerance_grad=tol,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )
    params = [p for p in getattr(regulariser, "parameters", lambda: [])()]
    saved = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():

            def closure():
                opt.zero_grad()
                e = energy(x, y, A, regulariser).sum()
                e.backward()
                return e

            opt.step(closure)
            x = x.detach()
            grad = energy_gradient(x, y, A, regulariser)
            newton = 0
            for _ in range(newton_steps):
                step = hessian_solve(x, y, A, regulariser, grad, max_iter=1000, tol=1e-13)
                trial = x - step
                trial_grad = energy_gradient(trial, y, A, regulariser)
                if not trial_grad.abs().max() < grad.abs().max():
                    break
                x, grad, newton = trial, trial_grad, newton + 1
    finally:
        for p, s in zip(params, saved, strict=True):
            p.requires_grad_(s)
    state = opt.state[opt._params[0]]
    info = {
        "iterations": int(state.get("n_iter", 0)),
        "evaluations": int(state.get("func_evals", 0)),
        "newton_steps": newton,
        "gradient_max": float(grad.abs().max()),
    }
    return x.detach(), info


def hessian_solve(
    x_star: Tensor,
    y: Tensor,
    A,
    regulariser,
    rhs: Tensor,
    max_iter: int = 200,
    tol: float = 1e-8,
) -> Tensor:
    """v with H v = ``rhs``, H = ∇²ₓE(x*), by conjugate gradients on Hessian-vector products.

    ``tol`` is relative to ‖rhs‖ (per image). deepinv's ``conjugate_gradient`` is used with a
    tiny ``eps`` so that float64 solves are not stopped near 1e-5.
    """
    with torch.enable_grad():
        x = x_star.detach().requires_grad_(True)
        g = energy_gradient(x, y, A, regulariser, create_graph=True)

        def hvp(v: Tensor) -> Tensor:
            return torch.autograd.grad(g, x, v, retain_graph=True)[0]

        eps = torch.finfo(rhs.dtype).tiny
        return conjugate_gradient(hvp, rhs, max_iter=max_iter, tol=tol, eps=eps).detach()


class _Argmin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, A, regulariser, settings, x0, *params):
        x_star, info = solve_lower_level(
            y, A, regulariser, x0, max_iter=settings["max_iter"], tol=settings["tol"]
        )
        settings["info"] = info
        ctx.save_for_backward(x_star, y)
        ctx.A, ctx.regulariser, ctx.settings = A, regulariser, settings
        return x_star

    @staticmethod
    def backward(ctx, grad_out):
        x_star, y = ctx.saved_tensors
        A, regulariser, settings = ctx.A, ctx.regulariser, ctx.settings
        v = hessian_solve(
            x_star,
            y,
            A,
            regulariser,
            grad_out,
            max_iter=settings["cg_max_iter"],
            tol=settings["cg_tol"],
        )
        params = [p for p in regulariser.parameters() if p.requires_grad]
        with torch.enable_grad():
            x = x_star.detach().requires_grad_(True)
            g = energy_gradient(x, y, A, regulariser, create_graph=True)
            grads = torch.autograd.grad(g, params, -v, allow_unused=True)
        by_param = dict(zip(map(id, params), grads, strict=True))
        out = [by_param.get(id(p)) for p in regulariser.parameters()]
        return (None, None, None, None, None, *out)


def argmin(
    y: Tensor,
    A: Callable[[Tensor], Tensor],
    regulariser: torch.nn.Module,
    x0: Tensor | None = None,
    max_iter: int = 500,
    tol: float = 1e-6,
    cg_max_iter: int = 200,
    cg_tol: float = 1e-6,
    info: dict | None = None,
) -> Tensor:
    """x*(θ) = argmin_x E_θ(x), differentiable in the regulariser's parameters θ by the IFT.

    The forward pass is :func:`solve_lower_level`; the backward pass solves H v = ∇ℓ by
    :func:`hessian_solve` and returns -(∂θ∇ₓE)ᵀ v. The measurement ``y`` gets no gradient.
    Pass a dict as ``info`` to receive the solver's ``info``.
    """
    settings = {"max_iter": max_iter, "tol": tol, "cg_max_iter": cg_max_iter, "cg_tol": cg_tol}
    x_star = _Argmin.apply(y, A, regulariser, settings, x0, *regulariser.parameters())
    if info is not None:
        info.update(settings["info"])
    return x_star
