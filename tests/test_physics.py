"""The official operator: kernel provenance, adjoint, noise reproducibility, input checks."""

import numpy as np
import pytest
import torch

import course_utils as cu
from course_utils.physics import KERNEL_FILE, generate_kernel


def test_shipped_kernel_matches_its_recipe():
    shipped = cu.load_kernel()
    assert shipped.shape == (1, 1, 25, 25)
    torch.testing.assert_close(shipped, generate_kernel(), rtol=0, atol=1e-6)
    assert shipped.min() >= 0
    assert abs(float(shipped.sum()) - 1) < 1e-5


def test_kernel_checksum_is_enforced(tmp_path, monkeypatch):
    bad = tmp_path / KERNEL_FILE.name
    np.save(bad, np.ones((25, 25), np.float32) / 625, allow_pickle=False)
    monkeypatch.setattr("course_utils.physics.KERNEL_FILE", bad)
    with pytest.raises(ValueError, match="was modified"):
        cu.load_kernel()


def test_adjoint_test_passes_for_the_operator_and_fails_for_a_wrong_adjoint():
    physics = cu.make_physics()
    assert cu.adjoint_test(physics.A, physics.A_adjoint, (1, 3, 256, 256)) < 1e-12
    # Using A itself as its adjoint is wrong for a non-symmetric motion kernel.
    assert cu.adjoint_test(physics.A, physics.A, (1, 3, 256, 256)) > 1e-3


def test_blur_is_circular_convolution_with_the_kernel():
    physics = cu.make_physics()
    x = torch.zeros(1, 3, 256, 256)
    x[..., 0, 0] = 1.0  # an impulse in the corner wraps around the borders
    y = physics.A(x)
    k = cu.load_kernel()[0, 0]
    psf = torch.roll(y[0, 0], shifts=(12, 12), dims=(0, 1))[:25, :25]
    torch.testing.assert_close(psf, k, atol=1e-6, rtol=0)
    torch.testing.assert_close(y.sum(), torch.tensor(3.0), atol=1e-4, rtol=0)


def test_measure_is_reproducible_and_independent_of_the_batch():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 256, 256, generator=gen)
    y = cu.measure(x, seed=7)
    torch.testing.assert_close(cu.measure(x, seed=7), y, rtol=0, atol=0)
    # image 1 of the batch gets seed 8, whatever else is in the batch
    torch.testing.assert_close(cu.measure(x[1:2], seed=8), y[1:2], rtol=0, atol=0)
    assert not torch.equal(cu.measure(x, seed=9), y)
    noise = y - cu.make_physics().A(x)
    assert abs(noise.std().item() - cu.NOISE_SIGMA) < 1e-3


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.rand(3, 256, 256), "batch axis"),
        (torch.rand(1, 1, 256, 256), "3 channels"),
        (torch.rand(1, 3, 128, 128), "256x256"),
        (torch.rand(1, 3, 256, 256) * 255, "divide by 255"),
        (torch.full((1, 3, 256, 256), float("nan")), "NaN"),
    ],
)
def test_measure_rejects_bad_input(x, match):
    with pytest.raises(ValueError, match=match):
        cu.measure(x, seed=0)


def test_measure_rejects_integer_images():
    with pytest.raises(TypeError, match="x.float\\(\\) / 255"):
        cu.measure(torch.zeros(1, 3, 256, 256, dtype=torch.uint8), seed=0)


def test_make_physics_rejects_bad_noise_level():
    with pytest.raises(ValueError, match="noise_sigma"):
        cu.make_physics(noise_sigma=-0.1)


def test_padded_kernel_spectrum_is_the_eigenvalues_of_the_operator():
    physics = cu.make_physics()
    kappa = torch.fft.rfft2(cu.padded_kernel((256, 256), torch.float32))
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    by_hand = torch.fft.irfft2(torch.fft.rfft2(x) * kappa, s=(256, 256))
    assert torch.allclose(by_hand, physics.A(x), atol=1e-5)
    k = cu.padded_kernel((40, 30))
    assert k.shape == (40, 30) and k.dtype == torch.float64
    assert k.sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="odd"):
        cu.padded_kernel((8, 8), kernel=torch.ones(2, 2))
    with pytest.raises(ValueError, match="smaller"):
        cu.padded_kernel((10, 10))
