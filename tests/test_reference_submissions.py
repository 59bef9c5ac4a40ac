"""The reference submissions in solutions/challenge/ keep their promises on the dev set."""

import importlib.util
from pathlib import Path

import torch

import course_utils as cu
from course_utils.challenge import rules

ROOT = Path(__file__).resolve().parents[1]
BILEVEL = ROOT / "solutions" / "challenge" / "bilevel_foe"


def load(folder: Path):
    spec = importlib.util.spec_from_file_location(
        f"submission_{folder.name}", folder / "submission.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_reconstructor(folder)


def test_the_bilevel_submission_beats_the_tv_baseline_on_the_dev_set():
    """At least 0.3 dB mean PSNR, and better on at least 4 of the 5 images (its README's claim)."""
    size_mb, problem = rules.check_submission_files(BILEVEL, rules.DEFAULT_MAX_WEIGHTS_MB)
    assert problem is None and size_mb < 1
    dev = cu.load_dev_set()
    physics = cu.make_physics()
    bilevel, baseline = load(BILEVEL), load(ROOT / "solutions" / "challenge" / "tv_baseline")
    gains = []
    for i in range(len(dev.x)):
        y, x = dev.y[i : i + 1], dev.x[i : i + 1]
        with torch.no_grad():
            ours = cu.psnr(bilevel(y, physics).clamp(0, 1), x)
            tv = cu.psnr(baseline(y, physics).clamp(0, 1), x)
        gains.append(float(ours - tv))
    assert sum(gains) / len(gains) >= 0.3, gains
    assert sum(g > 0 for g in gains) >= 4, gains
