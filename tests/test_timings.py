"""The timing summary that ends every test run, and the limit on the whole run's time."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(limit):
    env = {**os.environ, "COURSE_SUITE_LIMIT_S": str(limit)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "tests/test_runtime.py::test_the_test_suite_runs_in_fast_mode",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_within_the_limit_passes_and_reports_its_time():
    proc = run_pytest(1800)
    assert proc.returncode == 0, proc.stdout
    assert "whole run:" in proc.stdout and "limit 1800 s, within the limit" in proc.stdout


def test_a_run_over_the_limit_fails_even_when_every_test_passes():
    proc = run_pytest(0)
    assert proc.returncode == 1, proc.stdout
    assert "1 passed" in proc.stdout and "over the limit: this run fails" in proc.stdout
