"""Training: a small loop for notebooks (:func:`train`), and :func:`fit` for training scripts.

:func:`train` is written out (about twenty lines) so students can read every step; it is for
training that runs live in a notebook (under 2 minutes in full mode). Anything longer is a
script built on :func:`fit` and :func:`script_arguments`, whose output is a shipped checkpoint
with its record (see :mod:`course_utils.checkpoints`). ``deepinv.Trainer`` is the
full-featured alternative for inverse problems.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from safetensors.torch import save_model
from tqdm.auto import tqdm

from .checkpoints import record_path
from .paths import REPO_DIR, sha256_of
from .runtime import seed_everything


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


def script_arguments(description: str, default_out: Path, steps: int) -> argparse.ArgumentParser:
    """The options every training script accepts (add the script's own ones to the parser).

    ``--out`` (weights file, default ``default_out``), ``--steps`` (default ``steps``),
    ``--seed``, ``--budget-minutes`` (stop cleanly when the wall clock runs out; the record says
    so, and rerunning resumes), ``--fresh`` (ignore a resume state), ``--threads`` and
    ``--smoke`` (one step on tiny data, for the tests: the script must honour it by shrinking
    its data; the weights go to ``--out``).
    """
    parser = argparse.ArgumentParser(description=description)
    # Call prepare(args) right after parsing.
    parser.add_argument("--out", type=Path, default=default_out, help="weights file to write")
    parser.add_argument("--steps", type=int, default=steps, help="optimiser steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-minutes", type=float, default=None, help="wall-clock budget")
    parser.add_argument("--fresh", action="store_true", help="start again, ignoring a resume state")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--smoke", action="store_true", help="one step on tiny data (tests)")
    return parser


def prepare(args: argparse.Namespace) -> torch.Generator:
    """Start a training script: set the CPU threads (``--threads``) and seed everything
    (``--seed``) before any model or data is built; returns a seeded generator."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return seed_everything(args.seed)


def script_options(args: argparse.Namespace) -> dict:
    """The :func:`fit` options that come from :func:`script_arguments`: ``steps``, ``out``,
    ``seed``, ``budget_minutes`` and ``resume`` (unless ``--fresh``); pass them as
    ``fit(..., **script_options(args))``."""
    return {
        "steps": args.steps,
        "out": args.out,
        "seed": args.seed,
        "budget_minutes": args.budget_minutes,
        "resume": not args.fresh,
    }


def _git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_DIR, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+uncommitted changes" if dirty else "")


def hardware() -> dict:
    """The machine a run used: processor, cores, threads, torch version and device."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return {
        "summary": f"{os.cpu_count()} cores, {torch.get_num_threads()} threads, {device}",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def fit(
    model: torch.nn.Module,
    batch: Callable[[int], object],
    loss_fn: Callable[[torch.nn.Module, object], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    out: str | Path,
    seed: int,
    data: dict,
    config: dict | None = None,
    validate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    validate_every: int = 100,
    budget_minutes: float | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    resume: bool = True,
    desc: str = "training",
) -> dict:
    """Train a model for a script: progress bar, validation, resume, budget and a record.

    :param batch: ``batch(step)`` returns the batch of optimiser step ``step`` (0-based). It
        must depend only on ``step`` (e.g. items ``step * B ... (step + 1) * B - 1`` of a
        seeded dataset), so that an interrupted run resumes on the same data.
    :param loss_fn: ``loss_fn(model, batch)`` returns the scalar loss.
    :param out: the weights file (``.safetensors``); the record goes beside it (``.json``)
        and the resume state to ``<out>.resume.pt`` while the run is unfinished.
    :param data: what the run trained and validated on (names, sizes, noise), for the record.
    :param config: hyper-parameters and architecture, for the record.
    :param validate: ``validate(model)`` (called in eval mode without gradients, every
        ``validate_every`` steps and at the end) returns named numbers, e.g. ``{"val psnr":
        ...}``, shown on the bar and recorded.
    :param budget_minutes: stop after the step during which the wall clock passes the budget:
        the weights and the record are written (``stopped_by: "budget"``) and the resume state
        kept, so the same command continues later.
    :param resume: continue from ``<out>.resume.pt`` if it exists (same seed and steps).
    :returns: the record (also written as JSON beside the weights).
    """
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ValueError(f"out must be a .safetensors file, got {out.name!r}.")
    if steps < 1 or validate_every < 1:
        raise ValueError(f"need steps >= 1 and validate_every >= 1, got {steps}, {validate_every}.")
    state_file = out.with_suffix(".resume.pt")
    seed_everything(seed)
    history: dict[str, list] = {"step": [], "loss": []}
    validations: list[dict] = []
    start_step, elapsed_before = 0, 0.0
    if resume and state_file.exists():
        state = torch.load(state_file, weights_only=True)
        if (state["seed"], state["steps"]) != (seed, steps):
            raise ValueError(
                f"{state_file} is from a run with seed {state['seed']} and {state['steps']} steps, "
                f"not {seed} and {steps}: pass --fresh to start again."
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start_step, elapsed_before = state["step"], state["elapsed"]
        history, validations = json.loads(state["history"]), json.loads(state["validations"])
        print(f"Resuming {out.name} at step {start_step} of {steps}.")
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()

    def save_state(step: int) -> None:
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else {},
                "rng": torch.get_rng_state(),
                "step": step,
                "elapsed": elapsed_before + time.perf_counter() - t0,
                "seed": seed,
                "steps": steps,
                "history": json.dumps(history),
                "validations": json.dumps(validations),
            },
            state_file,
        )

    def run_validation(step: int) -> dict[str, float]:
        if validate is None:
            return {}
        model.eval()
        with torch.no_grad():
            values = {k: float(v) for k, v in validate(model).items()}
        model.train()
        validations.append({"step": step, **values})
        return values

    out.parent.mkdir(parents=True, exist_ok=True)
    stopped_by, step = "steps", start_step
    bar = tqdm(range(start_step, steps), desc=desc, unit="step", initial=start_step, total=steps)
    model.train()
    postfix: dict[str, str] = {}
    for step in bar:
        optimizer.zero_grad()
        loss = loss_fn(model, batch(step))
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {loss.item()} at step {step}: lower the learning rate."
            )
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        history["step"].append(step + 1)
        history["loss"].append(loss.item())
        postfix["loss"] = f"{loss.item():.4g}"
        if (step + 1) % validate_every == 0 and step + 1 < steps:
            postfix.update({k: f"{v:.4g}" for k, v in run_validation(step + 1).items()})
            save_state(step + 1)
        bar.set_postfix(postfix)
        minutes = (elapsed_before + time.perf_counter() - t0) / 60
        if budget_minutes is not None and minutes >= budget_minutes and step + 1 < steps:
            stopped_by = "budget"
            break
    done = step + 1
    final = run_validation(done)
    model.eval()
    save_model(model, str(out))
    os.chmod(out, 0o644)  # save_model writes owner-only files; the sandboxed scorer reads as nobody
    if stopped_by == "budget":
        save_state(done)
        print(f"Stopped by the budget at step {done} of {steps}: rerun the command to continue.")
    elif state_file.exists():
        state_file.unlink()
    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seed": seed,
        "git_revision": _git_revision(),
        "started": started,
        "seconds": round(elapsed_before + time.perf_counter() - t0, 1),
        "hardware": hardware(),
        "data": data,
        "config": config or {},
        "steps": done,
        "stopped_by": stopped_by,
        "metrics": final,
        "validations": validations,
        "loss_every_step": [round(v, 6) for v in history["loss"]],
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_mb": round(out.stat().st_size / 1e6, 3),
        "weights_sha256": sha256_of(out),
    }
    record_path(out).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record
