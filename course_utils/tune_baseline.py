"""Tune the classical baselines on the public dev set and record the result.

    python -m course_utils.tune_baseline        # about 6 minutes on 2 idle cores

Grid-searches lam for TV (each run converged, 2000 iterations) and for Tikhonov, then finds
the fewest TV iterations from which the PSNR stays within 0.01 dB of its converged value,
and writes everything to ``data/challenge/baseline_tuning.json``. Copy the chosen values
into ``baseline.py``; ``tests/test_baseline.py`` checks that they match the record.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from .baseline import tikhonov_reconstruct, tv_reconstruct
from .paths import DATA_DIR

TUNING_FILE = DATA_DIR / "challenge" / "baseline_tuning.json"
RULE = "fewest iterations from which every longer run is within 0.01 dB of 2000 iterations"


def _tune() -> dict:
    """Grid-search lam for TV and Tikhonov on the dev set, then the TV iteration count."""
    from .data import load_dev_set
    from .metrics import psnr, ssim
    from .physics import make_physics

    dev = load_dev_set()
    physics = make_physics()
    converged_iters = 2000

    def score(x_hat):
        return float(psnr(x_hat, dev.x).mean()), float(ssim(x_hat, dev.x).mean())

    tv_grid = [0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.01, 0.012]
    tv = {lam: score(tv_reconstruct(dev.y, physics, lam, converged_iters)) for lam in tv_grid}
    best_lam = max(tv, key=lambda lam: tv[lam][0])
    converged = tv[best_lam][0]
    iters = {}
    for n in [25, 50, 75, 100, 150, 200, 300, 500]:
        start = time.perf_counter()
        x_hat = tv_reconstruct(dev.y, physics, best_lam, n)
        seconds_per_image = (time.perf_counter() - start) / dev.y.shape[0]
        iters[n] = (score(x_hat)[0], seconds_per_image)
    # The PSNR overshoots before it settles: ask that every longer run stays close too.
    n_ok = min(
        n for n in iters if all(abs(converged - iters[m][0]) <= 0.01 for m in iters if m >= n)
    )

    tik_grid = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]
    tik = {lam: score(tikhonov_reconstruct(dev.y, physics, lam)) for lam in tik_grid}
    return {
        "objective": "mean dev-set PSNR (course_utils.metrics)",
        "tv": {
            "lambda_grid": {str(k): {"psnr": v[0], "ssim": v[1]} for k, v in tv.items()},
            "lambda_grid_iterations": converged_iters,
            "best_lambda": best_lam,
            "converged_psnr": converged,
            "psnr_and_seconds_per_image_by_iterations": {str(k): v for k, v in iters.items()},
            "chosen_iterations": n_ok,
            "rule": RULE,
        },
        "machine": f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}",
        "tikhonov": {
            "lambda_grid": {str(k): {"psnr": v[0], "ssim": v[1]} for k, v in tik.items()},
            "best_lambda": max(tik, key=lambda lam: tik[lam][0]),
        },
        "blurred_input": dict(zip(("psnr", "ssim"), score(dev.y), strict=True)),
    }


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    torch.set_num_threads(2)
    record = _tune()
    TUNING_FILE.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
