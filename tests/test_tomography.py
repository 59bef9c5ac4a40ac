import deepinv as dinv
import pytest
import torch

import course_utils as cu
from course_utils import tomography as ct


def test_ct_operator_is_normalised_and_its_adjoint_passes_the_test():
    physics = ct.make_ct_physics(32, 12)
    x = ct.shepp_logan(32)
    y = physics.A(x)
    assert y.shape == (1, 1, 46, 12)  # ceil(sqrt(2) * 32) detector pixels, 12 angles
    assert abs(physics.compute_sqnorm(torch.randn(1, 1, 32, 32), verbose=False) - 1) < 1e-2
    err = cu.adjoint_test(physics.A, physics.A_adjoint, (2, 1, 32, 32), dtype=torch.float32)
    assert err < 1e-5
    # negative control: the adjoint of the older iradon-based back-projection is off
    old = dinv.physics.Tomography(
        angles=12, img_width=32, circle=False, normalize=True, adjoint_via_backprop=False
    )
    assert cu.adjoint_test(old.A, old.A_adjoint, (2, 1, 32, 32), dtype=torch.float32) > 1e-3


def test_measurements_have_the_stated_noise_and_phantom_sets_are_fixed_and_disjoint():
    physics = ct.make_ct_physics(32, 12)
    x = ct.phantoms(4, "train", 32)
    assert x.shape == (4, 1, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.equal(x, ct.phantoms(4, "train", 32))
    assert not torch.equal(x, ct.phantoms(4, "test", 32))
    y = ct.measure(physics, x, torch.Generator().manual_seed(0), noise_level=0.02)
    noise = y - physics.A(x)
    sigma = ct.noise_sigma(physics, 32, 0.02)
    assert sigma > 0 and abs(float(noise.std()) / sigma - 1) < 0.1
    assert ct.measure(physics, x, torch.Generator().manual_seed(0), noise_level=0.0).equal(
        physics.A(x)
    )


def test_bad_ct_inputs_are_refused():
    physics = ct.make_ct_physics(32, 12)
    with pytest.raises(ValueError, match="size"):
        ct.make_ct_physics(8)
    with pytest.raises(ValueError, match="split"):
        ct.phantoms(3, "dev")
    with pytest.raises(ValueError, match=r"\(B, 1, size, size\)"):
        ct.measure(physics, torch.zeros(1, 3, 32, 32), torch.Generator())


def test_the_matrix_copy_equals_the_operator_and_its_gradients_are_the_adjoint():
    physics = ct.make_ct_physics(32, 12)
    matrix = ct.MatrixTomography(physics, 32)
    x = ct.phantoms(2, "train", 32)
    y = physics.A(x)
    assert (matrix.A(x) - y).abs().max() < 1e-5 * y.abs().max()
    assert (matrix.A_adjoint(y) - physics.A_adjoint(y)).abs().max() < 1e-5 * y.abs().max() * 32
    assert cu.adjoint_test(matrix.A, matrix.A_adjoint, (2, 1, 32, 32), dtype=torch.float32) < 1e-5
    assert torch.equal(matrix.A_dagger(y, fbp=True), physics.A_dagger(y, fbp=True))
    u = x.clone().requires_grad_()
    v = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    (matrix.A(u) * v).sum().backward()
    assert torch.allclose(u.grad, matrix.A_adjoint(v), atol=1e-6)
    with pytest.raises(ValueError, match=r"\(B, 1, 32, 32\)"):
        matrix.A(torch.zeros(1, 1, 16, 16))
