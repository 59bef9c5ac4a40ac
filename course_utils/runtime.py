"""Run-time switches shared by every notebook: fast mode, seeding and device choice.

Fast mode is one environment variable, ``COURSE_FAST``. The test suite sets it to ``1`` so
that CI executes every notebook on small data; students leave it unset and get full-size runs.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

FAST_ENV = "COURSE_FAST"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_fast() -> bool:
    """True when ``COURSE_FAST`` is set to 1/true/yes/on (the tests set it)."""
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{FAST_ENV}={value!r} is not understood: set it to 1 for fast mode or 0 (or unset) "
        "for full-size runs."
    )


def choose(fast, full):
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``epochs = choose(2, 50)``."""
    return fast if is_fast() else full


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a ``torch.Generator`` seeded with ``seed``.

    Pass the returned generator to code that draws random numbers, so that a cell gives the
    same numbers however often it is run.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - some libraries still draw from the global RNG
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(prefer: str | None = None) -> torch.device:
    """The device to compute on: CPU by default, CUDA when available.

    ``prefer="cpu"`` forces the CPU (the challenge is scored on CPU); ``prefer="cuda"`` raises a
    clear error when no GPU is present. The environment variable ``COURSE_DEVICE`` overrides
    the automatic choice.
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE") or None
    if prefer is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(prefer)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "A CUDA device was requested but none is available: use get_device() or "
            "get_device('cpu')."
        )
    return device


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock time of ``fn()`` in seconds, over ``repeats`` calls after ``warmup``.

    The median resists the odd slow call (another process, the first call's allocations).
    Timings depend on the machine and its load: compare them with each other, and assert
    only ratios with generous margins.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}.")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
