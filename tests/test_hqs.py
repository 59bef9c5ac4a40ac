"""The HQS schemes of the challenge's learned references (course_utils.hqs)."""

import math

import deepinv as dinv
import pytest
import torch
from deepinv.optim.dpir import get_DPIR_params as dinv_dpir_params
from safetensors.torch import save_model

import course_utils as cu
from course_utils import colour, hqs


def data_step_residual(z, x, y, physics, eta):
    """The optimality condition of z = prox_{ηF}(x): AᵀAz − Aᵀy + (z − x)/η = 0."""
    return physics.A_adjoint(physics.A(z) - y) + (z - x) / eta


def test_the_data_step_is_the_exact_prox_of_the_data_term():
    x = torch.rand(2, 3, 48, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y, physics = hqs.measure_patches(x, torch.Generator().manual_seed(1))
    physics = cu.make_physics(img_size=(3, 48, 40), dtype=torch.float64)
    for eta in (0.1, 1.0, 30.0):
        z = physics.prox_l2(x, y, eta)
        assert data_step_residual(z, x, y, physics, eta).abs().max() < 1e-10
        wrong = physics.prox_l2(x, y, 2 * eta)  # a plausible slip: the step off by two
        assert data_step_residual(wrong, x, y, physics, eta).abs().max() > 1e-3


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
    sigmas, etas, n_iter = hqs.dpir_schedule(cu.NOISE_SIGMA)
    assert n_iter == 8 and len(sigmas) == len(etas) == 8
    assert math.isclose(float(sigmas[0]), 49 / 255, rel_tol=1e-5)
    assert math.isclose(float(sigmas[-1]), cu.NOISE_SIGMA, rel_tol=1e-5)
    assert bool((sigmas[1:] < sigmas[:-1]).all())  # decreasing
    torch.testing.assert_close(etas, (sigmas / cu.NOISE_SIGMA) ** 2 / 0.23)
    assert hqs.DENOISER_SIGMA_MAX >= float(sigmas[0])  # the denoiser is trained on every σ_k


def test_measured_patches_have_the_official_blur_and_noise():
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    y, physics = hqs.measure_patches(x, torch.Generator().manual_seed(1))
    y2, _ = hqs.measure_patches(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and torch.equal(y, y2)
    noise = y - cu.fft_blur(x, cu.kernel_spectrum((64, 64)))
    assert abs(float(noise.std()) - cu.NOISE_SIGMA) < 0.001
    scale = torch.tensor([1.0, 0.5, 2.0, 0.0])
    y3, _ = hqs.measure_patches(x, torch.Generator().manual_seed(1), noise_scale=scale)
    torch.testing.assert_close(y3 - y, (y - physics.A(x)) * (scale.view(4, 1, 1, 1) - 1))


def test_the_validation_set_is_fixed():
    x, y, physics = hqs.validation_set(4)
    x2, y2, _ = hqs.validation_set(4)
    assert x.shape == (4, 3, 64, 64) and torch.equal(x, x2) and torch.equal(y, y2)
    assert tuple(physics.img_size) == (3, 64, 64)


def test_the_networks_have_the_documented_sizes():
    assert cu.n_params(hqs.small_drunet()) == 574_896
    assert cu.n_params(hqs.unrolled_hqs()) == 351_132


def test_the_opponent_transform_is_invertible_and_keeps_the_noise_white():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 8, 8, generator=g, dtype=torch.float64)
    torch.testing.assert_close(colour.from_opponent(hqs.to_opponent(x)), x)
    c = hqs.to_opponent(x)
    assert float(c.min()) >= 0 and float(c.max()) <= 1  # images in [0, 1] stay in [0, 1]
    m = colour.OPPONENT.double()
    cov = m @ m.T  # the covariance of M n for white n on R, G, B, divided by σ²
    torch.testing.assert_close(cov, torch.diag(m.norm(dim=1) ** 2))  # independent channels
    noise = 0.03 * torch.randn(1, 3, 256, 256, generator=g, dtype=torch.float64)
    stds = (hqs.to_opponent(noise) - colour.OPPONENT_OFFSET.double().view(1, 3, 1, 1)).std(
        (0, 2, 3)
    )
    torch.testing.assert_close(stds, 0.03 * m.norm(dim=1), rtol=0.02, atol=0)


def test_the_opponent_transform_commutes_with_the_blur_and_the_data_step():
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    physics = cu.make_physics(img_size=(3, 32, 32), dtype=torch.float64)
    torch.testing.assert_close(hqs.to_opponent(physics.A(x)), physics.A(hqs.to_opponent(x)))
    z = physics.prox_l2(hqs.to_opponent(x), hqs.to_opponent(y), 2.0)
    torch.testing.assert_close(hqs.to_opponent(physics.prox_l2(x, y, 2.0)), z)


def test_channelwise_priors_see_each_opponent_channel_alone():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    prior = hqs.small_drunet(nc=(4, 8, 8, 8))
    x = torch.rand(2, 3, 16, 16, generator=g)
    sigma = torch.tensor([0.05, 0.1])
    norms = colour.OPPONENT.norm(dim=1)
    with torch.no_grad():
        out = prior(x, sigma)
        c = hqs.to_opponent(x)
        alone = torch.stack(
            [
                torch.cat(
                    [
                        prior.denoiser(c[b : b + 1, k : k + 1], sigma[b : b + 1] * norms[k])
                        for k in range(3)
                    ],
                    dim=1,
                )[0]
                for b in range(2)
            ]
        )
        torch.testing.assert_close(out, colour.from_opponent(alone), atol=1e-6, rtol=1e-5)
        # the plausible slip, the noise level not scaled to each channel, changes the output:
        unscaled = prior.denoiser(c.reshape(6, 1, 16, 16), sigma.repeat_interleave(3))
        assert not torch.allclose(colour.from_opponent(unscaled.reshape(c.shape)), out, atol=1e-4)
        rgb = hqs.Channelwise(prior.denoiser, opponent=False)(x, sigma)  # R, G, B alone
        torch.testing.assert_close(
            rgb,
            prior.denoiser(x.reshape(6, 1, 16, 16), sigma.repeat_interleave(3)).reshape(x.shape),
        )
        gray = prior(x[:, :1], sigma)  # one channel: the denoiser itself
        torch.testing.assert_close(gray, prior.denoiser(x[:, :1], sigma))
    with pytest.raises(ValueError, match="1 \\(gray\\) or 3"):
        prior(x[:, :2], sigma)


def test_a_training_batch_is_one_opponent_channel_of_each_patch():
    data = hqs.training_patches(16, 64, seed=0)
    norms = colour.OPPONENT.norm(dim=1)
    seen_gray = seen_colour = False
    for step in range(16):
        x, scale = hqs.training_batch(data, step, 4, torch.Generator().manual_seed(step))
        again, _ = hqs.training_batch(data, step, 4, torch.Generator().manual_seed(step))
        assert x.shape == (4, 1, 16, 16) and scale.shape == (4,) and torch.equal(x, again)
        for i in range(4):
            patch = data[4 * step + i]
            c = hqs.to_opponent(patch[None])[0]
            (k,) = [k for k in range(3) if torch.equal(x[i, 0], c[k])]
            assert float(scale[i]) == float(norms[k])
            if torch.equal(patch[0], patch[1]) and torch.equal(patch[1], patch[2]):
                assert k == 0  # a gray patch gives its luminance, not a constant 1/2
                seen_gray = True
            else:
                seen_colour = True
    assert seen_gray and seen_colour


def test_pnp_dpir_is_deepinvs_dpir_and_takes_other_iteration_counts():
    sigmas, etas, n_iter = hqs.dpir_schedule(cu.NOISE_SIGMA)
    ref_sigmas, ref_etas, ref_iter = dinv_dpir_params(cu.NOISE_SIGMA)
    assert n_iter == ref_iter
    torch.testing.assert_close(sigmas, ref_sigmas)
    torch.testing.assert_close(etas, ref_etas)
    torch.manual_seed(0)
    denoiser = hqs.small_drunet(nc=(4, 8, 8, 8))
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    y, physics = hqs.measure_patches(x, torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = hqs.pnp_dpir(denoiser)(y, physics)
        theirs = dinv.optim.DPIR(sigma=cu.NOISE_SIGMA, denoiser=denoiser)(y, physics)
        four = hqs.pnp_dpir(denoiser, n_iter=4)(y, physics)
    torch.testing.assert_close(ours, theirs)
    assert not torch.allclose(four, ours, atol=1e-4)  # the iteration count is honoured
    assert len(hqs.dpir_schedule(cu.NOISE_SIGMA, 4)[0]) == 4
    with pytest.raises(ValueError, match="n_iter >= 2"):
        hqs.dpir_schedule(cu.NOISE_SIGMA, 1)


def test_untrained_unfolded_dpir_is_pnp_dpir_and_learns_a_positive_schedule(tmp_path):
    torch.manual_seed(0)
    denoiser = hqs.small_drunet(nc=(4, 8, 8, 8))
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    y, physics = hqs.measure_patches(x, torch.Generator().manual_seed(1))
    model = hqs.unfolded_dpir(denoiser, n_iter=4, lamb=0.3)
    sigmas, etas, _ = hqs.dpir_schedule(cu.NOISE_SIGMA, 4, lamb=0.3)
    schedule = hqs.unfolded_schedule(model)
    torch.testing.assert_close(torch.tensor(schedule["sigma"]), sigmas)
    torch.testing.assert_close(torch.tensor(schedule["stepsize"]), etas)
    with torch.no_grad():
        torch.testing.assert_close(
            model(y, physics), hqs.pnp_dpir(denoiser, n_iter=4, lamb=0.3)(y, physics)
        )
    # the noise levels are learned as logarithms: a step that would take σ_k below zero cannot
    names = [n for n, _ in model.named_parameters()]
    assert sum(n.startswith("params_algo.") for n in names) == 8  # 4 η_k and 4 log σ_k
    with torch.no_grad():
        model.params_algo["g_param"][3].sub_(10.0)
    assert 0 < hqs.unfolded_schedule(model)["sigma"][3] < 1e-5
    # the loader reads K and the denoiser's size from the file, and the learned schedule
    save_model(model, str(tmp_path / "u.safetensors"))
    loaded = hqs.load_unfolded_dpir(tmp_path / "u.safetensors")
    assert hqs.unfolded_schedule(loaded) == hqs.unfolded_schedule(model)
    with torch.no_grad():
        torch.testing.assert_close(loaded(y, physics), model(y, physics))
    save_model(denoiser, str(tmp_path / "d.safetensors"))  # a plausible mix-up of files
    with pytest.raises(ValueError, match="no unfolded_dpir weights"):
        hqs.load_unfolded_dpir(tmp_path / "d.safetensors")


def test_a_size_drunet_cannot_take_is_refused_with_the_fix():
    hqs.check_drunet_size(torch.zeros(1, 3, 256, 64))
    with pytest.raises(ValueError, match=r"divisible by 8, got \(250, 256\).*pad"):
        hqs.check_drunet_size(torch.zeros(1, 3, 250, 256))
