"""The deblurring challenge: build a test-set file, and score submissions on it.

Command line (``python -m course_utils.challenge --help``)::

    # instructors: turn a folder of clean images into a test-set file (measurements + truth)
    python -m course_utils.challenge make-testset IMAGE_DIR OUT_FILE [--seed N]

    # everyone: score one or more submission folders (default test set: the public dev set)
    python -m course_utils.challenge score SUBMISSION [SUBMISSION ...]
        [--testset FILE] [--json] [--out leaderboard.md]
        [--time-limit SECONDS] [--max-weights-mb MB] [--jobs N] [--threads N]
        [--log-dir DIR]

make-testset
------------
Every PNG/JPEG/TIFF/BMP/WebP file of ``IMAGE_DIR`` (top level, any size, gray or colour)
becomes one test image, named after its file stem; images are taken in sorted name order, so
the file does not depend on the order the file system lists them in. Each image is resized so
its shorter side is 256 pixels (antialiased bilinear, :func:`course_utils.data.to_official_size`)
and its centre 256x256 square is kept; images smaller than that are upsampled, with a
warning. Ground truth is rounded to 8 bits; image ``i`` gets the official blur and noise with
noise seed ``seed + i`` (:func:`course_utils.data.make_testset`). The output is a safetensors
file (:func:`course_utils.data.save_testset`): it holds tensors and text only, so loading it
never runs code. Other files are skipped with a note; an empty folder, an unreadable image or
two images with the same stem (``a.png`` and ``a.jpg``) are errors.

safetensors writes its metadata in an arbitrary order, so two runs with the same images and
seed give files with identical tensors and metadata but possibly different bytes. The summary
therefore prints, besides the file's sha256, a *content digest* (of the tensors and the sorted
metadata) that is the same from one run to the next.

Submissions
-----------
A submission is a folder holding an entry point ``submission.py`` and, optionally, weight
files. ``submission.py`` defines::

    def load_reconstructor(folder: pathlib.Path) -> Callable[[Tensor, Physics], Tensor]:
        '''Called once, with the submission's own folder (to find weight files).
        Returns reconstruct(y, physics): y is (B, 3, 256, 256) float32 on CPU;
        returns x_hat of the same shape.'''

* ``reconstruct`` is called once per test image, with ``B = 1`` (one image at a time, so
  memory stays small), and ``physics`` the challenge operator
  (:func:`course_utils.physics.make_physics` on the CPU). Gradients are not disabled: wrap
  network calls in ``torch.no_grad()`` yourself.
* The output must be a floating-point tensor of the input's shape, without NaN or infinite
  values; it is clamped to [0, 1] and scored with :func:`course_utils.metrics.psnr` and
  :func:`course_utils.metrics.ssim`. The score of a submission is the mean over the test set.
* The submission's folder is the working directory and is on ``sys.path``, so
  ``submission.py`` may import helper modules that sit next to it. ``torch.manual_seed(0)`` is
  called before ``load_reconstructor``.
* ``notebooks/submission_template/`` is a working example to copy;
  ``solutions/challenge/tv_baseline/`` is the TV baseline.

Rules enforced by ``score``
---------------------------
* Files: every file of the folder (recursively, except ``__pycache__``) counts towards a
  limit of 100 MB (``--max-weights-mb``; 1 MB = 10^6 bytes), and must have one of the
  suffixes in :data:`ALLOWED_SUFFIXES`. Pickle files (``.pkl``, ``.pickle``, ``.joblib``, ...)
  are refused: save weights with safetensors, or with ``torch.save(model.state_dict())``.
  A submission breaking these rules is not run.
* Weights are loaded without running pickled code: in the worker, ``torch.load`` always uses
  ``weights_only=True`` (a call with ``weights_only=False`` is overridden, and fails if the
  file needs pickled objects) and ``numpy.load`` always uses ``allow_pickle=False``.
* Inference runs on the CPU (``CUDA_VISIBLE_DEVICES=""``), in a separate process per
  submission, which never sees the ground truth: it gets a file holding only the
  measurements and image names, and writes its reconstructions to a file that the scorer reads.
* Time: the whole test set within 20 minutes (``--time-limit``), counted from starting the
  worker process (so importing, building the model and loading weights count) to the end of
  the last reconstruction; the worker exits as soon as it has written its output. A worker
  still running at the limit is killed with its whole process group. ``seconds`` reports the
  measured wall time, for successful submissions too.
* A broken submission (missing ``submission.py`` or ``load_reconstructor``, an exception,
  wrong output shape, NaN values, too slow, too large, ...) gets status ``error`` with the
  reason; the other submissions are scored as usual.

These checks enforce the rules of the challenge; they are **not a sandbox**. Scoring runs the
submitted Python code with your user's rights: it can read and write your files and open
network connections. Score code you do not trust inside a container or virtual machine
without network access and without your credentials.

Output of ``score``
-------------------
A table (ranked by mean PSNR, ties broken by mean SSIM; errors last) on stdout, or with
``--json`` one JSON object per line and submission, in the order given, with exactly the
fields ``name`` (the folder's name), ``psnr``, ``ssim`` (``null`` on error), ``seconds``,
``weights_mb``, ``status`` (``"ok"`` or ``"error"``) and ``error`` (the reason, or ``null``).
``--out FILE`` also writes the ranked table as a Markdown leaderboard. Progress goes to
stderr. The exit code is 0 whenever scoring ran, even if submissions failed, and 2 for bad
usage (missing test-set file or submission folder, ...).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from .data import (
    DEV_SET_FILE,
    TestSet,
    load_dev_set,
    load_image_file,
    load_testset,
    make_testset,
    save_testset,
    to_official_size,
)
from .paths import REPO_DIR, sha256_of
from .physics import IMAGE_SHAPE

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
"""Files of an image folder that ``make-testset`` reads; other files are skipped."""

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
ENTRY_POINT = "submission.py"
OFFICIAL_SIZE = IMAGE_SHAPE[-1]

_MEASUREMENTS_FORMAT = "course-deblurring-measurements-v1"
_REASON_MAX_CHARS = 400
_WORKER_COMMAND = "_worker"


class UsageError(Exception):
    """Bad command-line input (missing folder or file, empty image folder, ...)."""


# --------------------------------------------------------------------------- make-testset


def collect_images(image_dir: str | Path, log: Callable[[str], None] = print) -> dict[str, Path]:
    """The image files of ``image_dir`` by name (file stem), sorted by name.

    Non-image files and sub-folders are skipped with a note through ``log``.

    :raises UsageError: the folder is missing, holds no image, or two images share a stem.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise UsageError(f"image folder {image_dir} does not exist or is not a folder.")
    found: dict[str, Path] = {}
    for path in sorted(image_dir.iterdir()):
        if path.is_dir():
            log(f"note: skipping sub-folder {path.name}/ (only the folder's top level is read)")
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            log(f"note: skipping {path.name}: not an image file ({', '.join(IMAGE_SUFFIXES)})")
            continue
        if path.stem in found:
            raise UsageError(
                f"{found[path.stem].name} and {path.name} would both be named {path.stem!r}: "
                "image names are file stems and must be unique. Rename or remove one of them."
            )
        found[path.stem] = path
    if not found:
        raise UsageError(
            f"no images in {image_dir}: put PNG or JPEG files ({', '.join(IMAGE_SUFFIXES)}) "
            "in that folder."
        )
    return dict(sorted(found.items()))


