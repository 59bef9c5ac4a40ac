"""Checks for the exercises in the course notebooks.

Each exercise is followed by a check that compares the student's work with a reference and
prints what differs. While an exercise is not done (its stub still raises
``NotImplementedError``, or leaves the value at ``None``) the check says so plainly and hands
back a reference, so the rest of the notebook still runs::

    forward = check_function("forward model", forward, physics.A, x,
                             reference_name="deepinv BlurFFT.A")
    lam = check_value("choose λ", lam, fallback=0.05, describe="λ = 0.05",
                      validate=lambda v: None if v > 0 else f"λ must be positive, got {v}.")
    report = check_close("PSNR of the noisy image", psnr, 20.3, atol=0.1)
    assert report.ok, report

Values may be torch tensors, numpy arrays, Python numbers, or tuples/lists of these
(``output_names`` names the entries of a tuple in the reports). Output is plain text (no
colour codes).

**Hints come after an attempt, in tiers.** Each time a check finds its exercise not done, or
wrong, it counts a failed attempt for that exercise (per kernel) and prints its hints from
``data/hints/<notebook>.toml`` up to that tier: the first failure shows a *pointer* (where to
look), the second the key *formula*, the third and later where the *reference* lives. A
correct answer prints no hint; an exercise not yet attempted earns the pointer only, however
often it runs. The stub in the student notebook says only what to compute.
"""

from __future__ import annotations

import sys
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Comparison",
    "ExerciseMismatch",
    "check_close",
    "check_function",
    "check_value",
    "hint",
    "reset_attempts",
]

HINTS_DIR = Path(__file__).resolve().parent.parent / "data" / "hints"
"""One TOML file per notebook, ``data/hints/<notebook>.toml``, one table per exercise."""
HINT_TIERS = ("pointer", "formula", "reference")
"""The tiers of every exercise's hints, in the order they are revealed."""

_failed_attempts: Counter[str] = Counter()

RETRY = "Fix your function, or restore `raise NotImplementedError` to continue with the reference."


@cache
def load_hints(folder: Path = HINTS_DIR) -> dict[str, dict[str, str]]:
    """Every hints file in ``folder`` as ``{exercise name: {"notebook": stem, tier: text}}``.

    Raises ``ValueError`` naming the file and the exercise if an entry lacks a tier, has an
    unknown key, or if two files define the same exercise name.
    """
    hints: dict[str, dict[str, str]] = {}
    for path in sorted(Path(folder).glob("*.toml")):
        with open(path, "rb") as f:
            tables = tomllib.load(f)
        for name, entry in tables.items():
            missing = [tier for tier in HINT_TIERS if not entry.get(tier)]
            unknown = sorted(set(entry) - set(HINT_TIERS))
            if missing or unknown:
                problem = f"has no {', '.join(missing)}" if missing else f"has {unknown}"
                raise ValueError(f"{path.name}: exercise {name!r} {problem}.")
            if name in hints:
                raise ValueError(
                    f"{path.name}: exercise {name!r} is also in {hints[name]['notebook']}.toml; "
                    "exercise names must be unique across notebooks."
                )
            hints[name] = {"notebook": path.stem, **entry}
    return hints


def reset_attempts() -> None:
    """Forget every failed attempt (the hints start again at the first tier)."""
    _failed_attempts.clear()


def hint(name: str, hints: Mapping[str, str] | None = None, attempted: bool = True) -> str:
    """Count a failed attempt at exercise ``name`` and return the hints it has earned.

    ``attempted=False`` (the exercise is not done yet) earns the first tier only: running the
    notebook again does not reveal more; each wrong answer advances one tier.
    ``hints`` (``{"pointer": ..., "formula": ..., "reference": ...}``) defaults to the entry in
    ``data/hints/``; an exercise without one gets an empty string.
    """
    if hints is None:
        hints = load_hints().get(name)
    if attempted:
        _failed_attempts[name] += 1
    else:
        _failed_attempts[name] = max(_failed_attempts[name], 1)
    if not hints:
        return ""
    shown = min(_failed_attempts[name], len(HINT_TIERS))
    lines = [
        f"  hint {i + 1}/{len(HINT_TIERS)} ({tier}): {hints[tier]}"
        for i, tier in enumerate(HINT_TIERS[:shown])
    ]
    if shown < len(HINT_TIERS):
        lines.append("  (the next hint comes with your next wrong answer)")
    return "\n".join(lines)


