"""The challenge kernel: the shipped file, the recipe it was drawn from, and the provenance check.

The shipped, checksummed ``data/challenge/motion_kernel.npy`` **is** the official kernel; every
notebook and the scorer load it with :func:`load_kernel`. The recipe is its provenance.

deepinv's ``MotionBlurGenerator`` draws a trajectory of ``N = 159`` points in [-1, 1]² (a
Gaussian process filtered with ``sqrt`` of the FFT of a Matérn covariance) and bins them into a
25×25 histogram, so every kernel value is a multiple of 1/N. The high frequencies of that
covariance lie below float32 rounding, and ``sqrt`` of the rounding noise is of order 1e-3, so
the trajectory differs by about 1e-3 from one CPU (FFT code path) to another. A point moves to a
neighbouring bin only if it lies within that distance of a bin edge: two CPUs' kernels differ by
a few such moves (an L1 distance of at most 2m/N for m movable points), never by more.
:func:`check_kernel_provenance` tests exactly that.
"""

from __future__ import annotations

import deepinv as dinv
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from .paths import DATA_DIR, verify_file

KERNEL_FILE = DATA_DIR / "challenge" / "motion_kernel.npy"

KERNEL_RECIPE = {
    "generator": "deepinv.physics.generator.MotionBlurGenerator",
    "psf_size": 25,
    "l": 0.5,
    "sigma": 0.5,
    "seed": 2,
}
"""How the shipped kernel was drawn (deepinv 0.5.0); :func:`generate_kernel` re-creates it."""


def _generator() -> dinv.physics.generator.MotionBlurGenerator:
    r = KERNEL_RECIPE
    return dinv.physics.generator.MotionBlurGenerator(
        (r["psf_size"], r["psf_size"]),
        rng=torch.Generator().manual_seed(r["seed"]),
        l=r["l"],
        sigma=r["sigma"],
    )


def generate_kernel() -> Tensor:
    """Draw a kernel from :data:`KERNEL_RECIPE` with deepinv; shape ``(1, 1, 25, 25)``.

    On another CPU this may differ from the shipped file in a few pixels (see the module
    docstring); the shipped file is the official kernel.
    """
    return _generator().step(batch_size=1)["filter"].float()


