"""pyproject.toml and environment.yml describe the same environment."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        assert m, f"not an exact pin: {line!r}"
        pins[m.group(1).lower()] = m.group(2)
    return pins


def test_pyproject_and_environment_yml_pin_the_same_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    py_pins = _pins(project["dependencies"] + project["optional-dependencies"]["test"])

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    env_pins = _pins([p for p in pip_section if not p.startswith("-e")])
    assert env_pins == py_pins
    assert "-e ." in pip_section

    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11" and project["requires-python"] == ">=3.11,<3.12"


def test_constraints_agree_with_the_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    py_pins = _pins(project["dependencies"] + project["optional-dependencies"]["test"])
    lock = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, version = line.split("==")
        lock[name.lower().replace("_", "-")] = version
    for name, version in py_pins.items():
        assert lock.get(name.replace("_", "-")) == version, f"{name}: constraints.txt differs"


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for name, pinned in _pins(project["dependencies"]).items():
        installed = version(name).split("+")[0]  # drop local tags such as +cu132
        assert installed == pinned, f"{name} {installed} is installed, {pinned} is pinned"
