"""Train the unrolled HQS submission end to end on the official operator.

    x_0 = Aᵀy,   z_k = (AᵀA + I/η_k)⁻¹ (Aᵀy + x_k / η_k),   x_{k+1} = f_k(z_k),   k < K = 6

with f_k six small residual CNNs (``course_utils.hqs.unrolled_hqs``: deepinv's unfolded HQS with
one-channel DnCNN prior steps, applied to each opponent colour channel alone,
``course_utils.hqs.Channelwise``) and the step sizes η_k learned. Data: one opponent colour
channel (the luminance or a colour difference) of each of the patches of the challenge's 15
training photographs (``cu.challenge_patches("fit")``, at the official scale and at twice it,
with flips and rotations; ``course_utils.hqs.training_batch``), blurred with the official kernel
(circular at the patch size) plus the noise that σ = 0.03 on R, G and B puts on that channel;
the loss is the mean squared error of x_K. Validation: patches of the held-out last quarter of
the same photographs, in colour (``course_utils.hqs.validation_set``), never the dev set.
Adam, cosine schedule to 0; the patches of step s are items s·B … s·B + B - 1 of a seeded
``PatchDataset`` and the channels and the noise come from a generator seeded by the step, so a
stopped run resumes on the same data.

Run (about 40 minutes on 2 CPU cores; the record ``unrolled_hqs.json`` says how it went)::

    python solutions/challenge/unrolled_hqs/train.py --threads 2
"""

from __future__ import annotations

from pathlib import Path

import torch

import course_utils as cu
from course_utils import hqs
from course_utils.training import fit, prepare, script_arguments, script_options

HERE = Path(__file__).resolve().parent
BATCH, PATCH = 4, 96


def main() -> None:
    parser = script_arguments(__doc__.splitlines()[0], HERE / "unrolled_hqs.safetensors", 4000)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    prepare(args)
    batch_size, patch, n_iter = (2, 32, 2) if args.smoke else (BATCH, PATCH, hqs.UNROLLED_ITERS)
    if args.smoke:
        args.steps = 1
    data = hqs.training_patches(patch, args.steps * batch_size, args.seed)
    x_val, y_val, physics_val = hqs.validation_set(2 if args.smoke else hqs.VALIDATION["n"])
    model = hqs.unrolled_hqs(n_iter=n_iter)

    def batch(step):
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        x, noise_scale = hqs.training_batch(data, step, batch_size, g)
        y, physics = hqs.measure_patches(x, g, noise_scale=noise_scale)
        return x, y, physics

    def loss_fn(model, item):
        x, y, physics = item
        return (model(y, physics) - x).pow(2).mean()

    def validate(model):
        hqs.check_stepsizes(model)
        return {
            "val psnr": float(cu.psnr(model(y_val, physics_val), x_val).mean()),
            "min step": min(hqs.stepsizes(model)),
        }

    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.steps)
    fit(
        model,
        batch,
        loss_fn,
        optimizer,
        **script_options(args),
        data={
            "training": hqs.training_record(data, batch_size),
            "measurements": f"official blur, circular at {patch}x{patch}, plus noise sigma "
            f"{cu.NOISE_SIGMA} times the drawn opponent channel's row norm (the noise that "
            "sigma on R, G and B puts on it), noise generator seed seed * 1000003 + step",
            **hqs.validation_record(x_val, y_val, physics_val),
        },
        config={
            "model": "course_utils.hqs.unrolled_hqs()",
            "unrolled iterations": n_iter,
            "prior step": f"one-channel DnCNN(depth={hqs.DNCNN_DEPTH}, nf={hqs.DNCNN_WIDTH}) "
            "on each opponent colour channel alone, untied, last layer started at zero",
            "learned step sizes": "one per iteration, started at 1",
            "parameters": cu.n_params(model),
            "loss": "mean squared error of the output",
            "lr": args.lr,
            "schedule": "cosine to 0",
            "batch": batch_size,
        },
        validate=validate,
        validate_every=250,
        scheduler=scheduler,
        desc="unrolled HQS",
    )


if __name__ == "__main__":
    main()
