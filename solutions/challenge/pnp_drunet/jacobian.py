"""Measure the Lipschitz-type constants that plug-and-play convergence theorems ask of the denoiser.

At colour validation patches (``course_utils.hqs.validation_set``, never the dev set) plus
noise at each level σ_k of DPIR's schedule, deepinv's ``JacobianSpectralNorm`` (a power method on
Jacobian-vector products; a Rayleigh quotient, so a lower estimate of the norm at that point)
gives, per level, the largest over the patches of these norms for the denoiser DPIR applies,
f = ``hqs.Channelwise`` (the one-channel DRUNet on each opponent colour channel, told σ_k times
the channel's row norm, and back to RGB):

* ‖J(2f − I)‖: at most 1 for a firmly non-expansive f (Pesquet et al. 2021);
* ‖J(I − f)‖: the residual's Lipschitz constant, ε in Ryu et al. (2019);
* ‖J(f)‖: at most 1 for a non-expansive f.

It writes ``jacobian.json`` beside the weights (a few minutes on 2 CPU cores)::

    python solutions/challenge/pnp_drunet/jacobian.py --threads 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import deepinv as dinv
import torch

from course_utils import hqs

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=HERE / "pnp_drunet.safetensors")
    parser.add_argument("--out", type=Path, default=HERE / "jacobian.json")
    parser.add_argument("--patches", type=int, default=4)
    parser.add_argument("--power-iterations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    denoiser = hqs.load_small_drunet(args.weights)
    for p in denoiser.parameters():
        p.requires_grad_(False)
    x, _, _ = hqs.validation_set()
    x = x[: args.patches]
    # eval_mode=True fails on this network in deepinv 0.5.0 ("can't detach views in-place")
    norm = dinv.loss.JacobianSpectralNorm(max_iter=args.power_iterations, tol=1e-5)
    t0, levels = time.perf_counter(), []
    for k, level in enumerate(hqs.dpir_schedule()[0].tolist()):
        noisy = x + level * torch.randn(x.shape, generator=torch.Generator().manual_seed(k))
        noisy.requires_grad_()
        out = denoiser(noisy, level)
        row = {"sigma": round(level, 4)}
        for name, value in (("2f - I", 2 * out - noisy), ("I - f", noisy - out), ("f", out)):
            torch.manual_seed(0)  # the power method's random start
            row[name] = round(float(norm(value, noisy).detach()), 3)
        levels.append(row)
        print(row)
    record = {
        "command": f"python solutions/challenge/pnp_drunet/jacobian.py --threads {args.threads}",
        "weights sha256": hashlib.sha256(args.weights.read_bytes()).hexdigest(),
        "patches": f"the first {args.patches} colour patches of hqs.validation_set(), plus "
        "noise sigma_k (generator seed k)",
        "power iterations": args.power_iterations,
        "seconds": round(time.perf_counter() - t0, 1),
        "largest over the patches, per level": levels,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