def content_digest(path: str | Path) -> str:
    """sha256 of a safetensors file's tensors (name, dtype, shape, bytes) and sorted metadata.

    Unlike the file's own sha256, it does not depend on the order safetensors happens to write
    the metadata in, so rebuilding a test set from the same images and seed gives the same
    digest.
    """
    from safetensors import safe_open

    h = hashlib.sha256()
    with safe_open(str(path), framework="pt") as f:
        h.update(json.dumps(f.metadata() or {}, sort_keys=True).encode())
        for key in sorted(f.keys()):
            t = f.get_tensor(key).contiguous()
            h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def build_testset_file(
    image_dir: str | Path, out_file: str | Path, seed: int = 0, log: Callable[[str], None] = print
) -> dict:
    """Make a test-set file from a folder of clean images (see the module docstring).

    Returns a summary: ``n_images``, ``names``, ``seed``, ``path``, ``sha256`` (of the file)
    and ``content_sha256`` (see :func:`content_digest`).

    :raises UsageError: bad folder, unreadable image, duplicate names, negative seed.
    """
    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {seed}.")
    out_file = Path(out_file)
    if out_file.resolve() == DEV_SET_FILE.resolve():
        raise UsageError(
            f"{out_file} is the shipped dev set; write the test set elsewhere (the dev set is "
            "rebuilt with course_utils.data.build_dev_set)."
        )
    if out_file.is_dir():
        raise UsageError(f"OUT_FILE {out_file} is a folder; give a file name.")
    files = collect_images(image_dir, log=log)
    images = []
    for path in files.values():
        try:
            image = load_image_file(path)
        except Exception as err:
            raise UsageError(f"cannot read image {path}: {err}") from err
        h, w = image.shape[-2:]
        if min(h, w) < OFFICIAL_SIZE:
            log(
                f"warning: {path.name} is only {w}x{h} pixels; it is upsampled so its shorter "
                f"side is {OFFICIAL_SIZE} (the ground truth will look soft)"
            )
        # Bring each image to the official size at once, so big photos do not pile up in
        # memory; make_testset applies to_official_size again, which leaves it unchanged.
        images.append(to_official_size(image))
    names = list(files)
    x, y = make_testset(images, names, seed=seed)
    if out_file.exists():
        log(f"note: overwriting {out_file}")
    save_testset(out_file, x, y, names, seed)
    return {
        "n_images": len(names),
        "names": names,
        "seed": seed,
        "path": str(out_file),
        "sha256": sha256_of(out_file),
        "content_sha256": content_digest(out_file),
    }


