"""The lower-level solver and the implicit-function-theorem hypergradient (course_utils.bilevel)."""

import pytest
import torch

import course_utils as cu
from course_utils.bilevel import argmin, energy_gradient, hessian_solve, solve_lower_level
from course_utils.regularisers import FieldOfExperts

SIZE = 16


@pytest.fixture(scope="module")
def problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, SIZE, SIZE, generator=gen, dtype=torch.float64)
    spectrum = cu.kernel_spectrum((SIZE, SIZE), kernel=torch.ones(5, 5) / 25)

    def A(z):
        return cu.fft_blur(z, spectrum)

    y = A(x) + 0.03 * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    reg = FieldOfExperts(n_filters=8, size=3, alpha=0.02, gamma=0.02, seed=3).double()
    return x, y, A, reg


def test_the_solve_reaches_its_tolerance_and_newton_polishes_to_rounding(problem):
    x, y, A, reg = problem
    x_star, info = solve_lower_level(y, A, reg, max_iter=2000, tol=1e-7)
    assert info["gradient_max"] < 1e-7
    assert float(energy_gradient(x_star, y, A, reg).abs().max()) == pytest.approx(
        info["gradient_max"]
    )
    _, polished = solve_lower_level(y, A, reg, x_star, max_iter=5, tol=1e-7, newton_steps=3)
    assert polished["newton_steps"] >= 1 and polished["gradient_max"] < 1e-12


def test_hessian_solve_solves(problem):
    _, y, A, reg = problem
    x_star, _ = solve_lower_level(y, A, reg, max_iter=2000, tol=1e-8)
    rhs = torch.randn(y.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    v = hessian_solve(x_star, y, A, reg, rhs, max_iter=2000, tol=1e-12)
    xr = x_star.clone().requires_grad_(True)
    (Hv,) = torch.autograd.grad(energy_gradient(xr, y, A, reg, create_graph=True), xr, v)
    assert cu.relative_error(Hv, rhs) < 1e-9


def test_the_ift_hypergradient_matches_finite_differences(problem):
    x, y, A, reg = problem
    reg.zero_grad()
    x_star = argmin(y, A, reg, max_iter=2000, tol=1e-9, cg_max_iter=2000, cg_tol=1e-13)
    (0.5 * (x_star - x).pow(2).sum()).backward()
    grad = reg.log_alpha.grad[0].item()

    def upper(delta):
        with torch.no_grad():
            reg.log_alpha[0] += delta
        xs, _ = solve_lower_level(y, A, reg, x_star, max_iter=2000, tol=1e-9, newton_steps=3)
        with torch.no_grad():
            reg.log_alpha[0] -= delta
        return 0.5 * (xs - x).pow(2).sum().item()

    h = 1e-4
    fd = (upper(h) - upper(-h)) / (2 * h)
    assert abs(grad - fd) < 1e-6 * max(1.0, abs(fd)), (grad, fd)
    # a stale lower level (a few iterations instead of the minimiser) gives the wrong gradient
    reg.zero_grad()
    x_stale = argmin(y, A, reg, max_iter=3, tol=1e-9, cg_max_iter=2000, cg_tol=1e-13)
    (0.5 * (x_stale - x).pow(2).sum()).backward()
    assert abs(reg.log_alpha.grad[0].item() - fd) > 1e-3 * abs(fd)


def test_bad_solver_arguments_are_refused(problem):
    _, y, A, reg = problem
    with pytest.raises(ValueError, match="max_iter"):
        solve_lower_level(y, A, reg, max_iter=0)
    with pytest.raises(ValueError, match="x0 has shape"):
        solve_lower_level(y, A, reg, x0=y[:1])
