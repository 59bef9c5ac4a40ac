"""course_utils.autoencoder and course_utils.digits: shapes, formulas against torch.distributions,
errors that name the fix."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import course_utils as cu
from course_utils.autoencoder import (
    VAE,
    Autoencoder,
    Models,
    gaussian_kl,
    latent_map,
    latent_objective,
)


def test_digits_at_16_pixels_are_the_8_pixel_digits_upsampled():
    x8, c8 = cu.load_digits("test")
    x16, c16 = cu.load_digits("test", size=16)
    assert x16.shape == (450, 1, 16, 16) and torch.equal(c8, c16)
    assert 0 <= x16.min() and x16.max() <= 1
    assert torch.allclose(torch.nn.functional.avg_pool2d(x16, 2).mean(), x8.mean(), atol=1e-3)
    with pytest.raises(ValueError, match="size must be 8 or 16"):
        cu.load_digits("train", size=12)


def test_models_shapes_and_a_clear_error_for_8_pixel_digits():
    torch.manual_seed(0)
    x = cu.load_digits("test", size=16)[0][:5]
    ae, vae = Autoencoder(3), VAE(3)
    out = ae(x)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert vae.sample(4, torch.Generator().manual_seed(0)).shape == (4, 1, 16, 16)
    assert Models().classifier(x).shape == (5, 10)
    with pytest.raises(ValueError, match="size=16"):
        ae(cu.load_digits("test")[0][:5])
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        vae.decoder(torch.zeros(2, 4))


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected, atol=1e-5)


def test_one_sample_iw_bound_is_log_p_x_z_over_q_with_the_same_noise():
    torch.manual_seed(0)
    vae = VAE(2)
    x = cu.load_digits("test", size=16)[0][:3]
    with torch.no_grad():
        bound = vae.iw_bound(x, 1, torch.Generator().manual_seed(5))
        mu, logvar = vae.encode(x)
        eps = torch.randn((1, *mu.shape), generator=torch.Generator().manual_seed(5))[0]
        z = mu + (0.5 * logvar).exp() * eps
        s = vae.log_scale.exp()
        log_px = Normal(vae.decoder(z), s).log_prob(x).flatten(1).sum(1)
        log_pz = Normal(0.0, 1.0).log_prob(z).sum(1)
        log_q = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(1)
    assert torch.allclose(bound, log_px + log_pz - log_q, rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="n_samples"):
        vae.iw_bound(x, 0)


def test_latent_map_lowers_its_objective_and_leaves_the_decoder_trainable():
    torch.manual_seed(0)
    vae = VAE(4)
    x = cu.load_digits("test", size=16)[0][:6]
    physics, y = cu.inpainting_problem(x, seed=0)
    z0 = torch.zeros(6, 4)
    start = latent_objective(vae.decoder, physics.A, y, 0.05, z0)
    by_hand = (physics.A(vae.decoder(z0)) - y).pow(2).flatten(1).sum(1) / (2 * 0.05**2)
    assert torch.allclose(start, by_hand)  # z0 = 0: no prior term
    x_hat, z = latent_map(vae.decoder, physics.A, y, 0.05, z0, steps=30)
    with torch.no_grad():
        assert (latent_objective(vae.decoder, physics.A, y, 0.05, z) < start).all()
    assert x_hat.shape == x.shape and not z.requires_grad
    assert all(p.requires_grad for p in vae.decoder.parameters())
    with pytest.raises(ValueError, match="sigma > 0"):
        latent_map(vae.decoder, physics.A, y, 0.0, z0)


def test_glyphs_are_drawn_like_the_digits():
    g8 = cu.render_glyphs("AXZ", size=8)
    assert g8.shape == (3, 1, 8, 8)
    assert torch.equal(g8 * 16, (g8 * 16).round()) and g8.max() == 1  # block counts / 16
    assert cu.render_glyphs("AXZ").shape == (3, 1, 16, 16)
    assert not torch.equal(g8[0], g8[1])
    with pytest.raises(ValueError, match="without spaces"):
        cu.render_glyphs("A B")


def test_inpainting_problem_keeps_its_share_and_is_reproducible():
    x = cu.load_digits("test", size=16)[0][:100]
    physics, y = cu.inpainting_problem(x, seed=3, keep=0.4)
    mask = physics.mask
    assert mask.shape == x.shape and abs(float(mask.mean()) - 0.4) < 0.02
    assert torch.equal(y * (1 - mask), torch.zeros_like(y))
    noise = (y - x) * mask
    assert abs(float(noise.pow(2).sum() / mask.sum()) - 0.05**2) < 0.1 * 0.05**2
    assert torch.equal(cu.inpainting_problem(x, seed=3)[1], y)
    assert not torch.equal(cu.inpainting_problem(x, seed=4)[1], y)
    with pytest.raises(ValueError, match="keep"):
        cu.inpainting_problem(x, seed=0, keep=0.0)
    with pytest.raises(ValueError, match=r"\(B, 1, S, S\)"):
        cu.inpainting_problem(x[:, 0], seed=0)


def test_gaussian_gradient_variances_match_a_monte_carlo_estimate():
    from course_utils.reference import gaussian_gradient_variances

    zbar, omega, n = 0.7, 1.3, 2_000_000
    xi = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = zbar + omega * xi
    var_r, var_s = gaussian_gradient_variances(torch.tensor(zbar), torch.tensor(omega))
    assert math.isclose(float((2 * z).var()), float(var_r), rel_tol=0.01)
    assert math.isclose(float((z**2 * (z - zbar) / omega**2).var()), float(var_s), rel_tol=0.03)


def test_the_few_label_script_runs_and_writes_its_record(tmp_path):
    import json
    import subprocess
    import sys

    from course_utils.paths import REPO_DIR

    out = tmp_path / "few.json"
    script = REPO_DIR / "solutions/training/autoencoders/few_labels.py"
    subprocess.run([sys.executable, str(script), "--smoke", "--out", str(out)], check=True)
    record = json.loads(out.read_text())
    assert set(record["chosen"]) == {"scratch", "pretrained"}
    assert len(record["test accuracy"]["scratch"]) == len(record["test seeds"]) == 1


def test_few_label_split_keeps_the_validation_digits_out():
    from course_utils.autoencoder import FEW_LABELS_VALIDATION, few_label_split

    labels = cu.load_digits("train")[1]
    idx, val = few_label_split(labels, 0)
    assert len(val) == FEW_LABELS_VALIDATION and len(idx) == 100
    assert not set(idx.tolist()) & set(val.tolist())
    assert torch.equal(torch.bincount(labels[idx]), torch.full((10,), 10))
    assert torch.equal(few_label_split(labels, 1)[1], val)  # the same slice for every draw


def test_the_vae_posterior_adds_the_decoder_noise_to_the_measurement_noise():
    from course_utils.reference import vae_latent_neg_log_posterior

    torch.manual_seed(0)
    vae = VAE(3)
    x = cu.load_digits("test", size=16)[0][:4]
    physics, y = cu.inpainting_problem(x, seed=0)
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        value = vae_latent_neg_log_posterior(vae.decoder, physics.A, y, 0.05, 0.04, z)
        misfit = (physics.A(vae.decoder(z)) - y).pow(2).flatten(1).sum(1)
    assert torch.allclose(value, misfit / (2 * (0.05**2 + 0.04**2)) + z.pow(2).sum(1) / 2)
