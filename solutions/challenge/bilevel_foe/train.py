"""Train the bilevel field-of-experts submission: learn the regulariser of a variational model.

    x*(θ) = argmin_x ½‖A x - y‖² + R_θ(x),   R_θ = course_utils.FieldOfExperts (Huber experts),
    min_θ  mean over training patches of ½‖x*(θ) - x‖² / (pixels)

The lower level is solved by L-BFGS, warm-started from the previous solution of the same
mini-batch; the hypergradient comes from the implicit function theorem (course_utils.argmin:
conjugate gradients on Hessian-vector products). Data: patches of the "train" images only
(the five listed in TRAIN_IMAGES, the whole train split when the model was trained, resized to
the official size like the test images), blurred
with the official kernel (circular, as the challenge) and noise σ = 0.03; never the dev set.

Run (23 minutes on 2 CPU cores, one thread; the record ``foe.json`` says how it went)::

    python solutions/challenge/bilevel_foe/train.py
"""

from __future__ import annotations

from pathlib import Path

import torch

import course_utils as cu
from course_utils.bilevel import argmin, solve_lower_level
from course_utils.regularisers import FieldOfExperts
from course_utils.training import fit, prepare, script_arguments, script_options

HERE = Path(__file__).resolve().parent
TRAIN_IMAGES = ("astronaut", "china", "hubble_deep_field", "immunohistochemistry", "retina")
"""The images of the shipped model's training patches (the train split has grown since)."""
CONFIG = {"n_filters": 24, "size": 5, "alpha": 0.006, "gamma": 0.01}
"""Architecture of the shipped model (submission.py reads it back from the weight shapes)."""


def main() -> None:
    parser = script_arguments(__doc__.splitlines()[0], HERE / "foe.safetensors", steps=400)
    parser.add_argument("--patch", type=int, default=64, help="patch side (pixels)")
    parser.add_argument("--batch", type=int, default=6, help="patches per mini-batch")
    parser.add_argument("--batches", type=int, default=6, help="mini-batches, cycled")
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args()
    gen = prepare(args)
    if args.smoke:
        args.patch, args.batch, args.batches, args.steps = 32, 2, 1, 1
    images = [cu.to_official_size(cu.load_image(n, channels=3)) for n in TRAIN_IMAGES]
    patches = cu.PatchDataset(
        images, patch_size=args.patch, n_patches=args.batch * args.batches, seed=args.seed
    )
    x_all = torch.stack([patches[i] for i in range(len(patches))]).double()
    spectrum = cu.kernel_spectrum((args.patch, args.patch))

    def A(x):
        return cu.fft_blur(x, spectrum)

    noise = torch.randn(x_all.shape, generator=gen, dtype=torch.float64)
    y_all = A(x_all) + cu.NOISE_SIGMA * noise
    model = FieldOfExperts(**CONFIG, seed=args.seed).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    warm: dict[int, torch.Tensor] = {}

    def batch(step):
        b = step % args.batches
        sl = slice(b * args.batch, (b + 1) * args.batch)
        return b, x_all[sl], y_all[sl]

    def loss_fn(model, item):
        b, x, y = item
        x_star = argmin(
            y, A, model, x0=warm.get(b), max_iter=150, tol=1e-4, cg_max_iter=50, cg_tol=1e-4
        )
        warm[b] = x_star.detach()
        return 0.5 * (x_star - x).pow(2).mean()

    val_size = 32 if args.smoke else 128
    val_x = torch.stack([cu.centre_crop(im, val_size) for im in images[:2]]).double()
    val_spec = cu.kernel_spectrum((val_size, val_size))
    val_gen = torch.Generator().manual_seed(args.seed + 1)
    val_y = cu.fft_blur(val_x, val_spec) + cu.NOISE_SIGMA * torch.randn(
        val_x.shape, generator=val_gen, dtype=torch.float64
    )

    def validate(model):
        x_star, _ = solve_lower_level(
            val_y, lambda x: cu.fft_blur(x, val_spec), model, max_iter=300, tol=1e-5
        )
        return {"train-crop psnr": float(cu.psnr(x_star.clamp(0, 1), val_x).mean())}

    fit(
        model,
        batch,
        loss_fn,
        optimizer,
        **script_options(args),
        data={
            "images": list(TRAIN_IMAGES),
            "preprocessing": "course_utils.to_official_size (shorter side 256, centre crop)",
            "patches": f"{args.batch * args.batches} patches of {args.patch}x{args.patch}, "
            "course_utils.data.PatchDataset (flips and rotations)",
            "measurements": f"circular blur with the official kernel, Gaussian noise sigma "
            f"{cu.NOISE_SIGMA}, generator seed {args.seed}",
            "validation": "128x128 centre crops of the first two train images (monitoring)",
            "dev set": "not used",
        },
        config={
            **CONFIG,
            "lr": args.lr,
            "patch": args.patch,
            "batch": args.batch,
            "batches": args.batches,
            "lower level": "L-BFGS, tol 1e-4, <= 150 iterations, warm-started",
            "hypergradient": "implicit function theorem, CG tol 1e-4, at most 50 iterations",
            "dtype": "float64",
        },
        validate=validate,
        validate_every=25,
        desc="bilevel FoE",
    )


if __name__ == "__main__":
    main()