# --------------------------------------------------------------------------------- scoring


@dataclass
class Result:
    """The score of one submission; :meth:`to_json` gives the fields of ``score --json``."""

    name: str
    psnr: float | None
    ssim: float | None
    seconds: float | None
    weights_mb: float | None
    status: str
    error: str | None

    def to_json(self) -> dict:
        return asdict(self)


def _error(name: str, reason: str, seconds=None, weights_mb=None) -> Result:
    return Result(name, None, None, seconds, weights_mb, "error", _trim(reason))


def _trim(text: str, limit: int = _REASON_MAX_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format_mb(mb: float) -> str:
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
    """``(total size in MB, reason or None)`` for the file rules of the module docstring."""
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
        return total_mb, (f"weights total {_format_mb(total_mb)} MB > {max_weights_mb:g} MB limit")
    return total_mb, None


def _write_measurements(path: Path, testset: TestSet) -> None:
    """The worker's input: measurements and names only, never the ground truth."""
    from safetensors.torch import save_file

    save_file(
        {"y": testset.y.float().contiguous()},
        str(path),
        metadata={"format": _MEASUREMENTS_FORMAT, "names": json.dumps(testset.names)},
    )


def _worker_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    # The worker runs in the submission's folder: keep course_utils importable from there
    # even without an installed package, after whatever PYTHONPATH already holds.
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(REPO_DIR) not in paths:
        paths.append(str(REPO_DIR))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    return env


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the worker's whole process group (it leads its own session), then reap it."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


_metrics_lock = threading.Lock()


def _score_output(out_file: Path, testset: TestSet) -> tuple[float, float] | str:
    """``(mean PSNR, mean SSIM)`` of the worker's reconstructions, or the reason they are bad."""
    from safetensors.torch import load_file

    from .metrics import psnr, ssim

    try:
        x_hat = load_file(str(out_file))["x_hat"]
    except Exception as err:
        return f"could not read the reconstructions: {err}"
    if x_hat.shape != testset.x.shape or not torch.is_floating_point(x_hat):
        return f"reconstructions have shape {tuple(x_hat.shape)}, expected {tuple(testset.x.shape)}"
    if not torch.isfinite(x_hat).all():
        return "reconstructions contain NaN or infinite values"
    with _metrics_lock:
        return float(psnr(x_hat, testset.x).mean()), float(ssim(x_hat, testset.x).mean())


def score_submission(
    folder: str | Path,
    testset: TestSet,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_weights_mb: float = DEFAULT_MAX_WEIGHTS_MB,
    threads: int | None = None,
    log_dir: str | Path | None = None,
) -> Result:
    """Check, run and score one submission folder on ``testset`` (which holds the ground truth).

    The submission runs in a worker process (see the module docstring). Any failure gives a
    :class:`Result` with status ``"error"``; this function does not raise for a broken
    submission.

    :param threads: CPU threads for the worker (``OMP_NUM_THREADS``); ``None``: all cores.
    :param log_dir: if given, the worker's stdout and stderr are saved as ``NAME.log`` there.
    """
    folder = Path(folder).resolve()
    name = folder.name
    if not folder.is_dir():
        return _error(name, f"submission folder {folder} does not exist")
    weights_mb, reason = check_submission_files(folder, max_weights_mb)
    if reason is not None:
        return _error(name, reason, weights_mb=weights_mb)

    with tempfile.TemporaryDirectory(prefix="challenge-") as tmp:
        tmp = Path(tmp)
        measurements, out_dir = tmp / "measurements.safetensors", tmp / "out"
        out_dir.mkdir()
        _write_measurements(measurements, testset)
        stdout, stderr = tmp / "stdout.txt", tmp / "stderr.txt"
        command = [
            sys.executable,
            "-m",
            "course_utils.challenge",
            _WORKER_COMMAND,
            str(folder),
            str(measurements),
            str(out_dir),
        ]
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                command,
                cwd=folder,
                env=_worker_env(threads),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=time_limit)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # On time-out, on Ctrl-C in the scorer, and after a normal exit alike: leave
                # no process that the submission may have started behind.
                _kill_group(proc)
            seconds = round(time.perf_counter() - start, 3)
        if log_dir is not None:
            log_dir = Path(log_dir)
            log_dir.mkdir(parents=True, exist_ok=True)
            (log_dir / f"{name}.log").write_text(
                "=== stdout ===\n"
                + stdout.read_text(errors="replace")
                + "\n=== stderr ===\n"
                + stderr.read_text(errors="replace")
            )

        if timed_out:
            return _error(
                name,
                f"time limit exceeded: still running after {time_limit:g} s "
                f"(--time-limit {time_limit:g}); the worker was killed",
                seconds=seconds,
                weights_mb=weights_mb,
            )
        status_file = out_dir / "status.json"
        try:
            status = json.loads(status_file.read_text())
        except (OSError, ValueError):
            tail = _tail(stderr) or _tail(stdout) or "no output"
            return _error(
                name,
                f"the worker exited with code {proc.returncode} before finishing: {tail}",
                seconds=seconds,
                weights_mb=weights_mb,
            )
        if status.get("status") != "ok":
            reason = str(status.get("error") or "unknown error")
            return _error(name, reason, seconds=seconds, weights_mb=weights_mb)
        scores = _score_output(out_dir / "x_hat.safetensors", testset)
    if isinstance(scores, str):
        return _error(name, scores, seconds=seconds, weights_mb=weights_mb)
    return Result(name, round(scores[0], 4), round(scores[1], 5), seconds, weights_mb, "ok", None)


