"""The code passes ``ruff check`` and ``ruff format --check``, as ``make lint`` runs them."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / "ruff"  # the pinned ruff of the test environment
CHECKED = ["conftest.py", "course_utils", "tests", "solutions", "notebooks"]
FORMATTED = ["conftest.py", "course_utils", "tests", "solutions/challenge"]


def run_ruff(arguments: list[str], paths: list[str]) -> str:
    """Run ruff on the ``paths`` that exist; return its report if it fails, else ''."""
    if not RUFF.exists():
        pytest.fail(f"ruff not found at {RUFF}: install the test extra (make env)")
    paths = [path for path in paths if (ROOT / path).exists()]
    if not paths:
        return ""
    command = [str(RUFF), *arguments, "--no-cache", *paths]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return (
        ""
        if result.returncode == 0
        else f"$ ruff {' '.join(arguments)}\n{result.stdout}{result.stderr}"
    )


def test_ruff_check():
    report = run_ruff(["check", "--output-format=concise"], CHECKED)
    assert not report, f"ruff found problems (`make format` fixes some):\n{report}"


def test_ruff_format():
    report = run_ruff(["format", "--check", "--diff"], FORMATTED)
    assert not report, f"ruff would reformat files (fix: `make format`):\n{report}"
