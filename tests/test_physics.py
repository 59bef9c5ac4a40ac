"""The official operator: kernel provenance, adjoint, noise reproducibility, input checks."""

import numpy as np
import pytest
import torch

import course_utils as cu
from course_utils.kernel import (
    KERNEL_FILE,
    check_kernel_provenance,
    generate_kernel,
    kernel_from_trajectory,
    recipe_trajectory,
)


def test_shipped_kernel_is_a_normalised_histogram():
    shipped = cu.load_kernel()
    assert shipped.shape == (1, 1, 25, 25)
    assert shipped.min() >= 0
    assert abs(float(shipped.sum()) - 1) < 1e-5
    counts = shipped.double() * 159
    torch.testing.assert_close(counts, counts.round(), rtol=0, atol=1e-4)


def test_recipe_trajectory_is_the_one_deepinv_bins():
    # The trajectory the provenance check reasons about is exactly deepinv's, on any CPU.
    assert torch.equal(kernel_from_trajectory(recipe_trajectory()), generate_kernel())


def test_shipped_kernel_matches_its_recipe_up_to_rounding_moves():
    report = check_kernel_provenance()
    assert report["samples"] == 159
    # Only points within a rounding distance of a bin edge may move: few of the 159.
    assert 0 < report["movable"] <= 30, report
    assert report["moved"] <= report["movable"]
    assert report["l1"] <= report["l1_bound"] <= 2 * 30 / 159


def test_provenance_check_passes_for_a_simulated_other_cpu():
    trajectory = recipe_trajectory()
    gen = torch.Generator().manual_seed(0)
    wobble = 1e-6 * torch.randn(trajectory.shape, generator=gen)
    assert check_kernel_provenance(trajectory=trajectory * (1 + wobble))["l1"] <= 6 / 159
    # The same trajectory filtered in float64 is a larger, realistic change of floating-point
    # path: a few points cross a bin edge, as between two CPUs, and the check still passes.
    other_cpu = kernel_from_trajectory(recipe_trajectory(torch.float64))
    report = check_kernel_provenance(kernel=other_cpu)
    assert 1 <= report["moved"] <= report["movable"], report


def _other_seed_kernel(seed):
    import deepinv as dinv

    gen = dinv.physics.generator.MotionBlurGenerator(
        (25, 25), rng=torch.Generator().manual_seed(seed), l=0.5, sigma=0.5
    )
    return gen.step(batch_size=1)["filter"]


@pytest.mark.parametrize(
    "make_kernel",
    [
        lambda: _other_seed_kernel(0),
        lambda: _other_seed_kernel(3),
        lambda: torch.roll(cu.load_kernel(), 1, dims=-1),
        lambda: torch.roll(cu.load_kernel(), 1, dims=-2),
        lambda: torch.ones(1, 1, 25, 25) / 625,
    ],
    ids=["seed-0", "seed-3", "shift-x", "shift-y", "flat"],
)
def test_provenance_check_rejects_another_kernel(make_kernel):
    with pytest.raises(ValueError, match="recipe"):
        check_kernel_provenance(kernel=make_kernel())


def test_provenance_check_rejects_a_single_move_of_a_point_far_from_an_edge():
    # Within the L1 bound, but no rounding can move this point: the check is finer than L1.
    trajectory = recipe_trajectory().double()
    u = (trajectory + 1) * 25 / 2
    margin = torch.minimum(u - u.floor(), u.ceil() - u).min(dim=1).values
    far = int(margin.argmax())
    row, col = u[far].floor().long().tolist()
    counts = (cu.load_kernel()[0, 0].double() * 159).round()
    counts[row, col] -= 1
    counts[row, (col + 1) % 25] += 1
    moved = (counts / (159 + 1e-6)).float()[None, None]
    with pytest.raises(ValueError, match="more than rounding can explain"):
        check_kernel_provenance(kernel=moved)


def test_kernel_checksum_is_enforced(tmp_path, monkeypatch):
    bad = tmp_path / KERNEL_FILE.name
    np.save(bad, np.ones((25, 25), np.float32) / 625, allow_pickle=False)
    monkeypatch.setattr("course_utils.kernel.KERNEL_FILE", bad)
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
    torch.testing.assert_close(cu.measure(x[:2], seed=7), y[:2], rtol=0, atol=0)
    assert not torch.equal(cu.measure(x, seed=8), y)
    noise = y - cu.make_physics().A(x)
    assert abs(noise.std().item() - cu.NOISE_SIGMA) < 1e-3
    # the dev set's rule: image i gets seed + i, so image 1 of seed 7 is image 0 of seed 8
    y_old = cu.measure(x, seed=7, streams="consecutive")
    torch.testing.assert_close(cu.measure(x[1:2], seed=8, streams="consecutive"), y_old[1:2])


def test_hashed_noise_seeds_are_unrelated_to_each_other_and_to_the_seed():
    from course_utils.physics import noise_seed

    seeds = [noise_seed(12345, i) for i in range(100)]
    assert len(set(seeds)) == 100 and all(0 <= s < 2**63 for s in seeds)
    # neither seed + i nor any small offset of the set's seed
    assert not set(seeds) & set(range(12345 - 1000, 12345 + 1100))
    assert noise_seed(12345, 1) != noise_seed(12346, 0)  # unlike consecutive streams
    assert noise_seed(12345, 1, "consecutive") == noise_seed(12346, 0, "consecutive") == 12346
    with pytest.raises(ValueError, match="streams"):
        noise_seed(1, 0, "sequential")


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


def test_fft_blur_is_the_official_operator_and_its_adjoint():
    physics = cu.make_physics()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 256, 256, generator=gen)
    kappa = cu.kernel_spectrum((256, 256), torch.float32)
    assert cu.relative_error(cu.fft_blur(x, kappa), physics.A(x)) < 1e-6
    assert cu.relative_error(cu.fft_blur(x, kappa, adjoint=True), physics.A_adjoint(x)) < 1e-6
    # the adjoint is not the blur itself: the kernel is not symmetric
    assert cu.relative_error(cu.fft_blur(x, kappa, adjoint=True), physics.A(x)) > 0.01
    small = cu.kernel_spectrum((32, 32))
    err = cu.adjoint_test(
        lambda u: cu.fft_blur(u, small), lambda v: cu.fft_blur(v, small, adjoint=True), (32, 32)
    )
    assert err < 1e-13


def test_fft_blur_refuses_a_spectrum_of_another_size():
    with pytest.raises(ValueError, match="kernel_spectrum"):
        cu.fft_blur(torch.zeros(1, 1, 64, 64), cu.kernel_spectrum((32, 32)))


def test_make_physics_on_crops_and_grey_images_is_fft_blur():
    x = torch.rand(2, 1, 64, 48, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    physics = cu.make_physics(img_size=(1, 64, 48), dtype=torch.float64)
    assert (physics.A(x) - cu.fft_blur(x, cu.kernel_spectrum((64, 48)))).abs().max() < 1e-12
    with pytest.raises(ValueError, match="img_size"):
        cu.make_physics(img_size=(1, 16, 16))
