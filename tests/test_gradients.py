"""Relative errors, finite differences and the saved-tensor memory count."""

import pytest
import torch

import course_utils as cu


def test_relative_error():
    a = torch.tensor([3.0, 4.0])
    assert cu.relative_error(a, a) == 0.0
    assert cu.relative_error(torch.tensor([3.0, 5.0]), a) == pytest.approx(0.2)
    assert cu.relative_error(torch.tensor([0.0, 2.0]), torch.zeros(2)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="shapes differ"):
        cu.relative_error(torch.zeros(2), torch.zeros(3))


def test_finite_difference_gradient_matches_the_analytic_gradient():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, generator=g, dtype=torch.float64)
    grad = cu.finite_difference_gradient(lambda z: (z.sin() * z).sum(), x)
    assert cu.relative_error(grad, x.sin() + x * x.cos()) < 1e-8
    # a wrong gradient is caught
    assert cu.relative_error(grad, x.sin()) > 0.1


def test_directional_derivative_matches_the_inner_product():
    g = torch.Generator().manual_seed(1)
    x, v = torch.randn(2, 50, generator=g, dtype=torch.float64)
    dd = cu.directional_derivative(lambda z: (z**3).sum(), x, v)
    assert dd == pytest.approx(float((3 * x**2 * v).sum()), rel=1e-8)


def test_finite_differences_refuse_float32_and_large_inputs():
    f = lambda z: z.sum()  # noqa: E731
    with pytest.raises(TypeError, match="float64"):
        cu.finite_difference_gradient(f, torch.zeros(3))
    with pytest.raises(ValueError, match="directional_derivative"):
        cu.finite_difference_gradient(f, torch.zeros(10_001, dtype=torch.float64))
    with pytest.raises(ValueError, match="scalar"):
        cu.finite_difference_gradient(lambda z: z, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="shape"):
        x = torch.zeros(3, dtype=torch.float64)
        cu.directional_derivative(f, x, torch.zeros(4, dtype=torch.float64))


def test_saved_tensor_bytes_grows_with_the_number_of_steps():
    x = torch.randn(1000, requires_grad=True)

    def iterate(steps):
        z = x
        for _ in range(steps):
            z = torch.tanh(z)  # tanh saves its output: 4000 bytes per step
        return z.sum()

    out1, b1 = cu.saved_tensor_bytes(iterate, 1)
    out10, b10 = cu.saved_tensor_bytes(iterate, 10)
    assert b1 == 4000 and b10 == 40_000
    out10.backward()  # the graph still works after counting
    assert x.grad.shape == x.shape
    with torch.no_grad():
        assert cu.saved_tensor_bytes(iterate, 10)[1] == 0


def test_vjp_matches_the_transposed_jacobian_and_works_inside_a_backward():
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    x = torch.randn(3, dtype=torch.float64, generator=gen)
    u = torch.randn(4, dtype=torch.float64, generator=gen)

    def f(x, W):
        return torch.tanh(W @ x)

    gx, gW = cu.vjp(f, (x, W), u)
    J = torch.autograd.functional.jacobian(lambda x: f(x, W), x)
    assert cu.relative_error(gx, J.T @ u) < 1e-14
    s = u * (1 - torch.tanh(W @ x) ** 2)
    assert cu.relative_error(gW, torch.outer(s, x)) < 1e-14
    assert cu.relative_error(cu.vjp(lambda x: f(x, W), x, u), gx) == 0.0
    with torch.no_grad():  # as in a custom backward
        assert cu.relative_error(cu.vjp(lambda x: f(x, W), x, u), gx) == 0.0
    unused = cu.vjp(lambda x, y: 2 * x, (x, W), x)[1]
    assert torch.equal(unused, torch.zeros_like(W))
    with pytest.raises(ValueError, match="cotangent"):
        cu.vjp(lambda x: f(x, W), x, x)
