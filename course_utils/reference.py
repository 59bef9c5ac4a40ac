"""Reference implementations that exercise checks fall back on, where no library function
computes the same thing.

A notebook's own check compares the student's function with one of these (or with a library
function) and continues with it while the exercise is not done. They live here, not in the
student notebook, so the answer is not on the page; the third hint tier points here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .regularisers import huber


def residual_block(
    h: Tensor, conv1: Callable[[Tensor], Tensor], conv2: Callable[[Tensor], Tensor]
) -> Tensor:
    """The residual block ``h -> h + conv2(relu(conv1(h)))``; ``h`` is ``(B, C, H, W)``."""
    return torch.add(h, conv2(F.relu(conv1(h))))


def avg_pool_adjoint(y: Tensor, s: int) -> Tensor:
    """The adjoint of ``F.avg_pool2d(x, s)`` (window ``s x s``, stride ``s``) applied to ``y``.

    ``y`` is ``(B, C, H, W)``; the result is ``(B, C, s H, s W)``: every entry of ``y`` copied
    to its ``s x s`` window and divided by ``s**2``.
    """
    return F.interpolate(y, scale_factor=s, mode="nearest") / s**2


def receptive_field(layers: list[tuple[str, int, int, int]]) -> int:
    """Side, in input pixels, of the receptive field of one output pixel of a layer stack.

    ``layers`` lists ``(kind, kernel side, stride, dilation)`` from the input up. Computed
    from the top down: a window of ``r`` pixels of a layer comes from
    ``s (r - 1) + d (w - 1) + 1`` pixels of the layer below.
    """
    r = 1
    for _, side, stride, dilation in reversed(layers):
        r = stride * (r - 1) + dilation * (side - 1) + 1
    return r


def iterations_for_reduction(factor: float, reduction: float) -> int:
    """The smallest ``k >= 0`` with ``factor**k <= reduction``, for ``0 < factor < 1``.

    How many steps of a contraction by ``factor`` guarantee that an error shrinks by the
    factor ``reduction`` (e.g. ``1e-12``).
    """
    if not (0 < factor < 1 and 0 < reduction <= 1):
        raise ValueError(f"need 0 < factor < 1 and 0 < reduction <= 1, got {factor}, {reduction}.")
    return max(0, math.ceil(math.log(reduction) / math.log(factor) - 1e-12))


def tikhonov_lambda_gradient(
    x_hat: Tensor,
    g: Tensor,
    lam: float,
    A: Callable[[Tensor], Tensor],
    A_adjoint: Callable[[Tensor], Tensor],
    tol: float = 1e-12,
) -> Tensor:
    """``dL/dlam`` at the Tikhonov solution ``x_hat = (A^T A + lam I)^{-1} A^T y``, by the IFT.

    ``g`` is the gradient of the loss ``L`` at ``x_hat``. Returns ``-<H^{-1} g, x_hat>`` (a 0-d
    tensor) with ``H = A^T A + lam I`` applied through the functions ``A`` and ``A_adjoint`` and
    inverted by one conjugate-gradient solve (``deepinv.optim.utils.conjugate_gradient``, with
    ``tol`` relative to ``||g||``).
    """
    from deepinv.optim.utils import conjugate_gradient

    def hessian(v: Tensor) -> Tensor:
        return A_adjoint(A(v)) + lam * v

    u = conjugate_gradient(hessian, g, max_iter=10 * g[0].numel(), tol=tol, eps=1e-30)
    return -torch.sum(u * x_hat)


def one_step_contraction_count(jacobians: Tensor, reduction: float) -> int:
    """Iterations that the one-step bound guarantees for ``e_{k+1} = J_bᵀ e_k``, every ``e_0``.

    ``jacobians`` is ``(B, n, n)`` (one ``J_b`` per input). With ``c = max_b ‖J_b‖₂`` (so
    ``‖J_bᵀ e‖ ≤ c ‖e‖`` for every ``e`` and ``b``), returns the smallest ``k`` with
    ``c**k <= reduction``; ``c < 1`` is required.
    """
    c = torch.linalg.matrix_norm(jacobians, ord=2).max().item()
    return iterations_for_reduction(c, reduction)


def fixed_point_adjoint(jacobians: Tensor, grad: Tensor, n_iter: int) -> Tensor:
    """``n_iter`` steps of ``u_{k+1} = J_bᵀ u_k + grad`` from ``u_0 = 0``, with dense Jacobians.

    ``jacobians`` is ``(B, n, n)``, ``grad`` is ``(B, n)``; the limit solves the adjoint equation
    ``(I − J_b)ᵀ u = grad`` of a fixed point ``z = f(z)`` with ``J_b = ∂_z f``.
    """
    u = torch.zeros_like(grad)
    for _ in range(n_iter):
        u = torch.einsum("bji,bj->bi", jacobians, u) + grad
    return u


def euler_discrete_adjoint(
    vjp: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]],
    states: list[Tensor],
    grad_final: Tensor,
    h: float,
    mistake: str | None = None,
) -> Tensor:
    """``dL/dθ`` through the explicit Euler steps ``z_{k+1} = z_k + h g(z_k, θ)``, by the adjoint.

    ``states`` holds ``z_0, …, z_K``, ``grad_final`` is ``∇L(z_K)``, and ``vjp(z, u)`` returns
    ``((∂_z g)ᵀ u, (∂_θ g)ᵀ u)`` at ``(z, θ)``. Runs ``u_K = ∇L(z_K)``,
    ``u_k = u_{k+1} + h (∂_z g(z_k))ᵀ u_{k+1}`` and sums ``h (∂_θ g(z_k))ᵀ u_{k+1}``.
    ``mistake`` plants an index off by one (for negative controls): ``"state z_{k+1}"`` takes
    both VJPs of step ``k`` at ``z_{k+1}``, ``"multiplier u_k"`` takes the θ-VJP with ``u_k``.
    """
    if mistake not in (None, "state z_{k+1}", "multiplier u_k"):
        raise ValueError(f"unknown mistake {mistake!r}.")
    u, grad = grad_final, None
    for k in reversed(range(len(states) - 1)):
        z = states[k + 1] if mistake == "state z_{k+1}" else states[k]
        uz, uth = vjp(z, u)
        u_prev = u + h * uz
        if mistake == "multiplier u_k":
            uth = vjp(z, u_prev)[1]
        grad = h * uth if grad is None else grad + h * uth
        u = u_prev
    return grad


def adam_trajectory(
    grad: Callable[[Tensor], Tensor],
    x0: Tensor,
    lr: float,
    n_steps: int,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[Tensor, Tensor]:
    """Adam (as ``torch.optim.Adam`` with ``weight_decay=0``) on the gradient field ``grad``.

    Returns the iterates ``x_0, ..., x_K`` and the second moments ``v_0 = 0, v_1, ..., v_K``
    (before bias correction), both of shape ``(n_steps + 1, dim)``.
    """
    beta1, beta2 = betas
    x, m, v = x0.clone(), torch.zeros_like(x0), torch.zeros_like(x0)
    path, second = [x0.clone()], [v.clone()]
    for k in range(1, n_steps + 1):
        g = grad(x)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**k), v / (1 - beta2**k)
        x = x - lr * m_hat / (v_hat.sqrt() + eps)
        path.append(x)
        second.append(v)
    return torch.stack(path), torch.stack(second)


def mlp_weight_gradients(
    weights: list[Tensor], x: Tensor, b: Tensor, mistake: str | None = None
) -> list[Tensor]:
    """``[∂L/∂W_1, ..., ∂L/∂W_K]`` for ``L = ½‖x_K − b‖²``, ``x_l = tanh(W_l x_{l−1})``, ``x_0 = x``
    (a list of tensors), by one forward and one backward sweep (day1_3's Exercise 2).

    ``x`` and ``b`` are 1-D, each ``W_l`` is ``(n_l, n_{l−1})``. ``mistake`` plants a plausible
    error (for negative controls, see :func:`planted_weight_gradient_mistake`): ``"no transpose"``
    (square layers only) or ``"tanh' at x_l"``.
    """
    if mistake not in (None, "no transpose", "tanh' at x_l"):
        raise ValueError(f"unknown mistake {mistake!r}.")
    xs = [x]
    for w in weights:
        xs.append(torch.tanh(w @ xs[-1]))

    def tanh_prime(out: Tensor) -> Tensor:  # tanh' at z, from out = tanh(z)
        return 1 - torch.tanh(out) ** 2 if mistake == "tanh' at x_l" else 1 - out**2

    delta = tanh_prime(xs[-1]) * (xs[-1] - b)
    grads = []
    for layer in range(len(weights), 0, -1):  # layer l has weights[l - 1], input xs[l - 1]
        grads.append(torch.outer(delta, xs[layer - 1]))
        if layer > 1:
            w = weights[layer - 1]
            delta = tanh_prime(xs[layer - 1]) * ((w if mistake == "no transpose" else w.T) @ delta)
    return grads[::-1]


def planted_weight_gradient_mistake(
    weights: list[Tensor], x: Tensor, b: Tensor, mistake: str
) -> list[Tensor]:
    """Plausible but wrong weight gradients of day1_3's network, for negative controls.

    ``mistake`` is ``"no transpose"`` (a matrix used where its transpose belongs; square layers
    only) or ``"tanh' at x_l"`` (the activation's derivative taken at the wrong point).
    """
    if mistake not in ("no transpose", "tanh' at x_l"):
        raise ValueError(f"mistake must be 'no transpose' or \"tanh' at x_l\", not {mistake!r}.")
    return mlp_weight_gradients(weights, x, b, mistake)


def minibatch_variance(sigma2: float, N: int, B: int | Tensor) -> float | Tensor:
    """``E||mini-batch mean - full mean||^2`` for ``B`` distinct indices out of ``N``.

    ``sigma2`` is the mean squared distance of the ``N`` per-example vectors to their mean;
    ``B`` may be a tensor of batch sizes (day1_2, Exercise 5).
    """
    return sigma2 * (N - B) / (B * (N - 1))


def warmup_cosine(
    k: Tensor, eta0: float, eta_min: float, eta_w: float, warmup: int, total: int
) -> Tensor:
    """The rate at the epochs ``k`` (a float tensor) of a linear warm-up, then a cosine.

    ``LinearLR(start_factor=eta_w / eta0, total_iters=warmup)`` followed by
    ``CosineAnnealingLR(T_max=total - warmup, eta_min=eta_min)`` in a ``SequentialLR`` with
    milestone ``warmup``: a straight line from ``eta_w`` at ``k = 0`` towards ``eta0`` at
    ``k = warmup``, then the cosine from ``eta0`` down to ``eta_min``, restarted at
    ``k = warmup`` (day1_2, Exercise 7).
    """
    ramp = eta_w + (eta0 - eta_w) * k / warmup
    phase = (k - warmup).clamp_min(0) / (total - warmup)
    cosine = eta_min + (eta0 - eta_min) * (1 + torch.cos(math.pi * phase)) / 2
    return torch.where(k < warmup, ramp, cosine)


def lasso_dual_value(
    x: Tensor, y: Tensor, lam: float, A: Callable[[Tensor], Tensor], A_adjoint: Callable
) -> Tensor:
    """A lower bound on ``min_x 1/2 ||A x - y||^2 + lam ||x||_1`` from a primal point ``x``.

    The dual of the lasso is ``max <y, xi> - 1/2 ||xi||^2`` over ``||A^T xi||_inf <= lam``; the
    residual ``y - A x``, scaled by ``min(1, lam / ||A^T (y - A x)||_inf)``, is dual feasible,
    and the dual objective there is returned (a 0-d tensor; day2_1, Exercise 3).
    """
    residual = y - A(x)
    xi = residual * torch.clamp(lam / A_adjoint(residual).abs().max(), max=1.0)
    return (y * xi).sum() - 0.5 * xi.pow(2).sum()


def grid_search_solves_log10(n_params: int, points_per_param: int, n_images: int) -> float:
    """log10 of the number of single-image lower-level solves of a full grid search.

    A grid of ``points_per_param`` values for each of ``n_params`` parameters, one solve per
    grid point and training image (day2_2, Exercise 1). Exact integer arithmetic, then log10.
    """
    return math.log10(n_images * points_per_param**n_params)


def smoothed_tv_hessian_bound(A_norm: float, lam: float, gamma: float) -> float:
    """An upper bound on the largest eigenvalue of the Hessian of the Huber-TV energy.

    ``E(x) = 1/2 ||A x - y||^2 + lam TV_gamma(x)`` with ``||A|| = A_norm`` and the course's
    discrete gradient (``||nabla||^2 <= 8``); valid at every ``x`` (day2_2, Exercise 3).
    """
    return A_norm**2 + 8.0 * lam / gamma


def huber_bias_worst_case(gamma: float | Tensor, n_pix: int | Tensor) -> float | Tensor:
    """The largest of ``sum_p (|v_p| - huber(|v_p|, gamma))`` over fields of ``n_pix`` vectors.

    Found numerically: the largest per-pixel difference over a fine grid of norms in
    ``[0, 10 gamma]``, times ``n_pix`` (day2_2, Exercise 2). ``gamma`` and ``n_pix`` may be
    1-d tensors of the same length (one result per entry).
    """
    g = torch.as_tensor(gamma, dtype=torch.float64)
    a = torch.linspace(0, 10, 100001, dtype=torch.float64)[:, None] * g.reshape(1, -1)
    worst = (a - huber(a, g.reshape(1, -1))).amax(0) * n_pix
    return worst.reshape(g.shape) if isinstance(gamma, Tensor) else float(worst)


def ista_layer_weights(A: Tensor, lam: float) -> tuple[Tensor, Tensor, float]:
    """ISTA's step written as one LISTA layer ``soft(W1 y + W2 x, theta)`` (day2_3, Exercise 1).

    For ``min 1/2 ||A x - y||^2 + lam ||x||_1`` with step ``1 / L``, ``L = ||A||_2^2``;
    ``A`` is ``(m, n)``; returns ``W1`` ``(n, m)``, ``W2`` ``(n, n)`` and ``theta``.
    """
    L = float(torch.linalg.matrix_norm(A, ord=2)) ** 2
    return A.T / L, torch.eye(A.shape[1], dtype=A.dtype) - A.T @ A / L, lam / L


def coupled_layer_as_lista(W: Tensor, A: Tensor) -> tuple[Tensor, Tensor]:
    """The LISTA weights ``(W1, W2)`` of a coupled layer ``soft(x + W^T (y - A x), theta)``.

    ``W`` and ``A`` are ``(m, n)``; ``W1 = W^T`` ``(n, m)``, ``W2 = I - W^T A`` ``(n, n)``
    (day2_3, Exercise 3).
    """
    return W.T, torch.eye(A.shape[1], dtype=A.dtype) - W.T @ A


def coupled_layer_as_ista(xi: float, alpha: float, M: float) -> tuple[float, float]:
    """The ISTA step of a coupled layer with ``W = xi A / M`` and threshold ``alpha``.

    ``soft(x + (xi / M) A^T (y - A x), alpha)`` is an ISTA step with step size ``xi / M`` on
    the lasso with weight ``alpha M / xi``; returns ``(step, lam)`` (day2_3, Exercise 4).
    """
    return xi / M, alpha * M / xi


def pdhg_lpd_coefficients(tau: float, nu: float) -> tuple[Tensor, Tensor]:
    """One PDHG iteration for 1/2 ||A x - y||^2 as the residual updates of an LPD iteration.

    Dual: ``xi + Gamma(xi, A xb, y)`` with ``Gamma = w[0] xi + w[1] A xb + w[2] y``; primal on
    the channels ``(x, xb)``: ``(x, xb) + W @ (x, xb, A^T xi)``. Returns ``(w (3,), W (2, 3))``
    in float64 (day2_4, Exercise 2).
    """
    c = nu / (1 + nu)
    w = torch.tensor([-c, c, -c], dtype=torch.float64)
    W = torch.tensor([[0.0, 0.0, -tau], [1.0, -1.0, -2 * tau]], dtype=torch.float64)
    return w, W


def lpd_parameter_count(
    n_iter: int, n_primal: int, n_dual: int, nf: int, depth: int, learned_dual: bool
) -> int:
    """Learned scalars of ``course_utils.primal_dual.LearnedPrimalDual`` with these arguments:
    per block, 3 x 3 convolutions with biases (in -> nf, nf -> nf ``depth - 2`` times, nf ->
    out) and one PReLU slope per nonlinearity (day2_4, Exercise 3)."""

    def block(c_in: int, c_out: int) -> int:
        convs = (9 * c_in + 1) * nf + (depth - 2) * (9 * nf + 1) * nf + (9 * nf + 1) * c_out
        return convs + (depth - 1)

    per_iter = block(n_primal + 1, n_primal) + (block(n_dual + 2, n_dual) if learned_dual else 0)
    return n_iter * per_iter


def gaussian_gradient_variances(zbar: Tensor, omega: Tensor) -> tuple[Tensor, Tensor]:
    """The variances of two one-sample estimators of d/dz̄ E[z²], z ~ N(z̄, ω²) (day3_1,
    Exercise 2): the reparameterisation estimator 2(z̄ + ωξ) and the score-function estimator
    z² (z − z̄) / ω², with ξ ~ N(0, 1); same shapes as the inputs."""
    return 4 * omega**2, zbar**4 / omega**2 + 14 * zbar**2 + 15 * omega**2


def vae_latent_neg_log_posterior(
    decoder: Callable[[Tensor], Tensor],
    forward: Callable[[Tensor], Tensor],
    y: Tensor,
    sigma: float,
    sigma_G: float,
    z: Tensor,
) -> Tensor:
    """-log p(z | y) up to a constant, for z ~ N(0, I), x = G(z) + σ_G ξ and y = A(x + n),
    n ~ N(0, σ² I) (day3_1, Exercise 3); one value per image."""
    from .autoencoder import latent_objective

    return latent_objective(decoder, forward, y, math.sqrt(sigma**2 + sigma_G**2), z)
