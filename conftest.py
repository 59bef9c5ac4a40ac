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
"""

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

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


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("course-nbval-settings"):
        config.pluginmanager.register(_NbvalSettings(), "course-nbval-settings")
