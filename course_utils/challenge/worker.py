"""The worker: runs one submission on measurements only, inside the sandbox.

Started by the scorer as ``python -I -m course_utils.challenge.worker --result-fd N
[--submission DIR] [--measurements FILE] [--drop-to UID] [--limits JSON]`` with the write end of
a pipe as file descriptor N. It sets its resource limits and gives up root first (``--limits``,
``--drop-to``), refuses pickled weights, imports ``submission.py``,
reconstructs every image and writes to the pipe one JSON line (``{"status": "ok"}`` or
``{"status": "error", "error": reason}``) followed, on success, by the reconstructions as
safetensors bytes. Images are known by their index only: the measurements carry no names.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import sys
import traceback
from pathlib import Path

import torch
from torch import Tensor

from .rules import ENTRY_POINT
from .sandbox import INPUT_FILE, SUBMISSION_DIR, apply_limits

MEASUREMENTS_FORMAT = "course-deblurring-measurements-v2"


class SubmissionFailure(Exception):
    """A submission broke the contract; the message is the reason reported."""


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass


def drop_privileges(uid: int) -> None:
    """Become ``uid`` (group ``uid``, no supplementary groups) for good, with no new privileges.

    Before that, while still root inside the sandbox, remount the sandbox's ``/proc`` with
    ``hidepid=2``, so the submission sees only its own processes (not bwrap's init, whose
    command line names host paths). Changing the user clears the "kill me when my parent
    dies" signal, so it is set again.
    """
    if os.getuid() == uid:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount(b"proc", b"/proc", b"proc", 32, b"hidepid=2")  # MS_REMOUNT; best effort
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    _prctl(38, 1)  # PR_SET_NO_NEW_PRIVS: no setuid program can give privileges back
    _prctl(1, 9)  # PR_SET_PDEATHSIG = SIGKILL
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit("could not drop privileges")


def describe(err: BaseException, folder: Path) -> str:
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


def limit_exceeded(err: BaseException, limits: dict) -> str | None:
    """The resource limit that ``err`` hit, in words, or ``None``."""
    text = str(err)
    if isinstance(err, MemoryError) or any(
        s in text for s in ("can't allocate memory", "std::bad_alloc", "Cannot allocate memory")
    ):
        return f"memory limit exceeded ({limits.get('memory_gb', '?')} GB, --memory-limit-gb)"
    if isinstance(err, BlockingIOError) or "can't start new thread" in text:
        return (
            f"process limit exceeded ({limits.get('max_processes', '?')} processes and "
            "threads, --max-processes)"
        )
    if isinstance(err, OSError) and err.errno == errno.EFBIG:
        return f"file size limit exceeded ({limits.get('max_file_mb', '?')} MB per file)"
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return f"disk limit exceeded (the private /tmp holds {limits.get('tmp_mb', '?')} MB)"
    return None


def install_load_guards() -> None:
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


def call(fn, *args, what: str, folder: Path, limits: dict):
    try:
        return fn(*args)
    except BaseException as err:  # report anything the submission raises
        traceback.print_exc()
        hit = limit_exceeded(err, limits)
        if hit is not None:
            raise SubmissionFailure(f"{hit}: {what} raised {describe(err, folder)}") from None
        raise SubmissionFailure(f"{what} raised {describe(err, folder)}") from None


def check_output(out, label: str, expected: torch.Size) -> Tensor:
    """The output for one image as float32 on the CPU, or :class:`SubmissionFailure`."""
    where = f"output for {label}"
    if not isinstance(out, Tensor):
        raise SubmissionFailure(f"{where} is a {type(out).__name__}, expected a torch.Tensor")
    if tuple(out.shape) != tuple(expected):
        raise SubmissionFailure(f"{where} has shape {tuple(out.shape)}, expected {tuple(expected)}")
    if not torch.is_floating_point(out):
        raise SubmissionFailure(
            f"{where} has dtype {out.dtype}, expected a floating-point tensor in [0, 1]"
        )
    try:
        out = out.detach().to("cpu", torch.float32)
    except Exception as err:
        raise SubmissionFailure(f"{where} cannot be copied to the CPU: {err}") from None
    n_nan = int(torch.isnan(out).sum())
    n_inf = int(torch.isinf(out).sum())
    if n_nan or n_inf:
        parts = [f"{n_nan} NaN values"] * bool(n_nan) + [f"{n_inf} infinite values"] * bool(n_inf)
        raise SubmissionFailure(f"{where} contains {' and '.join(parts)}")
    return out


def run(folder: Path, measurements: Path, limits: dict) -> Tensor:
    """Import the submission, reconstruct every image; the reconstructions ``(N, 3, H, W)``."""
    import importlib.util

    from safetensors import safe_open

    from ..physics import make_physics

    install_load_guards()
    with safe_open(str(measurements), framework="pt") as f:
        y = f.get_tensor("y")

    entry = folder / ENTRY_POINT
    if not entry.is_file():
        raise SubmissionFailure(f"{ENTRY_POINT} not found in the submission folder")
    sys.path.insert(0, str(folder))
    torch.manual_seed(0)
    spec = importlib.util.spec_from_file_location("submission", entry)
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    call(
        spec.loader.exec_module,
        module,
        what=f"importing {ENTRY_POINT}",
        folder=folder,
        limits=limits,
    )

    load = getattr(module, "load_reconstructor", None)
    if not callable(load):
        raise SubmissionFailure(
            f"{ENTRY_POINT} does not define load_reconstructor(folder) (see "
            "notebooks/submission_template/submission.py)"
        )
    reconstruct = call(
        load, folder, what="load_reconstructor(folder)", folder=folder, limits=limits
    )
    if not callable(reconstruct):
        raise SubmissionFailure(
            "load_reconstructor(folder) must return a function reconstruct(y, physics), got "
            f"{type(reconstruct).__name__}"
        )
    physics = make_physics("cpu")
    outputs = []
    for i in range(y.shape[0]):
        y_i = y[i : i + 1].clone()
        label = f"image {i + 1} of {y.shape[0]}"
        out = call(
            reconstruct,
            y_i,
            physics,
            what=f"reconstruct(y, physics) on {label}",
            folder=folder,
            limits=limits,
        )
        outputs.append(check_output(out, label, y_i.shape))
    return torch.cat(outputs).contiguous()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course_utils.challenge.worker")
    parser.add_argument("--result-fd", type=int, required=True)
    parser.add_argument("--submission", type=Path, default=Path(SUBMISSION_DIR))
    parser.add_argument("--measurements", type=Path, default=Path(INPUT_FILE))
    parser.add_argument("--drop-to", type=int, default=None)
    parser.add_argument("--limits", default="{}")
    args = parser.parse_args(argv)
    os.set_inheritable(args.result_fd, False)  # the submission's children do not get the pipe
    limits = json.loads(args.limits)
    apply_limits(limits)
    if args.drop_to is not None:
        drop_privileges(args.drop_to)
    result = os.fdopen(args.result_fd, "wb")
    payload = b""
    try:
        x_hat = run(args.submission.resolve(), args.measurements, limits)
        from safetensors.torch import save

        payload = save({"x_hat": x_hat})
        header = {"status": "ok", "error": None}
    except SubmissionFailure as err:
        header = {"status": "error", "error": str(err)}
    sys.stdout.flush()
    sys.stderr.flush()
    result.write(json.dumps(header).encode() + b"\n" + payload)
    result.close()
    os._exit(0)  # skip the interpreter's slow teardown: the time counts until exit


if __name__ == "__main__":
    main()
