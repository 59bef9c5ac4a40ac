"""plot_comparison puts the right metrics in the titles and checks its input."""

import matplotlib.pyplot as plt  # the Agg backend is set by conftest.py
import pytest
import torch

import course_utils as cu


def test_titles_carry_the_course_metrics():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=gen)
    est = (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    fig = cu.plot_comparison(x, {"noisy": est, "truth again": x}, indices=[0, 1])
    axes = fig.axes
    assert len(axes) == 6  # 2 rows x (ground truth + 2 panels)
    titles = [ax.get_title() for ax in axes]
    assert titles[0] == "ground truth"
    assert f"PSNR {cu.psnr(est[1:2], x[1:2]).item():.2f} dB" in titles[4]
    assert f"SSIM {cu.ssim(est[1:2], x[1:2]).item():.3f}" in titles[4]
    plt.close(fig)


def test_without_ground_truth_titles_are_names_only():
    fig = cu.plot_comparison(None, {"y": torch.rand(1, 1, 16, 16)})
    assert [ax.get_title() for ax in fig.axes] == ["y"]
    plt.close(fig)


def test_ground_truth_must_be_an_image_in_range():
    with pytest.raises(ValueError, match="x_true"):
        cu.plot_comparison(torch.rand(1, 3, 16, 16) * 3, {"y": torch.rand(1, 3, 16, 16)})
