"""Shipped checkpoints: the registry, the training record beside each file, and loading.

The rule for every notebook: a network whose training takes more than 2 minutes in full mode
is trained by a **script**, and the notebook **loads the shipped checkpoint in both fast and
full mode** with :func:`load_checkpoint`. Setting ``COURSE_RETRAIN=1`` makes
:func:`load_checkpoint` run the script first (retraining from scratch). Full mode differs
from fast mode in data and evaluation sizes, never in whether it trains.

Each checkpoint ``NAME.safetensors`` ships with its record ``NAME.json`` beside it (written by
:func:`course_utils.training.fit`): the command, seed, git revision, start time and seconds,
hardware, data, configuration, final metrics, and the sha256 of the weights.
``data/checkpoints/registry.toml`` lists every checkpoint with the script that makes it::

    [unrolled_pgd]
    weights = "solutions/challenge/unrolled_pgd/model.safetensors"  # from the repository root
    script = "solutions/challenge/train_unrolled.py"
    args = ["--iterations", "8"]                    # optional
    used_by = ["solutions/day2_5_challenge_continued.ipynb"]

The training command is ``python SCRIPT ARGS``; every script accepts the options of
:func:`course_utils.training.script_arguments` (``--smoke`` runs one step on tiny data into
``--out``, which the test suite does for every entry). ``make checkpoints`` retrains them all
(``python -m course_utils.checkpoints retrain``); ``python -m course_utils.checkpoints check``
lists what is inconsistent (:func:`registry_problems`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_model

from .paths import CHECKPOINT_DIR, REPO_DIR, sha256_of

REGISTRY_FILE = CHECKPOINT_DIR / "registry.toml"
RETRAIN_ENV = "COURSE_RETRAIN"
RECORD_FIELDS = (
    "command",
    "seed",
    "git_revision",
    "started",
    "seconds",
    "hardware",
    "data",
    "config",
    "steps",
    "stopped_by",
    "metrics",
    "weights_sha256",
)
"""Every record has these keys (more are allowed)."""

SHIPPED_WEIGHTS_GLOBS = ("data/checkpoints/**/*.safetensors", "solutions/**/*.safetensors")
"""Where shipped weights live; each file found there must be registered."""


@dataclass(frozen=True)
class Entry:
    """One registered checkpoint; paths are absolute."""

    name: str
    weights: Path
    script: Path
    args: tuple[str, ...] = ()
    used_by: tuple[str, ...] = field(default_factory=tuple)

    @property
    def record(self) -> Path:
        return record_path(self.weights)

    def command(self, python: str = sys.executable) -> list[str]:
        """The training command: ``[python, script, *args]``."""
        return [python, str(self.script), *self.args]


def record_path(weights: str | Path) -> Path:
    """The record beside a weights file: ``model.safetensors`` -> ``model.json``."""
    return Path(weights).with_suffix(".json")


def read_registry(path: str | Path = REGISTRY_FILE, root: Path = REPO_DIR) -> dict[str, Entry]:
    """The registry as ``{name: Entry}``; an empty or missing file is an empty registry.

    Raises ``ValueError`` naming the entry when it lacks ``weights`` or ``script`` or has an
    unknown key.
    """
    path = Path(path)
    if not path.exists():
        return {}
    with open(path, "rb") as f:
        tables = tomllib.load(f)
    entries = {}
    for name, table in tables.items():
        unknown = sorted(set(table) - {"weights", "script", "args", "used_by"})
        missing = [key for key in ("weights", "script") if key not in table]
        if unknown or missing:
            raise ValueError(
                f"{path.name}: entry {name!r} "
                + (f"lacks {', '.join(missing)}" if missing else f"has unknown keys {unknown}")
            )
        entries[name] = Entry(
            name=name,
            weights=root / table["weights"],
            script=root / table["script"],
            args=tuple(str(a) for a in table.get("args", ())),
            used_by=tuple(table.get("used_by", ())),
        )
    return entries


def read_record(weights: str | Path) -> dict:
    """The training record of a weights file; a clear error if it is missing."""
    path = record_path(weights)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: every checkpoint ships with the record of its training. "
            "Retrain it with its registered command (python -m course_utils.checkpoints retrain)."
        )
    return json.loads(path.read_text(encoding="utf-8"))


def registry_problems(
    registry: str | Path = REGISTRY_FILE, root: Path = REPO_DIR, check_sha: bool = True
) -> list[str]:
    """Everything inconsistent between the registry, the shipped weights and their records.

    * a registered entry whose weights, record or script is missing, whose record lacks a field
      of :data:`RECORD_FIELDS`, or whose weights differ from the sha256 in the record;
    * a record without its weights;
    * shipped weights (:data:`SHIPPED_WEIGHTS_GLOBS`) that no entry registers;
    * a notebook in ``used_by`` that does not exist.
    """
    root = Path(root)
    try:
        entries = read_registry(registry, root)
    except (ValueError, tomllib.TOMLDecodeError) as err:
        return [f"{Path(registry).name}: {err}"]
    problems = []
    registered = set()
    for entry in entries.values():
        weights = entry.weights.resolve()
        registered.add(weights)
        shown = weights.relative_to(root.resolve()) if weights.is_relative_to(root) else weights
        if not entry.script.exists():
            problems.append(f"{entry.name}: its script {entry.script} does not exist")
        for notebook in entry.used_by:
            if not (root / notebook).exists():
                problems.append(f"{entry.name}: used_by names {notebook}, which does not exist")
        if not weights.exists():
            problems.append(f"{entry.name}: its weights {shown} are missing")
            continue
        if not entry.record.exists():
            problems.append(f"{entry.name}: {shown} has no record {entry.record.name} beside it")
            continue
        record = json.loads(entry.record.read_text(encoding="utf-8"))
        missing = [key for key in RECORD_FIELDS if key not in record]
        if missing:
            problems.append(f"{entry.name}: its record lacks {', '.join(missing)}")
        elif check_sha and record["weights_sha256"] != sha256_of(weights):
            problems.append(
                f"{entry.name}: {shown} differs from the weights its record describes "
                "(retrained without updating the record, or edited)"
            )
    for pattern in SHIPPED_WEIGHTS_GLOBS:
        for weights in sorted(root.glob(pattern)):
            if weights.resolve() not in registered:
                problems.append(
                    f"{weights.relative_to(root)} is not in {Path(registry).name}: register it "
                    "with the script that trains it"
                )
    for pattern in SHIPPED_WEIGHTS_GLOBS:
        for record in sorted(root.glob(pattern.replace(".safetensors", ".json"))):
            if record.name == "registry.json":
                continue
            weights = record.with_suffix(".safetensors")
            if not weights.exists() and "weights_sha256" in record.read_text(encoding="utf-8"):
                problems.append(f"{record.relative_to(root)} is a record without its weights")
    return problems


def retraining() -> bool:
    """True when ``COURSE_RETRAIN`` is 1/true/yes/on."""
    return os.environ.get(RETRAIN_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def retrain(names: list[str] | None = None, registry: str | Path = REGISTRY_FILE) -> None:
    """Run the training command of each named entry (default: all), one after the other."""
    entries = read_registry(registry)
    unknown = sorted(set(names or ()) - set(entries))
    if unknown:
        raise KeyError(f"not in the registry: {', '.join(unknown)}; known: {', '.join(entries)}")
    for name in names or list(entries):
        command = entries[name].command()
        print(f"[{name}] {' '.join(command[1:])}", flush=True)
        subprocess.run(command, cwd=REPO_DIR, check=True)


def load_checkpoint(model: torch.nn.Module, name: str, registry: str | Path = REGISTRY_FILE):
    """Load the registered checkpoint ``name`` into ``model``; return its training record.

    With ``COURSE_RETRAIN=1`` the entry's training command runs first. The weights are checked
    against the sha256 of their record, and must fit ``model`` exactly (no missing or extra
    tensors). Prints one line: what was loaded, how it was trained, and its final metrics.
    """
    entries = read_registry(registry)
    if name not in entries:
        raise KeyError(
            f"no checkpoint {name!r} in {Path(registry).name}; registered: "
            f"{', '.join(entries) or 'none'}."
        )
    entry = entries[name]
    if retraining():
        retrain([name], registry)
    shown = (
        entry.weights.relative_to(REPO_DIR)
        if entry.weights.is_relative_to(REPO_DIR)
        else entry.weights
    )
    if not entry.weights.exists():
        raise FileNotFoundError(
            f"{shown} is missing: restore it with git, or retrain with COURSE_RETRAIN=1."
        )
    record = read_record(entry.weights)
    if record.get("weights_sha256") != sha256_of(entry.weights):
        raise ValueError(
            f"{shown} differs from the weights its record describes: restore both with git, "
            "or retrain with COURSE_RETRAIN=1."
        )
    try:
        load_model(model, str(entry.weights))
    except (RuntimeError, KeyError) as err:
        raise RuntimeError(
            f"{shown} does not fit this model ({err}). The architecture changed since it was "
            f"trained: retrain with COURSE_RETRAIN=1 (or `python -m course_utils.checkpoints "
            f"retrain {name}`)."
        ) from err
    model.eval()
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in record["metrics"].items() if _is_number(v))
    print(
        f"Loaded {shown}: {record['steps']} steps in {record['seconds'] / 60:.1f} min "
        f"({record['hardware'].get('summary', '?')}){'; ' + metrics if metrics else ''}."
    )
    return record


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered checkpoints and their commands")
    sub.add_parser("check", help="report inconsistencies; exit 1 if any")
    retrain_parser = sub.add_parser("retrain", help="retrain the named checkpoints (default all)")
    retrain_parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "list":
        for entry in read_registry().values():
            print(f"{entry.name}: {' '.join(entry.command('python')[1:])} -> {entry.weights}")
        return 0
    if args.command == "check":
        problems = registry_problems()
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(read_registry())} registered checkpoints, {len(problems)} problems")
        return 1 if problems else 0
    retrain(args.names or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