def score_submissions(
    folders: Sequence[str | Path],
    testset: TestSet,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_weights_mb: float = DEFAULT_MAX_WEIGHTS_MB,
    jobs: int = 1,
    threads: int | None = None,
    log_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Result]:
    """Score several submissions; results in the order of ``folders``.

    ``jobs > 1`` runs that many workers at once, sharing the CPU cores between them (each gets
    ``cores // jobs`` threads unless ``threads`` is given); use the default of 1 for timings
    that compare fairly.
    """
    if threads is None and jobs > 1:
        threads = max(1, (os.cpu_count() or 1) // jobs)
    n = len(folders)

    def one(k: int, folder) -> Result:
        result = score_submission(folder, testset, time_limit, max_weights_mb, threads, log_dir)
        if log is not None:
            log(f"[{k + 1}/{n}] {result.name}: {_summary(result)}")
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, range(n), folders))


def _summary(r: Result) -> str:
    if r.status == "ok":
        return f"ok, PSNR {r.psnr:.2f} dB, SSIM {r.ssim:.4f}, {r.seconds:.1f} s"
    return f"error: {r.error}"


def rank(results: Sequence[Result]) -> list[tuple[int | None, Result]]:
    """``(rank, result)`` pairs: by mean PSNR descending, ties broken by mean SSIM, errors last
    (rank ``None``). Exact ties share a rank."""
    ok = sorted((r for r in results if r.status == "ok"), key=lambda r: (-r.psnr, -r.ssim))
    ranked: list[tuple[int | None, Result]] = []
    for i, r in enumerate(ok):
        same = i > 0 and (r.psnr, r.ssim) == (ok[i - 1].psnr, ok[i - 1].ssim)
        ranked.append((ranked[-1][0] if same else i + 1, r))
    ranked.extend((None, r) for r in results if r.status != "ok")
    return ranked


