"""The reference submissions in solutions/challenge/ keep their promises on the dev set."""

import hashlib
import json
import time
from pathlib import Path

import pytest
import torch

import course_utils as cu
from course_utils.challenge import rules
from course_utils.checkpoints import read_record

ROOT = Path(__file__).resolve().parents[1]
CHALLENGE = ROOT / "solutions" / "challenge"


def dev_psnr(name: str) -> tuple[list[float], float]:
    """Per-image PSNR of a reference on the dev set, and its seconds for the whole set."""
    dev = cu.load_dev_set()
    physics = cu.make_physics()
    reconstruct = rules.load_submission(CHALLENGE / name)
    scores, t0 = [], time.perf_counter()
    for i in range(len(dev.x)):
        with torch.no_grad():
            out = reconstruct(dev.y[i : i + 1], physics)
        scores.append(float(cu.psnr(out.clamp(0, 1), dev.x[i : i + 1])))
    return scores, time.perf_counter() - t0


@pytest.fixture(scope="module")
def tv_dev_psnr():
    return dev_psnr("tv_baseline")[0]


def gains_over_tv(name, tv, max_mb, max_seconds=None):
    size_mb, problem = rules.check_submission_files(CHALLENGE / name, rules.DEFAULT_MAX_WEIGHTS_MB)
    assert problem is None and size_mb < max_mb, (size_mb, problem)
    scores, seconds = dev_psnr(name)
    if max_seconds is not None:
        assert seconds < max_seconds, f"{name} took {seconds:.1f} s for the dev set"
    return [s - t for s, t in zip(scores, tv, strict=True)]


def test_the_bilevel_submission_beats_the_tv_baseline_on_the_dev_set(tv_dev_psnr):
    """At least 0.3 dB mean PSNR, and better on at least 4 of the 5 images (its README's claim)."""
    gains = gains_over_tv("bilevel_foe", tv_dev_psnr, max_mb=1)
    assert sum(gains) / len(gains) >= 0.3, gains
    assert sum(g > 0 for g in gains) >= 4, gains


def test_the_unrolled_submission_beats_the_tv_baseline_on_the_dev_set(tv_dev_psnr):
    """Its README's claims: +0.41 dB mean PSNR (asserted: 0.2), better on 4 of the 5 images,
    at most 10 MB, the dev set in well under a minute."""
    gains = gains_over_tv("unrolled_hqs", tv_dev_psnr, max_mb=10, max_seconds=30)
    assert sum(gains) / len(gains) >= 0.2, gains
    assert sum(g > 0 for g in gains) >= 4, gains


def test_load_submission_imports_the_folders_own_modules_as_the_scorer_does(tmp_path):
    (tmp_path / "helpers_for_this_test.py").write_text(
        "def reconstruct(y, physics):\n    return y\n"
    )
    (tmp_path / "submission.py").write_text(
        "from helpers_for_this_test import reconstruct\n\n\n"
        "def load_reconstructor(folder):\n    return reconstruct\n"
    )
    y = torch.ones(1, 3, 4, 4)
    assert rules.load_submission(tmp_path)(y, None) is y


def test_load_submission_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="submission.py"):
        rules.load_submission(tmp_path)
    (tmp_path / "submission.py").write_text("x = 1\n")
    with pytest.raises(AttributeError, match="load_reconstructor"):
        rules.load_submission(tmp_path)


def test_the_plug_and_play_submission_beats_the_tv_baseline_on_the_dev_set(tv_dev_psnr):
    """Its README's claims and the course's target: +2.13 dB mean PSNR (asserted: 2.0), better
    on all 5 images by at least 1 dB, at most 10 MB, the dev set in well under a minute."""
    gains = gains_over_tv("pnp_drunet", tv_dev_psnr, max_mb=10, max_seconds=30)
    assert sum(gains) / len(gains) >= 2.0, gains
    assert all(g > 1.0 for g in gains), gains


def pnp_record(name: str, script: str) -> dict:
    """A record beside the plug-and-play weights, checked to belong to them."""
    folder = CHALLENGE / "pnp_drunet"
    record = json.loads((folder / name).read_text())
    weights = (folder / "pnp_drunet.safetensors").read_bytes()
    assert record["weights sha256"] == hashlib.sha256(weights).hexdigest(), (
        f"{name} was made for other weights: after retraining pnp_drunet, run "
        f"python solutions/challenge/pnp_drunet/{script}"
    )
    return record


def test_the_plug_and_play_schedule_is_the_best_of_its_grid_for_the_shipped_weights():
    record = pnp_record("schedule.json", "tune_schedule.py")
    best = max(record["grid"], key=lambda g: g["val psnr"])
    assert record["chosen"] == {k: best[k] for k in ("n_iter", "start", "lamb")}
    assert record["chosen val psnr"] == best["val psnr"]


def test_the_plug_and_play_denoiser_is_not_non_expansive_as_its_card_says():
    """jacobian.json (lower estimates of Jacobian norms) belongs to the shipped weights, and
    every level shows ||J(2f - I)|| > 2.5 and ||J(I - f)||, ||J(f)|| > 1."""
    record = pnp_record("jacobian.json", "jacobian.py")
    levels = record["largest over the patches, per level"]
    assert len(levels) == 8
    assert all(r["2f - I"] > 2.5 and r["I - f"] > 1 and r["f"] > 1 for r in levels), levels


def test_the_unfolded_submission_beats_the_tv_baseline_on_the_dev_set(tv_dev_psnr):
    """Its README's claims: +2.40 dB mean PSNR (asserted: 2.2),
    better on all 5 images by at least 1 dB, at most 10 MB, the dev set in well under a minute."""
    gains = gains_over_tv("unfolded_dpir", tv_dev_psnr, max_mb=10, max_seconds=30)
    assert sum(gains) / len(gains) >= 2.2, gains
    assert all(g > 1.0 for g in gains), gains


def test_the_unfolded_submission_started_from_the_shipped_plug_and_play_weights():
    """Its record names the denoiser and the schedule it was fine-tuned from: they must be the
    shipped pnp_drunet ones (retrain unfolded_dpir after pnp_drunet)."""
    record = read_record(CHALLENGE / "unfolded_dpir" / "unfolded_dpir.safetensors")
    start = record["config"]["started from"]
    pnp = CHALLENGE / "pnp_drunet"
    assert (
        start["denoiser sha256"]
        == hashlib.sha256((pnp / "pnp_drunet.safetensors").read_bytes()).hexdigest()
    ), "pnp_drunet was retrained: run solutions/challenge/unfolded_dpir/train.py"
    assert start["schedule"] == json.loads((pnp / "schedule.json").read_text())["chosen"]
