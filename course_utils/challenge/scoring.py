"""Scoring: run each submission's worker (in the sandbox) and measure its reconstructions."""

from __future__ import annotations

import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..data import TestSet
from . import sandbox
from .rules import (
    DEFAULT_MAX_WEIGHTS_MB,
    DEFAULT_TIME_LIMIT,
    check_submission_files,
    submission_files,
)
from .worker import MEASUREMENTS_FORMAT

REASON_MAX_CHARS = 400
PREVIEW_IMAGES = 3
"""How many test images the HTML leaderboard shows for each submission."""


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
    psnr_sem: float | None = None
    images: list[str] | None = None
    psnr_per_image: list[float] | None = None
    ssim_per_image: list[float] | None = None
    sandboxed: bool | None = None
    previews: list[torch.Tensor] = field(default_factory=list, repr=False)
    """Reconstructions of the first :data:`PREVIEW_IMAGES` images (for the HTML page)."""

    def to_json(self) -> dict:
        record = asdict(self)
        record.pop("previews")
        return record


JSON_FIELDS = [f for f in Result.__dataclass_fields__ if f != "previews"]
"""The fields of each ``score --json`` line, in order."""


def error_result(name: str, reason: str, seconds=None, weights_mb=None, sandboxed=None) -> Result:
    return Result(name, None, None, seconds, weights_mb, "error", trim(reason), sandboxed=sandboxed)


def trim(text: str, limit: int = REASON_MAX_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_measurements(path: Path, testset: TestSet) -> None:
    """The worker's input: measurements only (no ground truth, no image names, no seed)."""
    from safetensors.torch import save_file

    save_file(
        {"y": testset.y.float().contiguous()}, str(path), metadata={"format": MEASUREMENTS_FORMAT}
    )
    os.chmod(path, 0o644)  # readable by the unprivileged worker


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the worker's whole process group (it leads its own session), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
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


def _read_capped(fd: int, cap: int, into: list) -> None:
    """Read a pipe to its end, keeping at most ``cap`` bytes (``into`` gets data, overflow)."""
    chunks, size, overflow = [], 0, False
    with os.fdopen(fd, "rb") as pipe:
        while block := pipe.read(1 << 20):
            if size + len(block) > cap:
                overflow = True
                continue  # keep draining so the writer does not block
            chunks.append(block)
            size += len(block)
    into.extend([b"".join(chunks), overflow])


_metrics_lock = threading.Lock()


def _name_images(reason: str, names: list[str]) -> str:
    """``image 2 of 5`` -> ``image 2 of 5 ('coffee')``: the worker never knows the names."""

    def named(match: re.Match) -> str:
        i = int(match[1]) - 1
        return f"{match[0]} ({names[i]!r})" if 0 <= i < len(names) else match[0]

    return re.sub(r"image (\d+) of \d+", named, reason)


def measure_reconstructions(x_hat: torch.Tensor, testset: TestSet) -> dict | str:
    """Per-image PSNR and SSIM of the reconstructions, or the reason they cannot be scored."""
    from ..metrics import psnr, ssim

    if x_hat.shape != testset.x.shape or not torch.is_floating_point(x_hat):
        return f"reconstructions have shape {tuple(x_hat.shape)}, expected {tuple(testset.x.shape)}"
    if not torch.isfinite(x_hat).all():
        return "reconstructions contain NaN or infinite values"
    with _metrics_lock:
        p = [round(float(v), 4) for v in psnr(x_hat, testset.x)]
        s = [round(float(v), 5) for v in ssim(x_hat, testset.x)]
    n = len(p)
    mean = sum(p) / n
    sem = math.sqrt(sum((v - mean) ** 2 for v in p) / (n - 1) / n) if n > 1 else None
    return {
        "psnr": round(mean, 4),
        "ssim": round(sum(s) / n, 5),
        "psnr_sem": None if sem is None else round(sem, 4),
        "psnr_per_image": p,
        "ssim_per_image": s,
    }


def unreadable_files(folder: Path, uid: int) -> list[str]:
    """The files of ``folder`` (relative paths) that user ``uid`` cannot read by their
    permission bits: neither its own and owner-readable, nor readable by others."""
    bad = []
    for path in submission_files(folder):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            if not (st.st_mode & 0o004 or (st.st_uid == uid and st.st_mode & 0o400)):
                bad.append(path.relative_to(folder).as_posix())
    return bad


def score_submission(
    folder: str | Path,
    testset: TestSet,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_weights_mb: float = DEFAULT_MAX_WEIGHTS_MB,
    threads: int | None = None,
    log_dir: str | Path | None = None,
    limits: sandbox.Limits | None = None,
    use_sandbox: bool = True,
    slot: int = 0,
) -> Result:
    """Check, run and score one submission folder on ``testset`` (which holds the ground truth).

    The submission runs in a worker process, inside the sandbox unless ``use_sandbox`` is
    false (see :mod:`course_utils.challenge.sandbox`). Any failure gives a :class:`Result`
    with status ``"error"``; this function does not raise for a broken submission.

    :param threads: CPU threads for the worker (``OMP_NUM_THREADS``); ``None``: all cores.
    :param log_dir: if given, the worker's stdout and stderr are saved as ``NAME.log`` there.
    :param limits: memory, processes, file sizes (default :class:`sandbox.Limits`).
    :param slot: which of the workers running at once this is (each gets its own user id, see
        :func:`sandbox.worker_uid`, so the process limit counts its processes alone).
    """
    folder = Path(folder).resolve()
    name = folder.name
    limits = limits or sandbox.Limits()
    if threads is not None:
        limits = sandbox.Limits(**{**asdict(limits), "threads": threads})
    if not folder.is_dir():
        return error_result(name, f"submission folder {folder} does not exist")
    weights_mb, reason = check_submission_files(folder, max_weights_mb)
    if reason is not None:
        return error_result(name, reason, weights_mb=weights_mb)

    uid = sandbox.worker_uid(slot) if use_sandbox else os.getuid()
    unreadable = unreadable_files(folder, uid)
    if unreadable:
        return error_result(
            name,
            f"{', '.join(unreadable)} can be read only by its owner, and the sandboxed worker "
            f"runs as another user (uid {uid}): run chmod a+r on it (safetensors' save_model "
            "writes owner-only files)",
            weights_mb=weights_mb,
        )

    with tempfile.TemporaryDirectory(prefix="challenge-") as tmp:
        tmp = Path(tmp)
        measurements = tmp / "measurements.safetensors"
        write_measurements(measurements, testset)
        read_fd, write_fd = os.pipe()
        limits_json = json.dumps(sandbox.limit_values(limits, uid))
        common_args = ["--result-fd", str(write_fd), "--limits", limits_json]
        if use_sandbox:
            args = list(common_args)
            if uid != os.getuid():
                args += ["--drop-to", str(uid)]
            command = sandbox.command(args, folder, measurements, limits)
            env, cwd = None, tmp
        else:
            command = [
                sys.executable,
                "-m",
                "course_utils.challenge.worker",
                "--submission",
                str(folder),
                "--measurements",
                str(measurements),
                *common_args,
            ]
            env, cwd = {**os.environ, **sandbox.environment(limits)}, folder
            env["PATH"] = os.environ.get("PATH", "")
            env["HOME"] = os.environ.get("HOME", "/tmp")
        stdout, stderr = tmp / "stdout.txt", tmp / "stderr.txt"
        cap = testset.y.numel() * 4 + (1 << 20)
        received: list = []
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            start = time.perf_counter()
            try:
                proc = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    pass_fds=(write_fd,),
                )
            finally:
                os.close(write_fd)
            reader = threading.Thread(
                target=_read_capped, args=(read_fd, cap, received), daemon=True
            )
            reader.start()
            timed_out = False
            try:
                proc.wait(timeout=time_limit)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # On time-out, on Ctrl-C in the scorer, and after a normal exit alike: leave
                # no process that the submission may have started behind.
                _kill_group(proc)
                reader.join(timeout=30)  # a process holding the pipe cannot stall scoring
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
        common = {"seconds": seconds, "weights_mb": weights_mb, "sandboxed": use_sandbox}
        if timed_out:
            return error_result(
                name,
                f"time limit exceeded: still running after {time_limit:g} s "
                f"(--time-limit {time_limit:g}); the worker was killed",
                **common,
            )
        data, overflow = received if received else (b"", False)
        if overflow:
            return error_result(name, "the worker wrote more than its reconstructions", **common)
        header_line, _, payload = data.partition(b"\n")
        try:
            header = json.loads(header_line)
        except ValueError:
            code = proc.returncode
            why = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            if code == -signal.SIGXFSZ:
                why += f" (file size limit exceeded: {limits.max_file_mb:g} MB per file)"
            tail = _tail(stderr) or _tail(stdout) or "no output"
            return error_result(name, f"the worker {why} before finishing: {tail}", **common)
        if header.get("status") != "ok":
            reason = _name_images(str(header.get("error") or "unknown error"), testset.names)
            return error_result(name, reason, **common)
        from safetensors.torch import load

        try:
            x_hat = load(payload)["x_hat"]
        except Exception as err:
            return error_result(name, f"could not read the reconstructions: {err}", **common)
    scores = measure_reconstructions(x_hat, testset)
    if isinstance(scores, str):
        return error_result(name, scores, **common)
    previews = [x_hat[i].clamp(0, 1) for i in range(min(PREVIEW_IMAGES, x_hat.shape[0]))]
    return Result(
        name,
        scores["psnr"],
        scores["ssim"],
        seconds,
        weights_mb,
        "ok",
        None,
        psnr_sem=scores["psnr_sem"],
        images=list(testset.names),
        psnr_per_image=scores["psnr_per_image"],
        ssim_per_image=scores["ssim_per_image"],
        sandboxed=use_sandbox,
        previews=previews,
    )


