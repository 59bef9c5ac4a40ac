"""The Huber function, Huber TV and the field of experts (course_utils.regularisers)."""

import pytest
import torch

from course_utils.baseline import total_variation
from course_utils.regularisers import FieldOfExperts, huber, huber_of_norm, huber_tv


def test_huber_values_bounds_and_continuity():
    gamma = 0.1
    r = torch.linspace(-1, 1, 2001, dtype=torch.float64)
    h = huber(r, gamma)
    assert torch.all(h <= r.abs() + 1e-15) and torch.all(h >= r.abs() - gamma / 2 - 1e-15)
    assert float(huber(torch.tensor(0.05, dtype=torch.float64), gamma)) == pytest.approx(0.0125)
    assert float(huber(torch.tensor(-0.5, dtype=torch.float64), gamma)) == pytest.approx(0.45)
    # C^1 at the kink: both pieces and their derivatives meet at |r| = gamma
    r0 = torch.tensor([gamma - 1e-9, gamma + 1e-9], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(huber(r0, gamma).sum(), r0)
    assert torch.allclose(g, torch.ones(2, dtype=torch.float64), atol=1e-7)


def test_huber_of_norm_is_twice_differentiable_at_zero():
    r2 = torch.tensor([0.0, 1e-4, 4.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(huber_of_norm(r2, 0.1).sum(), r2, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), r2)
    assert torch.isfinite(g).all() and torch.isfinite(h).all()
    assert torch.allclose(huber_of_norm(r2, 0.1), huber(r2.sqrt(), 0.1))


def test_huber_tv_lies_between_tv_minus_the_bias_and_tv():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for gamma in (1e-3, 1e-2, 1e-1):
        htv, tv = huber_tv(x, gamma), total_variation(x)
        assert torch.all(htv <= tv + 1e-12)
        assert torch.all(htv >= tv - gamma * 3 * 16 * 16 / 2 - 1e-12)
    assert torch.allclose(huber_tv(x, 1e-9), tv, rtol=1e-6)


def test_field_of_experts_tv_init_is_anisotropic_huber_tv():
    x = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    foe = FieldOfExperts(n_filters=6, size=3, alpha=0.5, gamma=0.01).double()
    dx = torch.roll(x, -1, dims=-1) - x  # circular forward differences
    dy = torch.roll(x, -1, dims=-2) - x
    expected = 0.5 * (huber(dx, 0.01).sum() + huber(dy, 0.01).sum())
    assert torch.allclose(foe(x), expected.reshape(1), rtol=1e-6)  # float32 log_alpha
    # constants cost nothing (zero-mean filters), whatever the raw filters are
    foe_random = FieldOfExperts(n_filters=8, size=5, init="random").double()
    with torch.no_grad():
        constant_cost = float(foe_random(torch.full((1, 3, 12, 12), 0.7, dtype=torch.float64)))
    assert constant_cost < 1e-12


def test_field_of_experts_rejects_bad_input():
    with pytest.raises(ValueError, match="odd"):
        FieldOfExperts(size=4)
    with pytest.raises(ValueError, match="n_filters"):
        FieldOfExperts(n_filters=4, channels=3, init="tv")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        FieldOfExperts()(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="gamma"):
        huber(torch.zeros(3), 0.0)
