"""Fine-tune DPIR unfolded, end to end on the official operator.

    x_0 = Aᵀy,   z_k = (AᵀA + I/η_k)⁻¹ (Aᵀy + x_k / η_k),   x_{k+1} = f_θ(z_k, σ_k),   k < K = 8

``course_utils.hqs.unfolded_dpir``: the eight iterations of the plug-and-play submission, with
one shared small DRUNet f_θ (applied to each opponent colour channel alone) and the schedule
η_k, log σ_k made trainable. It starts where plug-and-play stops: f_θ from
``../pnp_drunet/pnp_drunet.safetensors`` (trained for denoising alone) and the schedule that
``../pnp_drunet/schedule.json`` chose on the validation patches; then everything is trained
together for what the network is used for, the mean squared error of x_K after the official
blur and noise. Data: colour patches of the challenge's 15 training photographs
(``course_utils.hqs.training_patches``: at the official scale and at twice it, with flips and
rotations), blurred with the official kernel (circular at the patch size) plus noise σ = 0.03.
Validation: patches of the held-out last quarter of the same photographs
(``course_utils.hqs.validation_set``), never the dev set. Adam with a small learning rate for
the denoiser (it is already good) and a larger one for the schedule, cosine schedule to 0; the
patches of step s are items s·B … s·B + B - 1 of a seeded ``PatchDataset`` and the noise comes
from a generator seeded by the step, so a stopped run resumes on the same data.

Run (about 20 minutes on 2 CPU cores after ``../pnp_drunet/train.py``, about 39; the record
``unfolded_dpir.json`` says how it went)::

    python solutions/challenge/unfolded_dpir/train.py --threads 2
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

import course_utils as cu
from course_utils import hqs
from course_utils.paths import REPO_DIR
from course_utils.training import fit, prepare, script_arguments, script_options

HERE = Path(__file__).resolve().parent
PNP = HERE.parent / "pnp_drunet"
BATCH, PATCH = 2, 64


def main() -> None:
    parser = script_arguments(__doc__.splitlines()[0], HERE / "unfolded_dpir.safetensors", 3200)
    parser.add_argument(
        "--init",
        type=Path,
        default=PNP / "pnp_drunet.safetensors",
        help="small_drunet weights to start from",
    )
    parser.add_argument(
        "--schedule",
        type=Path,
        default=PNP / "schedule.json",
        help="tune_schedule.py record whose chosen schedule to start from",
    )
    parser.add_argument("--lr", type=float, default=2e-5, help="learning rate of the denoiser")
    parser.add_argument(
        "--lr-schedule",
        type=float,
        default=1e-3,
        help="learning rate of the step sizes and log noise levels",
    )
    args = parser.parse_args()
    prepare(args)
    batch_size, patch = (1, 32) if args.smoke else (BATCH, PATCH)
    if args.smoke:
        args.steps = 1
    data = hqs.training_patches(patch, args.steps * batch_size, args.seed)
    x_val, y_val, physics_val = hqs.validation_set(2 if args.smoke else hqs.VALIDATION["n"])
    schedule = json.loads(args.schedule.read_text())["chosen"]
    model = hqs.unfolded_dpir(hqs.load_small_drunet(args.init).train(), **schedule)

    def batch(step):
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        x = torch.stack([data[step * batch_size + i] for i in range(batch_size)])
        y, physics = hqs.measure_patches(x, g)
        return x, y, physics

    def loss_fn(model, item):
        x, y, physics = item
        return (model(y, physics) - x).pow(2).mean()

    def validate(model):
        hqs.check_stepsizes(model)
        return {
            "val psnr": float(cu.psnr(model(y_val, physics_val), x_val).mean()),
            "min sigma": min(hqs.unfolded_schedule(model)["sigma"]),
        }

    schedule_params = dict(model.params_algo.named_parameters())  # the η_k and log σ_k
    net = [p for n, p in model.named_parameters() if not n.startswith("params_algo.")]
    if len(schedule_params) != 2 * len(hqs.unfolded_schedule(model)["sigma"]) or not net:
        raise RuntimeError("expected the schedule under params_algo and the denoiser apart")
    optimizer = torch.optim.Adam(
        [
            {"params": net, "lr": args.lr},
            {"params": list(schedule_params.values()), "lr": args.lr_schedule},
        ]
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.steps)
    fit(
        model,
        batch,
        loss_fn,
        optimizer,
        **script_options(args),
        data={
            "training": f"{batch_size} colour patches {patch}x{patch} per step: items "
            f"step * {batch_size} + i of course_utils.hqs.training_patches({patch}, {len(data)}, "
            f"seed) (the 15 training photographs at scales {hqs.TRAIN_SCALES}, flips and "
            "rotations)",
            "measurements": f"official blur, circular at {patch}x{patch}, plus noise sigma "
            f"{cu.NOISE_SIGMA} on R, G and B, noise generator seed seed * 1000003 + step",
            **hqs.validation_record(x_val, y_val, physics_val),
        },
        config={
            "model": "course_utils.hqs.unfolded_dpir(small_drunet)",
            "started from": {
                "denoiser": str(args.init.resolve().relative_to(REPO_DIR))
                if args.init.resolve().is_relative_to(REPO_DIR)
                else str(args.init),
                "denoiser sha256": hashlib.sha256(args.init.read_bytes()).hexdigest(),
                "schedule": schedule,
            },
            "unrolled iterations": int(schedule.get("n_iter", hqs.DPIR_ITERS)),
            "prior step": "one small_drunet shared by all iterations, on each opponent colour "
            "channel alone",
            "learned": "denoiser weights, step sizes eta_k, log noise levels log sigma_k",
            "parameters": cu.n_params(model),
            "loss": "mean squared error of the output",
            "lr": {"denoiser": args.lr, "schedule": args.lr_schedule},
            "schedule": "cosine to 0",
            "batch": batch_size,
        },
        validate=validate,
        validate_every=250,
        scheduler=scheduler,
        desc="unfolded DPIR",
    )


if __name__ == "__main__":
    main()