def _cells(r: Result) -> tuple[str, str, str, str]:
    psnr = "-" if r.psnr is None else f"{r.psnr:.2f}"
    ssim = "-" if r.ssim is None else f"{r.ssim:.4f}"
    secs = "-" if r.seconds is None else f"{r.seconds:.1f}"
    mb = "-" if r.weights_mb is None else f"{r.weights_mb:.2f}"
    return psnr, ssim, secs, mb


def format_table(results: Sequence[Result]) -> str:
    """The ranked results as a plain-text table."""
    header = ("rank", "submission", "PSNR (dB)", "SSIM", "time (s)", "weights (MB)", "status")
    rows = [header]
    for k, r in rank(results):
        rows.append(("-" if k is None else str(k), r.name, *_cells(r), r.status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    left = {0, 1, 6}
    lines = [
        "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    errors = [f"  {r.name}: {r.error}" for r in results if r.status != "ok"]
    if errors:
        lines += ["", "errors:", *errors]
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def leaderboard_markdown(
    results: Sequence[Result],
    testset_path: str | Path,
    testset: TestSet,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_weights_mb: float = DEFAULT_MAX_WEIGHTS_MB,
) -> str:
    """A Markdown leaderboard: ranked table, errors last with their reason."""
    lines = [
        "# Challenge leaderboard",
        "",
        f"Test set `{Path(testset_path).name}`: {len(testset.names)} images, noise seed "
        f"{testset.seed}. Score: mean PSNR (dB) over the test set, ties broken by mean SSIM "
        f"(`course_utils.metrics`). Limits: {time_limit:g} s of CPU inference for the whole "
        f"test set, {max_weights_mb:g} MB of files, no pickled weights.",
        "",
        "| Rank | Submission | PSNR (dB) | SSIM | Time (s) | Weights (MB) | Status |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for k, r in rank(results):
        status = "ok" if r.status == "ok" else f"error: {_md(r.error or '')}"
        cells = " | ".join(_cells(r))
        lines.append(f"| {'–' if k is None else k} | `{_md(r.name)}` | {cells} | {status} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- worker


class _SubmissionFailure(Exception):
    """A submission broke the contract; the message is the reason reported."""


def _describe(err: BaseException, folder: Path) -> str:
    """``Type: message (file, line N)`` for an exception, pointing into the submission."""
    message = traceback.format_exception_only(type(err), err)[-1].strip()
    where = None
    if isinstance(err, SyntaxError) and err.filename:
        where = (err.filename, err.lineno)
    else:
        for frame in reversed(traceback.extract_tb(err.__traceback__)):
            if frame.filename.startswith("<"):  # <frozen ...>, <string>: no file
                continue
            try:
                Path(frame.filename).resolve().relative_to(folder)
            except ValueError:
                continue
            where = (frame.filename, frame.lineno)
            break
    if where is not None:
        try:
            shown = Path(where[0]).resolve().relative_to(folder).as_posix()
        except ValueError:
            shown = Path(where[0]).name
        message += f" ({shown}, line {where[1]})"
    return message


def _install_load_guards() -> None:
    """Make ``torch.load`` and ``numpy.load`` refuse to run pickled code."""
    import pickle
    import warnings

    import numpy as np

    torch_load = torch.load
    numpy_load = np.load

    def safe_torch_load(f, *args, weights_only=None, **kwargs):
        if weights_only is False:
            warnings.warn(
                "torch.load(..., weights_only=False) is overridden by the challenge scorer: "
                "weights are always loaded with weights_only=True.",
                stacklevel=2,
            )
        try:
            return torch_load(f, *args, weights_only=True, **kwargs)
        except pickle.UnpicklingError as err:
            # torch's message suggests weights_only=False; keep only the line saying what
            # the file needs (e.g. "Trying to load unsupported GLOBAL posix.system ...").
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            detail = next(
                (line for line in lines if "GLOBAL" in line or "Unsupported" in line),
                lines[0] if lines else "",
            )
            source = Path(f).name if isinstance(f, str | os.PathLike) else "a file object"
            raise pickle.UnpicklingError(
                f"torch.load refused {source}: it needs pickled code, and the challenge always "
                "loads with weights_only=True (weights_only=False is not allowed). Save weights "
                f"with safetensors, or torch.save(model.state_dict()). Details: {detail}"
            ) from None

    def safe_numpy_load(file, *args, allow_pickle=False, **kwargs):
        if allow_pickle:
            warnings.warn(
                "numpy.load(..., allow_pickle=True) is overridden by the challenge scorer: "
                "pickled object arrays are not accepted.",
                stacklevel=2,
            )
        return numpy_load(file, *args, allow_pickle=False, **kwargs)

    torch.load = safe_torch_load
    torch.serialization.load = safe_torch_load
    np.load = safe_numpy_load


def _call(fn, *args, what: str, folder: Path):
    try:
        return fn(*args)
    except BaseException as err:  # report anything the submission raises
        traceback.print_exc()
        raise _SubmissionFailure(f"{what} raised {_describe(err, folder)}") from None


def _check_output(out, name: str, expected: torch.Size) -> Tensor:
    where = f"output for image {name!r}"
    if not isinstance(out, Tensor):
        raise _SubmissionFailure(f"{where} is a {type(out).__name__}, expected a torch.Tensor")
    if tuple(out.shape) != tuple(expected):
        raise _SubmissionFailure(
            f"{where} has shape {tuple(out.shape)}, expected {tuple(expected)}"
        )
    if not torch.is_floating_point(out):
        raise _SubmissionFailure(
            f"{where} has dtype {out.dtype}, expected a floating-point tensor in [0, 1]"
        )
    try:
        out = out.detach().to("cpu", torch.float32)
    except Exception as err:
        raise _SubmissionFailure(f"{where} cannot be copied to the CPU: {err}") from None
    n_nan = int(torch.isnan(out).sum())
    n_inf = int(torch.isinf(out).sum())
    if n_nan or n_inf:
        parts = [f"{n_nan} NaN values"] * bool(n_nan) + [f"{n_inf} infinite values"] * bool(n_inf)
        raise _SubmissionFailure(f"{where} contains {' and '.join(parts)}")
    return out


def _run_worker(folder: Path, measurements: Path, out_dir: Path) -> None:
    import importlib.util

    from safetensors import safe_open

    from .physics import make_physics

    _install_load_guards()
    with safe_open(str(measurements), framework="pt") as f:
        names = json.loads((f.metadata() or {})["names"])
        y = f.get_tensor("y")

    entry = folder / ENTRY_POINT
    if not entry.is_file():
        raise _SubmissionFailure(f"{ENTRY_POINT} not found in {folder.name}/")
    sys.path.insert(0, str(folder))
    torch.manual_seed(0)
    spec = importlib.util.spec_from_file_location("submission", entry)
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    _call(spec.loader.exec_module, module, what=f"importing {ENTRY_POINT}", folder=folder)

    load = getattr(module, "load_reconstructor", None)
    if not callable(load):
        raise _SubmissionFailure(
            f"{ENTRY_POINT} does not define load_reconstructor(folder) (see "
            "notebooks/submission_template/submission.py)"
        )
    reconstruct = _call(load, folder, what="load_reconstructor(folder)", folder=folder)
    if not callable(reconstruct):
        raise _SubmissionFailure(
            "load_reconstructor(folder) must return a function reconstruct(y, physics), got "
            f"{type(reconstruct).__name__}"
        )
    physics = make_physics("cpu")
    outputs = []
    for i, name in enumerate(names):
        y_i = y[i : i + 1].clone()
        out = _call(
            reconstruct,
            y_i,
            physics,
            what=f"reconstruct(y, physics) on image {name!r}",
            folder=folder,
        )
        outputs.append(_check_output(out, name, y_i.shape))

    from safetensors.torch import save_file

    save_file({"x_hat": torch.cat(outputs).contiguous()}, str(out_dir / "x_hat.safetensors"))


def _worker_main(argv: list[str]) -> None:
    """Hidden subcommand: run one submission on a measurements-only file (see
    :func:`score_submission`)."""
    folder, measurements, out_dir = (Path(a).resolve() for a in argv)
    try:
        _run_worker(folder, measurements, out_dir)
        status = {"status": "ok", "error": None}
    except _SubmissionFailure as err:
        status = {"status": "error", "error": str(err)}
    tmp = out_dir / "status.json.tmp"
    tmp.write_text(json.dumps(status))
    tmp.replace(out_dir / "status.json")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's slow teardown: the time counts until exit


# ------------------------------------------------------------------------- command line


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.challenge",
        description="The deblurring challenge: make test sets and score submissions. "
        "The rules and the submission contract are in the docstring of course_utils/challenge.py.",
        epilog="examples:\n"
        "  python -m course_utils.challenge score my_submission    # on the public dev set\n"
        "  python -m course_utils.challenge make-testset my_images/ hidden.safetensors --seed 1\n"
        "  python -m course_utils.challenge score subs/* --testset hidden.safetensors "
        "--out leaderboard.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    make = sub.add_parser(
        "make-testset",
        help="turn a folder of clean images into a test-set file",
        description="Crop/resize every image of IMAGE_DIR to 256x256 (shorter side resized to "
        "256, centre crop; small images are upsampled), blur it with the official kernel, add "
        "the official noise (image i gets seed SEED+i) and write measurements and 8-bit ground "
        "truth to OUT_FILE (safetensors). Image names are the file stems, in sorted order.",
    )
    make.add_argument("image_dir", metavar="IMAGE_DIR", type=Path)
    make.add_argument("out_file", metavar="OUT_FILE", type=Path)
    make.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")

    score = sub.add_parser(
        "score",
        help="score submission folders",
        description="Run each submission folder (a submission.py defining "
        "load_reconstructor(folder)) on the measurements of a test set, in its own CPU-only "
        "process, and score it with mean PSNR and SSIM. Exit code 0 whenever scoring ran.",
    )
    score.add_argument("submissions", metavar="SUBMISSION", nargs="+", type=Path)
    score.add_argument(
        "--testset",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"test-set file (default: the public dev set, {DEV_SET_FILE.relative_to(REPO_DIR)})",
    )
    score.add_argument(
        "--json", action="store_true", help="print one JSON object per line and submission"
    )
    score.add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="write a Markdown leaderboard"
    )
    score.add_argument(
        "--time-limit",
        type=_positive(float),
        default=DEFAULT_TIME_LIMIT,
        metavar="SECONDS",
        help="wall time allowed per submission for the whole test set, from the start of its "
        f"process, so imports and loading weights count (default: {DEFAULT_TIME_LIMIT:g})",
    )
    score.add_argument(
        "--max-weights-mb",
        type=_positive(float),
        default=DEFAULT_MAX_WEIGHTS_MB,
        metavar="MB",
        help=f"size limit of a submission folder in MB (default: {DEFAULT_MAX_WEIGHTS_MB:g})",
    )
    score.add_argument(
        "--jobs",
        type=_positive(int),
        default=1,
        metavar="N",
        help="run N submissions at once (default: 1; timings compare fairly only with 1)",
    )
    score.add_argument(
        "--threads",
        type=_positive(int),
        default=None,
        metavar="N",
        help="CPU threads per worker (default: all cores, or cores/N with --jobs N); on a busy "
        "machine fewer threads can be much faster",
    )
    score.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="save each worker's stdout and stderr as DIR/NAME.log",
    )
    return parser


def _load_testset_arg(path: Path | None) -> tuple[Path, TestSet]:
    try:
        if path is None:
            return DEV_SET_FILE, load_dev_set(ground_truth=True)
        return path, load_testset(path, ground_truth=True)
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise UsageError(str(err)) from err


def _cmd_make_testset(args) -> None:
    summary = build_testset_file(args.image_dir, args.out_file, args.seed)
    print(f"wrote {summary['n_images']} images with noise seed {summary['seed']}")
    print(f"  names:  {', '.join(summary['names'])}")
    print(f"  output: {summary['path']}")
    print(f"  sha256: {summary['sha256']}")
    print(f"  content sha256 (same on every rebuild): {summary['content_sha256']}")


def _cmd_score(args) -> None:
    missing = [str(p) for p in args.submissions if not p.is_dir()]
    if missing:
        raise UsageError(f"submission folder(s) not found: {', '.join(missing)}")
    names = [p.resolve().name for p in args.submissions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(
            f"several submission folders are named {', '.join(duplicates)}: results are "
            "reported by folder name, so give each submission its own name."
        )
    if args.out is not None and args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name.")
    testset_path, testset = _load_testset_arg(args.testset)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log(
        f"scoring {len(args.submissions)} submission(s) on {testset_path} "
        f"({len(testset.names)} images, time limit {args.time_limit:g} s)"
    )
    results = score_submissions(
        args.submissions,
        testset,
        time_limit=args.time_limit,
        max_weights_mb=args.max_weights_mb,
        jobs=args.jobs,
        threads=args.threads,
        log_dir=args.log_dir,
        log=log,
    )
    if args.json:
        for r in results:
            print(json.dumps(r.to_json()))
    else:
        print(format_table(results))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            leaderboard_markdown(
                results, testset_path, testset, args.time_limit, args.max_weights_mb
            )
        )
        log(f"leaderboard written to {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m course_utils.challenge``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [_WORKER_COMMAND]:
        _worker_main(argv[1:])
        return 0
    args = _parser().parse_args(argv)
    try:
        if args.command == "make-testset":
            _cmd_make_testset(args)
        else:
            _cmd_score(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