def recipe_trajectory(dtype: torch.dtype = torch.float32) -> Tensor:
    """The recipe's motion trajectory, shape ``(N, 2)``, coordinates in [-1, 1] (kernel units).

    The random draws are deepinv's (float32, from the recipe's seed); the filtering runs in
    ``dtype``. With float32 this is the trajectory behind :func:`generate_kernel` (a test checks
    that :func:`kernel_from_trajectory` of it equals ``generate_kernel()``); float64 gives the
    same trajectory computed more exactly, which measures the float32 rounding.
    """
    gen = _generator()
    n = gen.n_steps
    time = torch.linspace(-torch.pi, torch.pi, n, dtype=dtype)[None]
    sqrt_spectrum = torch.sqrt(torch.fft.rfft(gen.matern_kernel(time)))
    keep = torch.arange(n // (2 * torch.pi)).int()
    coords = []
    for _ in range(2):  # x then y, in deepinv's order of draws
        vec = torch.randn(1, n, generator=gen.rng, dtype=torch.float32).to(dtype)
        f = torch.fft.irfft(torch.fft.rfft(vec) * sqrt_spectrum, n=n).real[0, keep]
        coords.append(f - f.mean())
    return torch.stack(coords, dim=-1)


def kernel_from_trajectory(trajectory: Tensor) -> Tensor:
    """Bin a trajectory ``(N, 2)`` into the normalised 25×25 kernel, shape ``(1, 1, 25, 25)``.

    The same histogram and normalisation as deepinv's ``MotionBlurGenerator.step``.
    """
    size = KERNEL_RECIPE["psf_size"]
    hist = dinv.physics.functional.histogramdd(
        trajectory.float(), bins=[size, size], low=[-1, -1], upp=[1, 1]
    )
    hist = hist.float()
    return (hist / (hist.sum() + 1e-6))[None, None]


def load_kernel() -> Tensor:
    """The shipped challenge kernel, shape ``(1, 1, 25, 25)``, float32, sums to 1.

    The file's sha256 is checked against ``data/challenge/SHA256SUMS``.
    """
    verify_file(KERNEL_FILE)
    k = np.load(KERNEL_FILE, allow_pickle=False)
    return torch.from_numpy(k.astype(np.float32))[None, None]


def _bin_options(coord: Tensor, size: int, slack: float) -> list[list[int]]:
    """For each coordinate value, the bins it can fall in when perturbed by at most ``slack``."""
    width = 2.0 / size
    options = []
    for c in coord.tolist():
        lo = int(np.floor((c - slack + 1) / width))
        hi = int(np.floor((c + slack + 1) / width))
        options.append(list(range(lo, hi + 1)))
    return options


def check_kernel_provenance(
    kernel: Tensor | None = None,
    trajectory: Tensor | None = None,
    slack: float | None = None,
) -> dict:
    """Check that ``kernel`` is the recipe's histogram, up to moves that rounding can cause.

    ``kernel``: ``(1, 1, 25, 25)`` (default: the shipped file). ``trajectory``: the recipe's
    trajectory as computed on this CPU (default :func:`recipe_trajectory`). ``slack``: how far a
    point may have moved on the CPU that made ``kernel``, in kernel units (default: twice the
    float32 rounding of the trajectory measured here, ``max |t_float32 - t_float64|``, since each
    of the two CPUs' trajectories lies within that distance of the exact one).

    Passes when the kernel's counts (``kernel * N``) are integers and each point can be put in a
    bin within ``slack`` of its position here so that the counts come out exactly (an
    assignment problem). Raises ``ValueError`` otherwise. Returns a dict with ``samples`` (N),
    ``movable`` (points within ``slack`` of a bin edge: m), ``moved`` (points in another bin
    than here), ``l1`` (L1 distance to this CPU's histogram), ``l1_bound`` (2m/N) and ``slack``.
    """
    if kernel is None:
        kernel = load_kernel()
    if trajectory is None:
        trajectory = recipe_trajectory()
    if slack is None:
        slack = 2 * float((recipe_trajectory() - recipe_trajectory(torch.float64)).abs().max())
    size = KERNEL_RECIPE["psf_size"]
    if tuple(kernel.shape) != (1, 1, size, size):
        raise ValueError(
            f"kernel must have shape (1, 1, {size}, {size}), got {tuple(kernel.shape)}."
        )
    t = trajectory.double()
    if ((t.abs() - 1).abs() < slack).any():
        raise ValueError(
            f"a trajectory point lies within {slack:.1e} of the kernel's border, so rounding "
            "could drop it from the histogram; this check cannot decide (the recipe has none)."
        )
    inside = (t.abs() <= 1).all(dim=1)
    n = int(inside.sum())
    counts = kernel[0, 0].double() * (n + 1e-6)
    if (counts - counts.round()).abs().max() > 1e-3:
        raise ValueError(
            f"the kernel is not a histogram of the recipe's {n} trajectory points: its values "
            f"are not multiples of 1/{n}. Restore data/challenge/motion_kernel.npy with git."
        )
    target = counts.round().long().flatten()
    here = kernel_from_trajectory(trajectory)[0, 0].double() * (n + 1e-6)
    here = here.round().long().flatten()

    rows = _bin_options(t[inside, 0], size, slack)
    cols = _bin_options(t[inside, 1], size, slack)
    options = [[r * size + c for r in rs for c in cs] for rs, cs in zip(rows, cols, strict=True)]
    movable = sum(len(o) > 1 for o in options)
    # Points with one possible bin are fixed; the others must fill what is left exactly.
    left = target.clone()
    for o in options:
        if len(o) == 1:
            left[o[0]] -= 1
    free = [o for o in options if len(o) > 1]
    feasible = bool((left >= 0).all()) and int(left.sum()) == len(free)
    if feasible and free:
        slots = [b for b in range(size * size) for _ in range(int(left[b]))]
        cost = np.array([[0.0 if b in o else 1.0 for b in slots] for o in free])
        r_idx, c_idx = linear_sum_assignment(cost)
        feasible = cost[r_idx, c_idx].sum() == 0
    report = {
        "samples": n,
        "movable": movable,
        "moved": int((target - here).abs().sum()) // 2,
        "l1": float((target - here).abs().sum()) / n,
        "l1_bound": 2 * movable / n,
        "slack": slack,
    }
    if not feasible:
        raise ValueError(
            f"the kernel differs from the recipe's histogram by more than rounding can explain: "
            f"{report['moved']} points in other bins (L1 distance {report['l1']:.3f}), but only "
            f"{movable} points lie within {slack:.1e} of a bin edge (L1 at most "
            f"{report['l1_bound']:.3f}). Restore data/challenge/motion_kernel.npy with git."
        )
    return report
