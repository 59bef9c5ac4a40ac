"""The command line: ``python -m course_utils.challenge make-testset|score ...``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..data import DEV_SET_FILE, TestSet, load_dev_set, load_testset
from ..paths import REPO_DIR
from . import sandbox
from .report import format_table, leaderboard_html, leaderboard_markdown
from .rules import (
    DEFAULT_MAX_FILE_MB,
    DEFAULT_MAX_PROCESSES,
    DEFAULT_MAX_WEIGHTS_MB,
    DEFAULT_MEMORY_LIMIT_GB,
    DEFAULT_TIME_LIMIT,
    DEFAULT_TMP_MB,
    UsageError,
)
from .scoring import score_submissions
from .testset import build_testset_file


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
        "The rules and the submission contract are in the docstring of "
        "course_utils/challenge/__init__.py.",
        epilog="examples:\n"
        "  python -m course_utils.challenge score my_submission    # on the public dev set\n"
        "  python -m course_utils.challenge make-testset my_images/ hidden.safetensors\n"
        "  python -m course_utils.challenge score subs/* --testset hidden.safetensors "
        "--out leaderboard.md --html leaderboard.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    make = sub.add_parser(
        "make-testset",
        help="turn a folder of clean images into a test-set file",
        description="Crop/resize every image of IMAGE_DIR to 256x256 (shorter side resized to "
        "256, centre crop; small images are upsampled), blur it with the official kernel, add "
        "the official noise (image i gets a noise seed hashed from SEED and i) and write "
        "measurements and 8-bit ground truth to OUT_FILE (safetensors). Image names are the "
        "file stems, in sorted order. Without --seed, a secret 64-bit seed is drawn and printed.",
    )
    make.add_argument("image_dir", metavar="IMAGE_DIR", type=Path)
    make.add_argument("out_file", metavar="OUT_FILE", type=Path)
    make.add_argument(
        "--seed",
        type=int,
        default=None,
        help="noise seed (default: a fresh secret one; a seed a student can guess lets a "
        "submission remove the noise exactly)",
    )

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
        "--html",
        type=Path,
        default=None,
        metavar="FILE",
        help="write a self-contained HTML leaderboard with thumbnails (truth, measurement, "
        "reconstruction)",
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
        "--memory-limit-gb",
        type=_positive(float),
        default=DEFAULT_MEMORY_LIMIT_GB,
        metavar="GB",
        help=f"memory a worker may allocate (default: {DEFAULT_MEMORY_LIMIT_GB:g})",
    )
    score.add_argument(
        "--max-processes",
        type=_positive(int),
        default=DEFAULT_MAX_PROCESSES,
        metavar="N",
        help=f"processes and threads per worker (default: {DEFAULT_MAX_PROCESSES})",
    )
    score.add_argument(
        "--max-file-mb",
        type=_positive(float),
        default=DEFAULT_MAX_FILE_MB,
        metavar="MB",
        help=f"largest file a worker may write, stdout included (default: {DEFAULT_MAX_FILE_MB:g})",
    )
    score.add_argument(
        "--tmp-mb",
        type=_positive(float),
        default=DEFAULT_TMP_MB,
        metavar="MB",
        help=f"size of each worker's private /tmp (default: {DEFAULT_TMP_MB:g})",
    )
    score.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run workers without the sandbox (only where it cannot start: a submission can "
        "then read your files, the test set and the network)",
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
    secret = " (secret: keep it for your records only)" if args.seed is None else ""
    print(f"wrote {summary['n_images']} images with noise seed {summary['seed']}{secret}")
    print(f"  names:  {', '.join(summary['names'])}")
    print(f"  output: {summary['path']}")
    print(f"  sha256: {summary['sha256']}")
    print(f"  content sha256 (same on every rebuild): {summary['content_sha256']}")


def _choose_sandbox(args) -> bool:
    """Whether to sandbox the workers; refuses a hidden test set without one."""
    reason = sandbox.unavailable_reason()
    if args.no_sandbox:
        print(
            f"warning: --no-sandbox: {sandbox.WHAT_A_SUBMISSION_COULD_READ}. Score only code "
            "you trust this way.",
            file=sys.stderr,
        )
        return False
    if reason is None:
        return True
    if args.testset is not None:
        raise UsageError(
            f"the sandbox cannot start here: {reason}. Scoring a hidden test set needs it, or "
            f"an explicit --no-sandbox ({sandbox.WHAT_A_SUBMISSION_COULD_READ})."
        )
    print(
        f"note: the sandbox cannot start here ({reason}); scoring on the public dev set "
        "without it.",
        file=sys.stderr,
    )
    return False


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
    for option, path in (("--out", args.out), ("--html", args.html)):
        if path is not None and path.is_dir():
            raise UsageError(f"{option} {path} is a folder; give a file name.")
    testset_path, testset = _load_testset_arg(args.testset)
    use_sandbox = _choose_sandbox(args)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log(
        f"scoring {len(args.submissions)} submission(s) on {testset_path} "
        f"({len(testset.names)} images, time limit {args.time_limit:g} s, "
        f"{'in the sandbox' if use_sandbox else 'WITHOUT the sandbox'})"
    )
    limits = sandbox.Limits(
        memory_gb=args.memory_limit_gb,
        max_processes=args.max_processes,
        max_file_mb=args.max_file_mb,
        tmp_mb=args.tmp_mb,
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
        limits=limits,
        use_sandbox=use_sandbox,
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
    if args.html is not None:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(
            leaderboard_html(results, testset_path, testset, args.time_limit, args.max_weights_mb),
            encoding="utf-8",
        )
        log(f"HTML leaderboard written to {args.html}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m course_utils.challenge``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
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
