"""PSNR/SSIM follow the documented convention."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import course_utils as cu


@pytest.fixture
def pair():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=gen)
    x_hat = (x + 0.05 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    return x_hat, x


def test_psnr_matches_definition_and_skimage(pair):
    x_hat, x = pair
    mse = ((x_hat - x) ** 2).flatten(1).mean(1)
    expected = 10 * torch.log10(1 / mse)
    torch.testing.assert_close(cu.psnr(x_hat, x), expected, rtol=1e-4, atol=1e-4)
    ref = peak_signal_noise_ratio(x[0].numpy(), x_hat[0].numpy(), data_range=1)
    assert abs(cu.psnr(x_hat, x)[0].item() - ref) < 1e-3


def test_ssim_close_to_skimage_gaussian_ssim(pair):
    x_hat, x = pair
    ref = structural_similarity(
        x[0].permute(1, 2, 0).double().numpy(),
        x_hat[0].permute(1, 2, 0).double().numpy(),
        data_range=1,
        channel_axis=2,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    # torchmetrics and skimage treat the borders differently: agreement to ~1e-2.
    assert abs(cu.ssim(x_hat, x)[0].item() - ref) < 1e-2
    assert cu.ssim(x, x).allclose(torch.ones(2))


def test_estimate_is_clamped_before_scoring(pair):
    _, x = pair
    outside = x.clone()
    outside[..., :8, :8] = torch.where(x[..., :8, :8] > 0.5, 1.7, -0.7)
    clamped = outside.clamp(0, 1)
    torch.testing.assert_close(cu.psnr(outside, x), cu.psnr(clamped, x))
    torch.testing.assert_close(cu.ssim(outside, x), cu.ssim(clamped, x))
    # Clamping can only reduce the error against an x in [0, 1].
    raw_mse = ((outside - x) ** 2).flatten(1).mean(1)
    assert (cu.psnr(outside, x) >= 10 * torch.log10(1 / raw_mse) - 1e-4).all()


def test_ground_truth_outside_range_is_an_error(pair):
    x_hat, x = pair
    with pytest.raises(ValueError, match="ground truth"):
        cu.psnr(x_hat, x * 2)


def test_shape_mismatch_is_an_error(pair):
    x_hat, x = pair
    with pytest.raises(ValueError, match="same shape"):
        cu.ssim(x_hat[:1], x)


def test_one_value_per_image(pair):
    x_hat, x = pair
    assert cu.psnr(x_hat, x).shape == (2,)
    assert cu.ssim(x_hat, x).shape == (2,)
    assert np.isfinite(cu.psnr(x_hat, x).numpy()).all()
