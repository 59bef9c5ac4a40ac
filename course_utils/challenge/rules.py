"""The file rules of a submission folder, and the limits of the challenge."""

from __future__ import annotations

import os
from pathlib import Path

ENTRY_POINT = "submission.py"

ALLOWED_SUFFIXES = (
    ".py",
    ".safetensors",
    ".pt",
    ".pth",
    ".npy",
    ".npz",
    ".json",
    ".txt",
    ".md",
    ".yaml",
    ".yml",
)
"""The only file types a submission folder may hold."""

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".cloudpickle", ".sav")
PICKLE_MESSAGE = (
    "pickled files are not accepted: save weights with safetensors or "
    "torch.save(state_dict) loaded with weights_only=True"
)

DEFAULT_TIME_LIMIT = 1200.0
"""Seconds of CPU inference allowed for the whole test set (20 minutes)."""
DEFAULT_MAX_WEIGHTS_MB = 100.0
"""Size limit of a submission folder, in MB (10^6 bytes)."""
DEFAULT_MEMORY_LIMIT_GB = 4.0
"""Memory a worker may allocate (RLIMIT_DATA: heap and private mappings), in GB (2^30 bytes).

The TV baseline needs about 1.1 GB, torch and deepinv included; 4 GB leaves room for a
network and keeps the machine usable on a laptop with 8 GB."""
DEFAULT_MAX_PROCESSES = 64
"""Processes and threads a worker may run at once (its own included)."""
DEFAULT_MAX_FILE_MB = 256.0
"""Largest file a worker may write (stdout and stderr included), in MB."""
DEFAULT_TMP_MB = 512.0
"""Size of the worker's private temporary directory (``/tmp``, in memory), in MB."""


class UsageError(Exception):
    """Bad command-line input (missing folder or file, empty image folder, ...)."""


def format_mb(mb: float) -> str:
    return f"{mb:.1f}" if mb >= 0.1 else f"{mb:.3g}"


def submission_files(folder: Path) -> list[Path]:
    """Every file of a submission folder, recursively, except in ``__pycache__`` folders.

    Symbolic links to folders are listed too (they are not followed), so that the rules can
    refuse them.
    """
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        files.extend(Path(root) / d for d in dirs if (Path(root) / d).is_symlink())
        files.extend(Path(root) / n for n in sorted(names))
    return files


def check_submission_files(folder: Path, max_weights_mb: float) -> tuple[float, str | None]:
    """``(total size in MB, reason or None)`` for the file rules of the package docstring."""
    files = submission_files(folder)
    total_mb = round(sum(p.stat().st_size for p in files if p.is_file()) / 1e6, 6)
    if not (folder / ENTRY_POINT).is_file():
        return total_mb, f"{ENTRY_POINT} not found in {folder.name}/ (missing entry point)"
    for path in files:
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            return total_mb, f"{rel}: symbolic links are not allowed in a submission: copy the file"
        suffix = path.suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            return total_mb, f"{rel}: {PICKLE_MESSAGE}"
        if suffix not in ALLOWED_SUFFIXES:
            kind = f"file type {suffix!r}" if suffix else "a file without suffix"
            return total_mb, (
                f"{rel}: {kind} is not allowed in a submission (allowed: "
                f"{', '.join(ALLOWED_SUFFIXES)})"
            )
    if total_mb > max_weights_mb:
        return total_mb, (f"weights total {format_mb(total_mb)} MB > {max_weights_mb:g} MB limit")
    return total_mb, None


def load_submission(folder: str | Path):
    """``reconstruct(y, physics)`` of the submission in ``folder``, imported into this process.

    No sandbox and no limits: only for trusted code (the course's references, your own). The
    scorer runs submissions in a separate, sandboxed worker instead (``worker.run``); as there,
    the folder goes first on ``sys.path``, so ``submission.py`` can import its own modules.
    Unlike there, the global torch seed is left alone.
    """
    import importlib.util
    import sys

    folder = Path(folder).resolve()
    entry = folder / ENTRY_POINT
    if not entry.is_file():
        raise FileNotFoundError(f"{entry} not found: a submission folder holds {ENTRY_POINT}.")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f"submission_{folder.name}", entry)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "load_reconstructor", None)):
        raise AttributeError(
            f"{entry} does not define load_reconstructor(folder) (see "
            "notebooks/submission_template/submission.py)."
        )
    return module.load_reconstructor(folder)
