"""Train the CT networks of day2_4: learned gradient descent and Learned Primal-Dual.

CT set-up (course_utils.tomography): 64 x 64 random ellipse phantoms, 30 parallel-beam angles,
Gaussian noise of 5 % of the Shepp–Logan sinogram's RMS; the operator is applied as its exact
sparse-matrix copy (course_utils.tomography.MatrixTomography, equal to deepinv's to float32
rounding and several times faster on a CPU). Every step draws a fresh batch of
phantoms (items step * batch ... of an ellipse-phantom stream with the training seed, never the
test seed) and fresh noise (its generator seeded by the step). Both networks
(course_utils.primal_dual.ct_models: 10 unrolled iterations, 3-layer blocks with 32 features)
minimise the mean squared error by Adam with a cosine schedule, as in Adler & Öktem (2018),
for far fewer steps; one optimiser over their summed losses trains each as if alone.

Run (about 90 minutes on 2 CPU cores; the record ``ct_unrolled.json`` says how it went)::

    python solutions/training/primal_dual/train.py --threads 2
"""

from __future__ import annotations

from pathlib import Path

import torch

from course_utils.data import EllipsePhantomDataset
from course_utils.metrics import psnr
from course_utils.primal_dual import LPD_ITERS, ct_models
from course_utils.tomography import (
    CT_ANGLES,
    CT_NOISE_LEVEL,
    CT_SIZE,
    MatrixTomography,
    make_ct_physics,
    measure,
)
from course_utils.training import fit, prepare, script_arguments, script_options

HERE = Path(__file__).resolve().parent
BATCH = 4
VALIDATION_SEED = 2
"""Seed of the validation phantoms (training uses 0, the notebook's test set 1)."""


def main() -> None:
    parser = script_arguments(__doc__.splitlines()[0], HERE / "ct_unrolled.safetensors", steps=8500)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    prepare(args)
    size = 32 if args.smoke else CT_SIZE
    if args.smoke:
        args.steps = 1
    physics = MatrixTomography(make_ct_physics(size), size)
    model = ct_models(n_iter=2 if args.smoke else LPD_ITERS)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.steps)
    stream = EllipsePhantomDataset(args.steps * BATCH, size=size, seed=args.seed)

    def batch(step):
        x = torch.stack([stream[step * BATCH + i] for i in range(BATCH)])
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        return x, measure(physics, x, g, CT_NOISE_LEVEL)

    def loss_fn(model, item):
        x, y = item
        return sum((net(y, physics) - x).pow(2).mean() for net in model.values())

    x_val = torch.stack(list(EllipsePhantomDataset(16, size=size, seed=VALIDATION_SEED)))
    y_val = measure(physics, x_val, torch.Generator().manual_seed(10_000_019), CT_NOISE_LEVEL)

    def validate(model):
        return {
            f"psnr {name}": float(psnr(net(y_val, physics), x_val).mean())
            for name, net in model.items()
        }

    fit(
        model,
        batch,
        loss_fn,
        optimizer,
        **script_options(args),
        data={
            "set-up": f"course_utils.tomography: {size} x {size} ellipse phantoms, {CT_ANGLES} "
            f"angles, noise level {CT_NOISE_LEVEL} (fraction of the Shepp-Logan sinogram RMS)",
            "operator": "MatrixTomography(make_ct_physics(size), size): deepinv's Tomography "
            "as an exact sparse matrix",
            "training phantoms": f"{BATCH} per step: items step * {BATCH} + i of "
            f"EllipsePhantomDataset({args.steps * BATCH}, seed=seed)",
            "training noise": "generator seed seed * 1000003 + step",
            "validation": f"16 phantoms, EllipsePhantomDataset(16, seed={VALIDATION_SEED}), "
            "noise generator seed 10000019 (monitoring)",
        },
        config={
            "networks": "course_utils.primal_dual.ct_models(): lgd (learned gradient descent) "
            "and lpd (Learned Primal-Dual)",
            "unrolled iterations": model["lpd"].n_iter,
            "primal / dual channels": [model["lpd"].n_primal, model["lpd"].n_dual],
            "lr": args.lr,
            "adam betas": [0.9, 0.99],
            "schedule": "cosine to 0",
            "batch": BATCH,
            "loss": "mean squared error per network, summed over the networks",
        },
        validate=validate,
        validate_every=500,
        scheduler=scheduler,
        desc="LGD and LPD",
    )


if __name__ == "__main__":
    main()
