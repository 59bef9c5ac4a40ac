"""The HQS schemes of the challenge's learned references (course_utils.hqs)."""

import math

import pytest
import torch

import course_utils as cu
from course_utils import hqs


def data_step_residual(u, x, y, physics, gamma):
    """The optimality condition of u = prox_{γf}(x): AᵀAu − Aᵀy + (u − x)/γ = 0."""
    return physics.A_adjoint(physics.A(u) - y) + (u - x) / gamma


def test_the_data_step_is_the_exact_prox_of_the_data_term():
    x = torch.rand(2, 3, 48, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y, physics = hqs.measure_patches(x, torch.Generator().manual_seed(1))
    physics = cu.make_physics(img_size=(3, 48, 40), dtype=torch.float64)
    for gamma in (0.1, 1.0, 30.0):
        u = physics.prox_l2(x, y, gamma)
        assert data_step_residual(u, x, y, physics, gamma).abs().max() < 1e-10
        wrong = physics.prox_l2(x, y, 2 * gamma)  # a plausible slip: the step off by two
        assert data_step_residual(wrong, x, y, physics, gamma).abs().max() > 1e-3


def test_an_untrained_unrolled_network_is_hqs_with_the_identity_as_prior():
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    y, physics = hqs.measure_patches(x, torch.Generator().manual_seed(1))
    model = hqs.unrolled_hqs(n_iter=3, depth=3, nf=8, stepsize=0.5)
    assert hqs.stepsizes(model) == [0.5] * 3
    with torch.no_grad():
        out = model(y, physics)
    z = physics.A_adjoint(y)
    for _ in range(3):
        z = physics.prox_l2(z, y, 0.5)
    torch.testing.assert_close(out, z, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="n_iter"):
        hqs.unrolled_hqs(n_iter=0)


def test_a_negative_step_size_is_reported():
    model = hqs.unrolled_hqs(n_iter=2, depth=2, nf=4)
    hqs.check_stepsizes(model)
    with torch.no_grad():
        model.params_algo["stepsize"][1].fill_(-0.1)
    with pytest.raises(ValueError, match=r"\(1, -0.1"):
        hqs.check_stepsizes(model)


def test_the_dpir_schedule_is_the_papers():
    sigmas, gammas, n_iter = hqs.dpir_schedule(cu.NOISE_SIGMA)
    assert n_iter == 8 and len(sigmas) == len(gammas) == 8
    assert math.isclose(float(sigmas[0]), 49 / 255, rel_tol=1e-5)
    assert math.isclose(float(sigmas[-1]), cu.NOISE_SIGMA, rel_tol=1e-5)
    assert bool((sigmas[1:] < sigmas[:-1]).all())  # decreasing
    torch.testing.assert_close(gammas, (sigmas / cu.NOISE_SIGMA) ** 2 / 0.23)
    assert hqs.DENOISER_SIGMA_MAX >= float(sigmas[0])  # the denoiser is trained on every σ_k


def test_measured_patches_have_the_official_blur_and_noise():
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    y, physics = hqs.measure_patches(x, torch.Generator().manual_seed(1))
    y2, _ = hqs.measure_patches(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and torch.equal(y, y2)
    noise = y - cu.fft_blur(x, cu.kernel_spectrum((64, 64)))
    assert abs(float(noise.std()) - cu.NOISE_SIGMA) < 0.001


def test_the_validation_set_is_fixed():
    x, y, physics = hqs.validation_set(4)
    x2, y2, _ = hqs.validation_set(4)
    assert x.shape == (4, 3, 64, 64) and torch.equal(x, x2) and torch.equal(y, y2)
    assert tuple(physics.img_size) == (3, 64, 64)


def test_the_small_drunet_has_the_documented_size():
    assert cu.n_params(hqs.small_drunet()) == 575_472


def test_colour_augmentation_tints_gray_patches_and_permutes_channels():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 8, 8, generator=g)
    x[:32] = x[:32, :1].expand(-1, 3, -1, -1)  # gray patches
    z = hqs.colour_augment(x, torch.Generator().manual_seed(1))
    assert z.shape == x.shape and 0 <= float(z.min()) and float(z.max()) <= 1
    spread = (z - z.mean(1, keepdim=True)).abs().amax(dim=(1, 2, 3))
    assert bool((spread[:32] > 1e-3).all())  # no gray patch stays gray
    for i in range(32, 64):  # colour patches: the same channels, in some order
        assert sorted(map(tuple, z[i].flatten(1).tolist())) == sorted(
            map(tuple, x[i].flatten(1).tolist())
        )
