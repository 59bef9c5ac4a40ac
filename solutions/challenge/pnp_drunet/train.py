"""Train the plug-and-play submission's denoiser: Gaussian denoising alone, no operator.

    min_θ  E ‖f_θ(x + σ n, σ) − x‖²,   σ ~ U[0, 0.2],  n ~ N(0, I)

with f_θ a small DRUNet (``course_utils.hqs.small_drunet``: deepinv's DRUNet at four scales of
16 to 128 channels, the noise level as an extra input channel, one image channel: it denoises
each opponent colour channel alone, ``course_utils.hqs.Channelwise``). The denoiser never sees
the blur: the submission plugs it into DPIR (``course_utils.hqs.pnp_dpir``, half-quadratic splitting
with a decreasing σ_k), and the validation number is what it is trained for: DPIR's deblurring
PSNR on patches of the held-out last quarter of the training photographs
(``course_utils.hqs.validation_set``), never the dev set. Data: patches of the challenge's 15
training photographs (``cu.challenge_patches("fit")``, at the official scale and at twice it,
with flips and rotations), one opponent colour channel of each (the luminance or a colour
difference; ``course_utils.hqs.training_batch``). Adam,
cosine schedule to 0; the patches of step s are items s·B … s·B + B - 1 of a seeded
``PatchDataset`` and σ and the noise come from a generator seeded by the step, so a stopped run
resumes on the same data.

Run (about 37 minutes on 2 CPU cores; the record ``pnp_drunet.json`` says how it went)::

    python solutions/challenge/pnp_drunet/train.py --threads 2
"""

from __future__ import annotations

from pathlib import Path

import torch

import course_utils as cu
from course_utils import hqs
from course_utils.training import fit, prepare, script_arguments, script_options

HERE = Path(__file__).resolve().parent
BATCH, PATCH = 16, 64


def main() -> None:
    parser = script_arguments(__doc__.splitlines()[0], HERE / "pnp_drunet.safetensors", 24000)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    prepare(args)
    batch_size, patch = (2, 32) if args.smoke else (BATCH, PATCH)
    if args.smoke:
        args.steps = 1
    data = hqs.training_patches(patch, args.steps * batch_size, args.seed)
    x_val, y_val, physics_val = hqs.validation_set(2 if args.smoke else hqs.VALIDATION["n"])
    gen_val = torch.Generator().manual_seed(hqs.VALIDATION["noise seed"] + 1)
    noisy_val = x_val + cu.NOISE_SIGMA * torch.randn(x_val.shape, generator=gen_val)
    model = hqs.small_drunet()
    pnp = hqs.pnp_dpir(model)

    def batch(step):
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        x, _ = hqs.training_batch(data, step, batch_size, g)
        sigma = hqs.DENOISER_SIGMA_MAX * torch.rand(batch_size, generator=g)
        return x, x + sigma.view(-1, 1, 1, 1) * torch.randn(x.shape, generator=g), sigma

    def loss_fn(model, item):
        x, noisy, sigma = item
        return (model(noisy, sigma) - x).pow(2).mean()

    def validate(model):
        return {
            "val psnr": float(cu.psnr(pnp(y_val, physics_val), x_val).mean()),
            "denoise psnr": float(cu.psnr(model(noisy_val, cu.NOISE_SIGMA), x_val).mean()),
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
            "noise": f"sigma uniform in [0, {hqs.DENOISER_SIGMA_MAX}] per patch, given to the "
            "network; no blur; generator seed seed * 1000003 + step",
            **hqs.validation_record(x_val, y_val, physics_val),
            "validation numbers": "val psnr is DPIR deblurring, denoise psnr denoising at sigma "
            f"{cu.NOISE_SIGMA} (generator seed noise seed + 1)",
        },
        config={
            "model": "course_utils.hqs.small_drunet()",
            "channels": list(hqs.DRUNET_CHANNELS),
            "image channels": "one: each opponent colour channel (course_utils.hqs.to_opponent) "
            "denoised alone",
            "residual blocks per scale": 1,
            "parameters": cu.n_params(model),
            "scheme": "course_utils.hqs.pnp_dpir: deepinv's DPIR, 8 HQS iterations",
            "loss": "mean squared error of the denoised patch",
            "lr": args.lr,
            "schedule": "cosine to 0",
            "batch": batch_size,
        },
        validate=validate,
        validate_every=1000,
        scheduler=scheduler,
        desc="DRUNet denoiser",
    )


if __name__ == "__main__":
    main()
