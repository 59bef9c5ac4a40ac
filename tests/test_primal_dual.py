import pytest
import torch

import course_utils as cu
from course_utils import reference
from course_utils import tomography as ct
from course_utils.primal_dual import LearnedPrimalDual, ct_models, linear_lpd, pdhg_tv


@pytest.fixture(scope="module")
def setup():
    physics = ct.make_ct_physics(32, 12)
    x = ct.phantoms(2, "test", 32)
    y = ct.measure(physics, x, torch.Generator().manual_seed(0))
    return physics, x, y


def test_pdhg_tv_lowers_the_objective_and_beats_fbp(setup):
    physics, x, y = setup
    f = [
        float(cu.tv_objective(pdhg_tv(y, physics, 1e-3, k), y, physics, 1e-3).sum())
        for k in (5, 50, 200)
    ]
    assert f[0] > f[1] > f[2]
    fbp = physics.A_dagger(y, fbp=True)
    assert cu.psnr(pdhg_tv(y, physics, 1e-3, 200), x).mean() > cu.psnr(fbp, x).mean()
    # lam = 0: PDHG for least squares, written out
    tau, nu = 1.0, 0.9
    xk, xb, xi = fbp.clone(), fbp.clone(), torch.zeros_like(y)
    for _ in range(10):
        xi = (xi + nu * (physics.A(xb) - y)) / (1 + nu)
        x_new = xk - tau * physics.A_adjoint(xi)
        xk, xb = x_new, 2 * x_new - xk
    assert torch.allclose(pdhg_tv(y, physics, 0.0, 10, tau, norm_sq=0.99 / nu), xk, atol=1e-5)


def test_lpd_with_the_reference_coefficients_is_pdhg(setup):
    physics, _, y = setup
    d, P = reference.pdhg_lpd_coefficients(1.0, 0.99)
    K = 5
    net = linear_lpd(d, P, K)
    with torch.no_grad():
        err = (net(y, physics) - pdhg_tv(y, physics, 0.0, K, 1.0, norm_sq=1.0)).abs().max()
    assert float(err) < 1e-5


def test_networks_shapes_counts_and_gradients(setup):
    physics, x, y = setup
    models = ct_models(n_iter=2, nf=8)
    assert [cu.n_params(m) for m in models.values()] == [
        reference.lpd_parameter_count(2, 5, 5, 8, 3, dual) for dual in (False, True)
    ]
    again = ct_models(n_iter=2, nf=8)
    assert all(
        torch.equal(a, b) for a, b in zip(models.parameters(), again.parameters(), strict=True)
    )
    out = models["lpd"](y, physics)
    assert out.shape == x.shape
    (out - x).pow(2).mean().backward()
    assert all(p.grad is not None for p in models["lpd"].parameters())


def test_bad_inputs_are_refused(setup):
    physics, x, y = setup
    with pytest.raises(ValueError, match="lam >= 0"):
        pdhg_tv(y, physics, -1.0)
    with pytest.raises(ValueError, match=r"w \(3,\)"):
        linear_lpd(torch.zeros(2), torch.zeros(2, 3), 1)
    with pytest.raises(ValueError, match="n_primal >= 2"):
        LearnedPrimalDual(n_primal=1)
    with pytest.raises(ValueError, match="sinograms"):
        ct_models(n_iter=1)["lpd"](x.repeat(1, 2, 1, 1), physics)