def _with_hint(
    text: str, name: str, hints: Mapping[str, str] | None, attempted: bool = True
) -> str:
    extra = hint(name, hints, attempted)
    return f"{text}\n{extra}" if extra else text


class ExerciseMismatch(AssertionError):
    """The student's answer differs from the reference; the message says how."""


@dataclass(frozen=True, repr=False)
class Comparison:
    """Result of :func:`check_close`; ``str(report)`` and ``repr(report)`` give the report.

    ``problems`` is empty when the values match; ``max_abs_error`` is ``None`` when the values
    could not be compared at all (different shapes or types).
    """

    name: str
    problems: tuple[str, ...]
    max_abs_error: float | None
    rtol: float
    atol: float
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> str:
        """One paragraph: the name and every problem (or the match)."""
        if self.ok:
            error = (
                "" if self.max_abs_error is None else f" (max abs error {self.max_abs_error:.2g})"
            )
            return f"[{self.name}] ✓ matches the reference{error}."
        return f"[{self.name}] differs from the reference: " + "; ".join(self.problems) + "."

    def __str__(self) -> str:
        if self.ok:
            return "\n".join([self.summary, *(f"  note: {note}" for note in self.notes)])
        lines = [
            f"[{self.name}] ✗ differs from the reference (rtol={self.rtol:g}, atol={self.atol:g}):"
        ]
        return "\n".join(lines + [f"  {problem}" for problem in self.problems])

    __repr__ = __str__  # a report as a cell's last line displays readably


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor can only exist if torch was imported
    return torch is not None and isinstance(value, torch.Tensor)


def _type_name(value: Any) -> str:
    if _is_tensor(value):
        return f"torch.Tensor ({str(value.dtype).removeprefix('torch.')}, {value.device})"
    if isinstance(value, np.ndarray):
        return f"numpy.ndarray ({value.dtype})"
    return type(value).__name__


def _to_array(value: Any) -> np.ndarray:
    if _is_tensor(value):
        tensor = value.detach().cpu().resolve_conj().resolve_neg()
        if not tensor.dtype.is_complex and tensor.is_floating_point():
            tensor = tensor.double()  # also covers bfloat16, which numpy lacks
        return tensor.numpy()
    return np.asarray(value)


def _fmt(x: Any) -> str:
    return f"{complex(x):.6g}" if isinstance(x, complex | np.complexfloating) else f"{x:.6g}"


def _dtype(value: Any, array: np.ndarray) -> str:
    dtype = getattr(value, "dtype", array.dtype)  # the tensor's own dtype, not numpy's copy
    return str(dtype).removeprefix("torch.")


def _compare_arrays(actual: Any, expected: Any, rtol: float, atol: float, at: str):
    """Return (problems, max abs error) for two array-likes; ``at`` prefixes each problem."""
    if actual is None:
        return [f"{at}yours is None (a missing `return`?)"], None
    a, e = _to_array(actual), _to_array(expected)
    if a.dtype.kind not in "biufc":
        return [f"{at}yours is a {_type_name(actual)}, not numbers"], None
    if a.shape != e.shape:
        return [f"{at}shape: yours {tuple(a.shape)}, reference {tuple(e.shape)}"], None
    kinds = {"c" if k == "c" else "b" if k == "b" else "real" for k in (a.dtype.kind, e.dtype.kind)}
    if len(kinds) > 1:
        dtypes = f"yours {_dtype(actual, a)}, reference {_dtype(expected, e)}"
        return [f"{at}dtype: {dtypes}"], None
    if a.size == 0:
        return [], 0.0
    common = np.complex128 if "c" in kinds else np.float64
    a, e = a.astype(common), e.astype(common)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.abs(a - e)
        same = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
        diff = np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))
        allowed = np.where(np.isfinite(e), atol + rtol * np.abs(e), 0.0)
        bad = diff > allowed
        rel = np.where(diff == 0, 0.0, diff / np.abs(e))
        rel = np.where(np.isnan(rel), np.inf, rel)
    max_abs = float(diff.max())
    if not bad.any():
        return [], max_abs
    index = np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0))), a.shape)
    where = f" at [{', '.join(str(int(i)) for i in index)}]" if index else ""
    worst = f"yours {_fmt(a[index])}, reference {_fmt(e[index])}"
    if a.size == 1:
        return [f"{at}max abs error {max_abs:.3g}: {worst}"], max_abs
    return [
        f"{at}{int(bad.sum())} of {a.size} entries differ",
        f"{at}max abs error {max_abs:.3g}{where}: {worst}",
        f"{at}max rel error {float(rel.max()):.3g}",
    ], max_abs


