"""Choose DPIR's schedule for the trained denoiser on the validation patches, never the dev set.

DPIR's published schedule (K = 8 iterations, σ_1 = 49/255, λ = 0.23) was tuned for a DRUNet
trained on large photograph collections. This script scores a grid of (K, σ_1, λ) with the
course's denoiser on ``course_utils.hqs.validation_set`` (patches of the held-out last quarter
of each training photograph) and writes the best to ``schedule.json`` beside the weights, with
the whole grid; ``submission.py`` reads it.

Run (a few minutes on 2 CPU cores)::

    python solutions/challenge/pnp_drunet/tune_schedule.py --threads 2
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

import course_utils as cu
from course_utils import hqs

HERE = Path(__file__).resolve().parent
GRID = {
    "n_iter": [8, 12, 16, 24],
    "start": [hqs.DPIR_START, 0.1, 0.06],
    "lamb": [0.1, 0.15, 0.23, 0.3, 0.4, 0.5],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=HERE / "pnp_drunet.safetensors")
    parser.add_argument("--out", type=Path, default=HERE / "schedule.json")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    denoiser = hqs.load_small_drunet(args.weights)
    x, y, physics = hqs.validation_set()
    t0 = time.perf_counter()
    grid = []
    for n_iter, start, lamb in tqdm(list(itertools.product(*GRID.values())), desc="schedules"):
        with torch.no_grad():
            out = hqs.pnp_dpir(denoiser, n_iter=n_iter, start=start, lamb=lamb)(y, physics)
        score = float(cu.psnr(out, x).mean())
        grid.append({"n_iter": n_iter, "start": start, "lamb": lamb, "val psnr": round(score, 3)})
    best = max(grid, key=lambda g: g["val psnr"])
    published = next(
        g for g in grid if (g["n_iter"], g["start"], g["lamb"]) == (8, hqs.DPIR_START, 0.23)
    )
    record = {
        "command": "python solutions/challenge/pnp_drunet/tune_schedule.py --threads "
        f"{args.threads}",
        "weights sha256": hashlib.sha256(args.weights.read_bytes()).hexdigest(),
        "validation": hqs.validation_record(x, y, physics),
        "seconds": round(time.perf_counter() - t0, 1),
        "chosen": {k: best[k] for k in ("n_iter", "start", "lamb")},
        "chosen val psnr": best["val psnr"],
        "published schedule val psnr": published["val psnr"],
        "grid": grid,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(
        f"chosen {record['chosen']}: {best['val psnr']:.2f} dB on the validation patches "
        f"(DPIR's published schedule {published['val psnr']:.2f}); wrote {args.out}"
    )


if __name__ == "__main__":
    main()
