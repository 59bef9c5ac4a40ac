"""The classical baselines: tuned values, convergence, and the problems they solve."""

import json

import pytest
import torch

import course_utils as cu
from course_utils import baseline
from course_utils.tune_baseline import TUNING_FILE


@pytest.fixture(scope="module")
def one_dev_image():
    dev = cu.load_dev_set()
    return dev.x[:1], dev.y[:1], cu.make_physics()


def test_constants_match_the_tuning_record():
    record = json.loads(TUNING_FILE.read_text())
    assert baseline.TV_LAMBDA == record["tv"]["best_lambda"]
    assert baseline.TV_ITERS == record["tv"]["chosen_iterations"]
    assert baseline.TIKHONOV_LAMBDA == record["tikhonov"]["best_lambda"]
    grid = record["tv"]["lambda_grid"]
    best = max(grid, key=lambda k: grid[k]["psnr"])
    assert float(best) == baseline.TV_LAMBDA


def test_tv_is_within_0_05_db_of_its_converged_psnr(one_dev_image):
    x, y, physics = one_dev_image
    p_default = cu.psnr(cu.tv_reconstruct(y, physics), x).item()
    p_converged = cu.psnr(cu.tv_reconstruct(y, physics, n_iter=1000), x).item()
    assert abs(p_default - p_converged) < 0.05, (p_default, p_converged)


def test_tv_minimises_its_objective(one_dev_image):
    _, y, physics = one_dev_image
    x_hat = cu.tv_reconstruct(y, physics, n_iter=300)
    f_hat = cu.tv_objective(x_hat, y, physics).item()
    assert f_hat < cu.tv_objective(y, y, physics).item()
    # Perturbing the solution cannot lower the objective (up to solver accuracy).
    gen = torch.Generator().manual_seed(0)
    for scale in (1e-2, 1e-3):
        bumped = x_hat + scale * torch.randn(x_hat.shape, generator=gen)
        assert cu.tv_objective(bumped, y, physics).item() > f_hat * (1 - 1e-5)


def test_tv_beats_the_input_and_tikhonov(one_dev_image):
    x, y, physics = one_dev_image
    p_y = cu.psnr(y, x).item()
    p_tik = cu.psnr(cu.tikhonov_reconstruct(y, physics), x).item()
    p_tv = cu.psnr(cu.tv_reconstruct(y, physics), x).item()
    assert p_tv > p_tik + 2 and p_tv > p_y + 4, (p_y, p_tik, p_tv)


def test_tikhonov_solves_the_normal_equations(one_dev_image):
    _, y, physics = one_dev_image
    lam = 0.05
    x_hat = cu.tikhonov_reconstruct(y.double(), physics, lam=lam)
    residual = physics.A_adjoint(physics.A(x_hat)) + lam * x_hat - physics.A_adjoint(y.double())
    assert residual.abs().max() < 1e-5


def test_total_variation_by_hand():
    x = torch.tensor([[0.0, 1.0], [0.0, 3.0]])[None, None]
    # forward differences, zero at the last row/column (Neumann):
    # pixel (0,0): (dx, dy) = (1, 0) -> 1 ; pixel (0,1): (0, 2) -> 2 ; pixel (1,0): (3, 0) -> 3
    assert baseline.total_variation(x).item() == pytest.approx(6.0)


@pytest.mark.parametrize("kwargs", [{"lam": 0}, {"lam": -1}, {"n_iter": 0}, {"tau": 0}])
def test_bad_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        cu.tv_reconstruct(torch.zeros(1, 3, 256, 256), **kwargs)


def test_bad_measurement_is_rejected():
    with pytest.raises(ValueError, match="batch axis"):
        cu.tv_reconstruct(torch.zeros(3, 256, 256))
    with pytest.raises(ValueError, match="lam"):
        cu.tikhonov_reconstruct(torch.zeros(1, 3, 256, 256), lam=0)
