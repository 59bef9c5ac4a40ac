"""A small training loop with a progress bar, and the "load the checkpoint if present,
otherwise train" pattern that every notebook with heavy training uses.

The loop is written out (about twenty lines) so students can read every step;
``deepinv.Trainer`` is the full-featured alternative for inverse problems.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from tqdm.auto import tqdm

from .paths import CHECKPOINT_DIR, REPO_DIR
from .runtime import is_fast


def train(
    model: torch.nn.Module,
    loader: Iterable,
    loss_fn: Callable[[torch.nn.Module, object], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    eval_fn: Callable[[torch.nn.Module], float] | None = None,
    desc: str = "training",
) -> dict[str, list[float]]:
    """Train ``model`` for ``epochs`` passes over ``loader``.

    :param loss_fn: ``loss_fn(model, batch)`` returns the scalar loss of one batch.
    :param scheduler: stepped once per epoch.
    :param eval_fn: ``eval_fn(model)`` is called after each epoch (in eval mode, without
        gradients) and returns a number, recorded under ``"eval"``, or a dict of named numbers,
        each recorded under its name (e.g. ``{"test loss": ..., "weight norm": ...}``).
    :returns: ``{"loss": [mean training loss per epoch], <eval names>: [one value per epoch]}``.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}.")
    history: dict[str, list[float]] = {"loss": []}
    bar = tqdm(range(epochs), desc=desc, unit="epoch")
    for _ in bar:
        model.train()
        total, n = 0.0, 0
        for batch in loader:
            optimizer.zero_grad()
            loss = loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss.item()} during training: lower the learning rate."
                )
            loss.backward()
            optimizer.step()
            total, n = total + loss.item(), n + 1
        if n == 0:
            raise ValueError("the data loader yielded no batch.")
        if scheduler is not None:
            scheduler.step()
        history["loss"].append(total / n)
        postfix = {"loss": f"{total / n:.4g}"}
        if eval_fn is not None:
            model.eval()
            with torch.no_grad():
                values = eval_fn(model)
            if not isinstance(values, dict):
                values = {"eval": values}
            if "loss" in values:
                raise ValueError("eval_fn may not use the name 'loss' (the training loss).")
            for name, value in values.items():
                history.setdefault(name, []).append(float(value))
                postfix[name] = f"{float(value):.4g}"
        bar.set_postfix(postfix)
    model.eval()
    return history


def checkpoint_path(name: str | Path) -> Path:
    """``data/checkpoints/<name>`` for a bare file name; other paths are kept as given."""
    path = Path(name)
    if path.suffix != ".safetensors":
        raise ValueError(f"checkpoints are .safetensors files, got {path.name!r}.")
    return CHECKPOINT_DIR / path if path.parent == Path(".") else path


def load_or_train(
    model: torch.nn.Module,
    checkpoint: str | Path,
    train_fn: Callable[[torch.nn.Module], object],
    *,
    retrain: bool = False,
):
    """Load ``model``'s weights from ``checkpoint`` if the file exists, otherwise train.

    ``train_fn(model)`` trains in place and may return a history, which is returned too
    (``None`` when loading). A model trained in full mode is saved to ``checkpoint``; in fast
    mode it is not, so a short test run never replaces a real checkpoint.
    """
    path = checkpoint_path(checkpoint)
    shown = path.relative_to(REPO_DIR) if path.is_relative_to(REPO_DIR) else path
    if path.exists() and not retrain:
        try:
            load_model(model, str(path))
        except (RuntimeError, KeyError) as err:
            raise RuntimeError(
                f"{shown} does not fit this model ({err}). The architecture changed since it "
                "was saved: delete the file (or pass retrain=True) to train again."
            ) from err
        model.eval()
        print(f"Loaded the trained weights from {shown} (delete it to train from scratch).")
        return None
    history = train_fn(model)
    model.eval()
    if is_fast():
        print(f"Fast mode: trained briefly and did not save {shown}.")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_model(model, str(path))
        print(f"Saved the trained weights to {shown}.")
    return history
