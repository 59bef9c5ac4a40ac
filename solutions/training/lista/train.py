"""Train the LISTA models of day2_3: untied, tied and coupled (CP) LISTA for K = 1, 2, 4, 8, 16.

Sparse coding (course_utils.lista.SparseCoding, the default problem): codes of length 128 with
each entry nonzero with probability 0.1 (standard normal values), measured by a 64 x 128
Gaussian dictionary (unit columns, seed 0) with noise sigma 0.005. Every step draws a fresh
batch of 256 codes (its generator seeded by the step), so there is no fixed training set; the
held-out codes of the notebook use other seeds. Each model starts from ISTA's weights
(lambda = 0.05) and minimises the mean of ||x_K - x||^2 by Adam with a cosine schedule; the
models are independent, and one optimiser over their summed losses trains each as if alone
(Adam's step does not depend on the scale of the other losses' gradients).

Run (about 15 minutes on 2 CPU cores; the record ``lista.json`` says how it went)::

    python solutions/training/lista/train.py
"""

from __future__ import annotations

from pathlib import Path

import torch

from course_utils.lista import LISTA_LAM, LISTA_LAYERS, SparseCoding, lista_models, nmse_db
from course_utils.training import fit, prepare, script_arguments, script_options

HERE = Path(__file__).resolve().parent
BATCH = 256


def main() -> None:
    parser = script_arguments(__doc__.splitlines()[0], HERE / "lista.safetensors", steps=6000)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    prepare(args)
    problem = SparseCoding()
    layers = (1, 2) if args.smoke else LISTA_LAYERS
    if args.smoke:
        args.steps = 1
    model = lista_models(problem, layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.steps)

    def batch(step):
        return problem.sample(BATCH, torch.Generator().manual_seed(args.seed * 1_000_003 + step))

    def loss_fn(model, item):
        x, y = item
        return sum((net(y) - x).pow(2).sum(1).mean() for net in model.values())

    x_val, y_val = problem.sample(2000, torch.Generator().manual_seed(10_000_019 + args.seed))

    def validate(model):
        return {f"nmse {name}": nmse_db(net(y_val), x_val) for name, net in model.items()}

    fit(
        model,
        batch,
        loss_fn,
        optimizer,
        **script_options(args),
        data={
            "problem": "course_utils.lista.SparseCoding() (m 64, n 128, sparsity 0.1, "
            "sigma 0.005, dictionary seed 0)",
            "training codes": f"{BATCH} fresh codes per step, generator seed seed * 1000003 + step",
            "validation": "2000 codes, generator seed 10000019 + seed (monitoring)",
        },
        config={
            "layers": list(layers),
            "variants": list(dict.fromkeys(name.split("_")[0] for name in model)),
            "lam (initial thresholds lam / L)": LISTA_LAM,
            "lr": args.lr,
            "schedule": "cosine to 0",
            "batch": BATCH,
            "loss": "mean over the batch of ||x_K - x||^2, summed over the models",
        },
        validate=validate,
        validate_every=500,
        scheduler=scheduler,
        desc="LISTA",
    )


if __name__ == "__main__":
    main()
