"""Train the Day 3 digit models: autoencoders and VAEs with latent sizes 2 and 16, and a classifier.

Data: the 1347 training digits of ``cu.load_digits("train", size=16)`` (16x16, upsampled from
the 8x8 scikit-learn digits); the 450 test digits are only monitored, never used to choose
anything. Every step draws a batch of 128 training digits (its generator seeded by the step);
the classifier's batch is shifted by up to one pixel in each direction (zero fill), so that it
also recognises slightly displaced digits, such as decoded samples. The five models are
independent: one Adam optimiser over their summed losses trains each as if alone (Adam's step
does not depend on the scale of the other losses' gradients).

Losses: the autoencoders minimise the mean squared error; the VAEs the negative ELBO per
pixel (Gaussian decoder with a learned standard deviation, closed-form KL); the classifier
the cross-entropy.

Run (about 22 minutes on 2 CPU cores; the record ``digit_models.json`` says how it went)::

    python solutions/training/autoencoders/train.py
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

import course_utils as cu
from course_utils.autoencoder import N_PIXELS, Models
from course_utils.training import fit, prepare, script_arguments, script_options

HERE = Path(__file__).resolve().parent
BATCH = 128


def shifted(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by a random offset in {-1, 0, 1}^2 pixels, zero fill."""
    padded = F.pad(x, (1, 1, 1, 1))
    offsets = torch.randint(0, 3, (len(x), 2), generator=generator)
    return torch.stack(
        [
            p[:, i : i + x.shape[-2], j : j + x.shape[-1]]
            for p, (i, j) in zip(padded, offsets.tolist(), strict=True)
        ]
    )


def main() -> None:
    parser = script_arguments(
        __doc__.splitlines()[0], HERE / "digit_models.safetensors", steps=8000
    )
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    prepare(args)
    x_train, c_train = cu.load_digits("train", size=16)
    x_test, c_test = cu.load_digits("test", size=16)
    if args.smoke:
        args.steps, x_train, c_train = 1, x_train[:16], c_train[:16]
    torch.manual_seed(args.seed)
    model = Models()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.steps)

    def batch(step):
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        idx = torch.randint(0, len(x_train), (BATCH,), generator=g)
        return x_train[idx], shifted(x_train[idx], g), c_train[idx], g

    def loss_fn(model, item):
        x, x_shifted, c, g = item
        loss = sum(F.mse_loss(model.get_submodule(f"ae{d}")(x), x) for d in (2, 16))
        loss = (
            loss - sum(model.get_submodule(f"vae{d}").elbo(x, g).mean() for d in (2, 16)) / N_PIXELS
        )
        return loss + F.cross_entropy(model.classifier(x_shifted), c)

    def validate(model):
        g = torch.Generator().manual_seed(1)
        out = {
            f"test mse ae{d}": F.mse_loss(model.get_submodule(f"ae{d}")(x_test), x_test)
            for d in (2, 16)
        }
        for d in (2, 16):
            out[f"test -elbo vae{d}"] = -model.get_submodule(f"vae{d}").elbo(x_test, g).mean()
        out["test accuracy"] = (model.classifier(x_test).argmax(1) == c_test).float().mean()
        return out

    fit(
        model,
        batch,
        loss_fn,
        optimizer,
        **script_options(args),
        data={
            "training": f"cu.load_digits('train', size=16): {len(x_train)} digits, {BATCH} drawn "
            "per step (generator seed seed * 1000003 + step); classifier batches shifted by "
            "up to 1 pixel",
            "monitoring": "cu.load_digits('test', size=16): 450 digits (never used to choose)",
        },
        config={
            "models": {name: type(m).__name__ for name, m in model.named_children()},
            "parameters": {name: cu.n_params(m) for name, m in model.named_children()},
            "lr": args.lr,
            "schedule": "cosine to 0",
            "batch": BATCH,
            "loss": "MSE (autoencoders) + negative ELBO per pixel (VAEs) + cross-entropy "
            "(classifier), summed",
        },
        validate=validate,
        validate_every=1000,
        scheduler=scheduler,
        desc="digit models",
    )


if __name__ == "__main__":
    main()
