"""Set-up shared by the whole test suite (tests/, solutions/ and notebooks/).

It sits at the repository root so that it also applies when a single notebook is tested, e.g.
``pytest notebooks/day1_5_coding_challenge.ipynb``.

Environment variables set here reach every subprocess and notebook kernel:

* ``COURSE_FAST=1`` (fast mode) unless already set: ``COURSE_FAST=0 make test`` is a full run.
* ``MPLBACKEND=Agg``: no plotting windows.
* ``IPYTHONDIR``: a temporary IPython profile without colours, so that tracebacks in the test
  reports carry no ANSI codes.
* ``PYTHONPATH`` starts with ``tests/network_guard``, whose ``sitecustomize.py`` blocks network
  access (loopback stays open); the guard is also installed in this process.

nbval does not compare stderr (warnings, progress bars) in cells marked for output checks, and
its reports carry colour codes only when pytest's own output does.

Every run ends with a timing summary: each notebook's execution time (solution and student
versions) against its budget (25 s in fast mode, 5 minutes in full mode; reported, not
asserted), and the whole run's time, which fails the run when it exceeds
``COURSE_SUITE_LIMIT_S`` (default 1800 s, far above the 20-minute goal, so machine noise never
trips it).
"""

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

GUARD_DIR = Path(__file__).resolve().parent / "tests" / "network_guard"


def _make_ipython_dir() -> str:
    path = Path(tempfile.mkdtemp(prefix="course-ipython-"))
    (path / "profile_default").mkdir()
    config = path / "profile_default" / "ipython_kernel_config.py"
    config.write_text('c.InteractiveShell.colors = "nocolor"\n', encoding="utf-8")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return str(path)


def _install_network_guard() -> None:
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(GUARD_DIR) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(GUARD_DIR), *paths])
    spec = importlib.util.spec_from_file_location(
        "course_network_guard", GUARD_DIR / "sitecustomize.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.install()


os.environ.setdefault("COURSE_FAST", "1")
os.environ["MPLBACKEND"] = "Agg"
os.environ["IPYTHONDIR"] = _make_ipython_dir()
_install_network_guard()


class _NbvalSettings:
    """nbval settings for every notebook collector."""

    def pytest_collectstart(self, collector):
        skip = getattr(collector, "skip_compare", None)  # only nbval's notebook collectors
        if skip is not None and "stderr" not in skip:
            collector.skip_compare = (*skip, "stderr")

    def pytest_itemcollected(self, item):
        if hasattr(item, "colors") and not item.config.get_terminal_writer().hasmarkup:
            from nbval.plugin import nocolors

            item.colors = nocolors


FAST_BUDGET_S, FULL_BUDGET_S = 25, 300
SUITE_LIMIT_S = float(os.environ.get("COURSE_SUITE_LIMIT_S", "1800"))


class _Timings:
    """Wall-clock time of each notebook file and of the whole run, reported at the end."""

    def __init__(self):
        self.start = time.perf_counter()
        self.spans: dict[str, list[float]] = {}  # notebook path -> [first start, last finish]

    @staticmethod
    def _notebook(nodeid: str) -> str | None:
        path = nodeid.split("::", 1)[0]
        return path if path.endswith(".ipynb") else None

    def pytest_runtest_logstart(self, nodeid, location):
        if (path := self._notebook(nodeid)) is not None:
            now = time.perf_counter()
            self.spans.setdefault(path, [now, now])

    def pytest_runtest_logfinish(self, nodeid, location):
        if (path := self._notebook(nodeid)) is not None:
            self.spans[path][1] = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self.elapsed() > SUITE_LIMIT_S and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        write = terminalreporter.write_line
        fast = os.environ.get("COURSE_FAST") == "1"
        budget = FAST_BUDGET_S if fast else FULL_BUDGET_S
        if self.spans:
            by_name: dict[str, dict[str, float]] = {}
            for path, (first, last) in self.spans.items():
                folder, name = Path(path).parent.name, Path(path).stem
                by_name.setdefault(name, {})[folder] = last - first
            mode = "fast" if fast else "full"
            terminalreporter.section(f"notebook run times ({mode} mode, budget {budget} s each)")
            write(f"{'notebook':45s} {'solution':>9s} {'student':>9s}")
            for name in sorted(by_name):
                times = by_name[name]
                cells = [
                    f"{times[k]:8.1f}s" if k in times else f"{'-':>9s}"
                    for k in ("solutions", "notebooks")
                ]
                over = " over budget" if max(times.values()) > budget else ""
                write(f"{name:45s} {cells[0]} {cells[1]}{over}")
            total = sum(t for times in by_name.values() for t in times.values())
            write(f"{'all notebooks':45s} {total:8.1f}s")
        elapsed = self.elapsed()
        verdict = (
            "over the limit: this run fails" if elapsed > SUITE_LIMIT_S else "within the limit"
        )
        write(
            f"whole run: {elapsed:.0f} s ({elapsed / 60:.1f} min; "
            f"limit {SUITE_LIMIT_S:.0f} s, {verdict})"
        )


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("course-nbval-settings"):
        config.pluginmanager.register(_NbvalSettings(), "course-nbval-settings")
    if not config.pluginmanager.has_plugin("course-timings"):
        config.pluginmanager.register(_Timings(), "course-timings")