def _compare(
    actual: Any,
    expected: Any,
    rtol: float,
    atol: float,
    strict: bool,
    path: str = "",
    names: Sequence[str] | None = None,
):
    """Return (problems, max abs error, notes); recurse into tuples and lists.

    ``names`` labels the entries of a top-level tuple (else they are ``output[i]``).
    """
    at = "" if not path else f"output{path}: " if path.startswith("[") else f"{path}: "
    if isinstance(actual, tuple | list) and isinstance(expected, tuple | list):
        if len(actual) != len(expected):
            return [f"{at}length: yours {len(actual)}, reference {len(expected)}"], None, []
        if names is not None and len(names) != len(expected):
            raise ValueError(f"output_names has {len(names)} names for {len(expected)} outputs.")
        problems, errors, notes = [], [], []
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            label = names[i] if names is not None else f"{path}[{i}]"
            p, err, n = _compare(a, e, rtol, atol, strict, label)
            problems, errors, notes = problems + p, errors + [err], notes + n
        return problems, None if None in errors else max(errors, default=0.0), notes
    notes = []
    if strict and actual is not None:
        kind = (_is_tensor(actual), isinstance(actual, np.ndarray))
        if kind != (_is_tensor(expected), isinstance(expected, np.ndarray)):
            types = f"yours {_type_name(actual)}, reference {_type_name(expected)}"
            return [f"{at}type: {types}"], None, []
        if kind[0] and actual.device != expected.device:
            return [f"{at}device: yours {actual.device}, reference {expected.device}"], None, []
        if any(kind) and actual.dtype != expected.dtype:
            notes.append(f"{at}dtype: yours {actual.dtype}, reference {expected.dtype}")
    problems, max_abs = _compare_arrays(actual, expected, rtol, atol, at)
    return problems, max_abs, notes


def check_close(
    name: str, actual: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-6
) -> Comparison:
    """Compare ``actual`` with ``expected`` entry by entry; print nothing, return the report.

    Shapes must be equal (no broadcasting) and both real or both complex; then entries match
    when ``|actual - expected| <= atol + rtol * |expected|`` (NaN matches NaN, inf matches the
    same inf). The report gives the number of differing entries, the max abs error with its
    index and both values there, and the max rel error. In a notebook::

        report = check_close("PSNR", psnr, 20.3, atol=0.1)
        assert report.ok, report
    """
    problems, max_abs, notes = _compare(actual, expected, rtol, atol, strict=False)
    return Comparison(name, tuple(problems), max_abs, rtol, atol, tuple(notes))


def _same(a: Any, b: Any) -> bool:
    a, b = _to_array(a), _to_array(b)
    return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def _short(value: Any) -> str:
    if isinstance(value, int | float | complex | np.number):
        return _fmt(value)
    if _is_tensor(value) or isinstance(value, np.ndarray):
        return f"{_type_name(value)} of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _clone(value: Any) -> Any:
    if _is_tensor(value):
        return value.clone()
    return value.copy() if isinstance(value, np.ndarray) else value


