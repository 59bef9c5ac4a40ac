"""`make lab` starts JupyterLab on the student notebooks (smoke test on loopback)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


IN_PROJECT_VENV = Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.skipif(not IN_PROJECT_VENV, reason="make lab runs in .venv: use make test")
def test_make_lab_serves_the_course_notebooks():
    port, token = _free_port(), "course-smoke-test"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api/contents?token={token}"  # the server's root folder
    try:
        deadline, listing = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    listing = json.load(response)
                break
            except urllib.error.HTTPError:
                raise  # the server answers, but not as expected
            except OSError:  # not listening yet
                time.sleep(0.5)
        assert listing is not None, "JupyterLab did not answer:\n" + (
            proc.stdout.read().decode() if proc.poll() is not None else "(still starting)"
        )
        names = {item["name"] for item in listing["content"]}
        expected = {p.name for p in (ROOT / "notebooks").iterdir() if p.suffix == ".ipynb"}
        assert expected <= names
        lab = f"http://127.0.0.1:{port}/lab?token={token}"
        with urllib.request.urlopen(lab, timeout=10) as response:
            assert response.status == 200 and b"JupyterLab" in response.read()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