def score_submissions(
    folders: Sequence[str | Path],
    testset: TestSet,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_weights_mb: float = DEFAULT_MAX_WEIGHTS_MB,
    jobs: int = 1,
    threads: int | None = None,
    log_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    limits: sandbox.Limits | None = None,
    use_sandbox: bool = True,
) -> list[Result]:
    """Score several submissions; results in the order of ``folders``.

    ``jobs > 1`` runs that many workers at once, sharing the CPU cores between them (each gets
    ``cores // jobs`` threads unless ``threads`` is given); use the default of 1 for timings
    that compare fairly.
    """
    if threads is None and jobs > 1:
        threads = max(1, (os.cpu_count() or 1) // jobs)
    n = len(folders)

    slots = queue.Queue()
    for slot in range(max(1, jobs)):
        slots.put(slot)

    def one(k: int, folder) -> Result:
        slot = slots.get()  # a worker slot free now: no two running workers share a user id
        try:
            result = score_submission(
                folder,
                testset,
                time_limit,
                max_weights_mb,
                threads,
                log_dir,
                limits,
                use_sandbox,
                slot,
            )
        finally:
            slots.put(slot)
        if log is not None:
            log(f"[{k + 1}/{n}] {result.name}: {summary(result)}")
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, range(n), folders))


def summary(r: Result) -> str:
    if r.status == "ok":
        return f"ok, PSNR {r.psnr:.2f} dB, SSIM {r.ssim:.4f}, {r.seconds:.1f} s"
    return f"error: {r.error}"