def check_function(
    name: str,
    student_fn: Callable,
    reference_fn: Callable,
    *example_args: Any,
    reference_name: str,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    output_names: Sequence[str] | None = None,
    hints: Mapping[str, str] | None = None,
) -> Callable:
    """Check ``student_fn`` against ``reference_fn`` on ``example_args``; return the one to use.

    * ``student_fn`` raises ``NotImplementedError`` (exercise not done): print that the
      notebook continues with ``reference_name``, print the hints earned so far (see
      :func:`hint`) and return ``reference_fn``.
    * Results match (see :func:`check_close`; also the same container type, e.g. both
      ``torch.Tensor``, and device): print ✓ and return ``student_fn``.
    * Results differ: print the report and the hints earned, and raise
      :class:`ExerciseMismatch`.
    * Any other exception from ``student_fn`` propagates unchanged.

    ``output_names`` names the entries when the functions return a tuple, e.g.
    ``("value", "gradient")``. ``hints`` overrides the exercise's entry in ``data/hints/``.
    Both functions must be deterministic (no random noise). ``student_fn`` gets copies of
    tensor and array arguments, so modifying them in place cannot spoil the comparison
    (it is reported as a note).
    """
    label = f"Exercise: {name}"
    not_done = (
        f"[{label}] not done yet — the notebook continues with the reference "
        f"implementation ({reference_name})."
    )
    if student_fn is reference_fn:  # the check ran before, and its result now has the name
        print(
            _with_hint(
                f"{not_done} Your function's name points to the reference since the check's "
                "last run: run the cell that defines your function, then this one.",
                name,
                hints,
                attempted=False,
            )
        )
        return reference_fn
    copies = [_clone(arg) for arg in example_args]
    try:
        result = student_fn(*copies)
    except NotImplementedError:
        print(_with_hint(not_done, name, hints, attempted=False))
        return reference_fn
    expected = reference_fn(*example_args)
    problems, max_abs, notes = _compare(result, expected, rtol, atol, True, names=output_names)
    for i, (arg, copied) in enumerate(zip(example_args, copies, strict=True)):
        if copied is not arg and not _same(arg, copied):
            notes.append(f"your function modified its argument {i + 1} in place")
    report = Comparison(label, tuple(problems), max_abs, rtol, atol, tuple(notes))
    if not report.ok:
        print(_with_hint(str(report), name, hints))
        raise ExerciseMismatch(f"{report.summary} {RETRY}")
    print(report)
    return student_fn


def check_value(
    name: str,
    student_value: Any,
    reference_value: Any = None,
    *,
    fallback: Any = None,
    describe: str | None = None,
    validate: Callable[[Any], str | None] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    hints: Mapping[str, str] | None = None,
    reveal: bool = True,
) -> Any:
    """Check a value the student sets or computes (``None`` means not done); return the one to use.

    * ``student_value is None``: print that the notebook continues with ``describe``
      (default: ``repr`` of the fallback), print the hints earned so far (see :func:`hint`) and
      return ``fallback`` (default: ``reference_value``).
    * ``reference_value`` given: the value must match it (see :func:`check_close`).
    * ``validate`` given: ``validate(student_value)`` returns ``None`` when the value is
      acceptable, else a sentence saying what is wrong. Use it when there is no single
      right answer (e.g. a regularisation weight).

    A mismatch or a rejected value prints the reason and the hints earned, and raises
    :class:`ExerciseMismatch`; otherwise ✓ is printed and ``student_value`` returned. Written
    questions use this too: the student writes the answer (a number, a count, a choice) into
    a variable, and the check gives feedback in the student copy; ``reveal=False`` keeps the
    reference value out of the report (for an answer that one wrong guess must not give away).
    """
    label = f"Exercise: {name}"
    if fallback is None:
        fallback = reference_value
    if fallback is None:
        raise ValueError("check_value needs a fallback or a reference_value")
    describe = describe or (repr(fallback) if reveal else "the reference answer")
    if student_value is None:
        message = f"[{label}] not done yet — the notebook continues with {describe}."
        print(_with_hint(message, name, hints, attempted=False))
        return fallback
    retry = f"Fix your value, or set it back to None to continue with {describe}."
    if reference_value is not None:
        report = check_close(label, student_value, reference_value, rtol=rtol, atol=atol)
        if not report.ok:
            text = str(report) if reveal else f"[{label}] ✗ {_short(student_value)} is not right."
            print(_with_hint(text, name, hints))
            raise ExerciseMismatch(f"{report.summary if reveal else text} {retry}")
        print(report if reveal else f"[{label}] ✓ right: {_short(student_value)}.")
    if validate is not None:
        reason = validate(student_value)
        if reason:
            print(_with_hint(f"[{label}] ✗ {reason}", name, hints))
            raise ExerciseMismatch(f"[{label}] {reason} {retry}")
        if reference_value is None:
            print(f"[{label}] ✓ accepted: {_short(student_value)}.")
    elif reference_value is None:
        print(f"[{label}] ✓ using your value: {_short(student_value)}.")
    return student_value
