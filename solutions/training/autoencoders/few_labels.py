"""Choose the few-label settings of day3_1 §6 on held-out training digits, for both arms.

Ten labelled digits per class are drawn (seeds 0, 1, 2) from the training digits outside a
fixed validation slice of 300 (``course_utils.autoencoder.few_label_split``); each setting is
scored by its mean accuracy on the validation slice, never on the test digits. From scratch:
Adam learning rate and steps for every layer. Pre-trained (the shipped ``ae16`` encoder of
checkpoint ``digit_models``): learning rate and steps of the fine-tuning after the linear
probe. Then, with the chosen settings fixed, both arms are trained for label draws 0 to 4 and
scored on the 450 test digits. The chosen settings, every validation score and the test table go
to ``few_labels.json`` beside this script, which the notebook reads (and, in full mode,
reproduces).

Run (about 4 minutes on 2 CPU cores)::

    python solutions/training/autoencoders/few_labels.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

import course_utils as cu
from course_utils.autoencoder import Models, accuracy, few_label_classifier, few_label_split
from course_utils.training import hardware

HERE = Path(__file__).resolve().parent
SCRATCH_GRID = [(1e-3, 300), (3e-4, 1000), (1e-4, 2000)]
PRETRAINED_GRID = [(1e-4, 100), (1e-4, 300), (3e-4, 100), (3e-4, 300)]
SEEDS = [0, 1, 2]
TEST_SEEDS = [0, 1, 2, 3, 4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "few_labels.json")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="one setting each, few steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = Models()
    cu.load_checkpoint(models, "digit_models")
    x_train, c_train = cu.load_digits("train", size=16)
    x_test, c_test = cu.load_digits("test", size=16)
    scratch_grid, pre_grid, seeds, test_seeds = SCRATCH_GRID, PRETRAINED_GRID, SEEDS, TEST_SEEDS
    if args.smoke:
        scratch_grid, pre_grid, seeds, test_seeds = [(1e-3, 2)], [(1e-4, 2)], [0], [0]
    t0, started = time.perf_counter(), datetime.datetime.now(datetime.UTC)
    scores: dict[str, dict[str, float]] = {"scratch": {}, "pretrained": {}}
    for arm, grid in (("scratch", scratch_grid), ("pretrained", pre_grid)):
        for lr, steps in grid:
            accs = []
            for seed in seeds:
                idx, val = few_label_split(c_train, seed)
                net = few_label_classifier(
                    x_train[idx],
                    c_train[idx],
                    seed,
                    lr,
                    steps,
                    pretrained=models.ae16 if arm == "pretrained" else None,
                    unlabelled=x_train,
                )
                accs.append(accuracy(net, x_train[val], c_train[val]))
            scores[arm][f"lr {lr:g}, steps {steps}"] = sum(accs) / len(accs)
            print(f"{arm:10s} lr {lr:g} steps {steps}: validation {sum(accs) / len(accs):.3f}")
    chosen = {}
    for arm, grid in (("scratch", scratch_grid), ("pretrained", pre_grid)):
        lr, steps = max(grid, key=lambda s: scores[arm][f"lr {s[0]:g}, steps {s[1]}"])
        chosen[arm] = {"lr": lr, "steps": steps}
    test = {"pretrained": [], "scratch": []}
    for seed in test_seeds:
        idx, _ = few_label_split(c_train, seed)
        for arm in test:
            net = few_label_classifier(
                x_train[idx],
                c_train[idx],
                seed,
                **chosen[arm],
                pretrained=models.ae16 if arm == "pretrained" else None,
                unlabelled=x_train,
            )
            test[arm].append(accuracy(net, x_test, c_test))
        print(f"test, labels drawn with seed {seed}: {[v[-1] for v in test.values()]}")
    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 1),
        "hardware": hardware(),
        "seeds": seeds,
        "validation": "300 training digits (fixed slice, course_utils.autoencoder.few_label_split)",
        "validation accuracy": scores,
        "chosen": chosen,
        "test seeds": test_seeds,
        "test accuracy": test,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"chosen: {chosen}; wrote {args.out}")


if __name__ == "__main__":
    main()
