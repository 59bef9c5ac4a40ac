"""Every exercise check in the course notebooks has its tiered hints, and every hint is used."""

import ast
from pathlib import Path

import nbformat
import pytest

from course_utils.exercises import HINT_TIERS, HINTS_DIR, load_hints

ROOT = Path(__file__).resolve().parents[1]
CHECKS = {"check_function", "check_value"}


def string_literals_and_check_names(nb):
    """(every string literal in the notebook's code, the literal first arguments of checks)."""
    literals, names = set(), set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in CHECKS:
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
    return literals, names


def solution_notebooks():
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted(ROOT.glob("solutions/*.ipynb"))}


def test_every_check_in_a_notebook_has_hints_for_that_notebook():
    hints = load_hints()
    problems = []
    for stem, nb in solution_notebooks().items():
        for name in sorted(string_literals_and_check_names(nb)[1]):
            entry = hints.get(name)
            if entry is None:
                problems.append(
                    f"{stem}: exercise {name!r} has no table in {HINTS_DIR}/{stem}.toml"
                )
            elif entry["notebook"] != stem:
                problems.append(f"{stem}: {name!r} is filed under notebook {entry['notebook']!r}")
    assert not problems, "\n".join(problems)


def test_every_hint_is_used_by_its_notebook():
    notebooks = solution_notebooks()
    problems = []
    for name, entry in load_hints().items():
        nb = notebooks.get(entry["notebook"])
        if nb is None:
            problems.append(f"{name!r}: no notebook solutions/{entry['notebook']}.ipynb")
        elif name not in string_literals_and_check_names(nb)[0]:
            problems.append(f"{name!r}: its name is not a string in {entry['notebook']}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("tier", HINT_TIERS)
def test_hints_are_short_enough_to_read_in_a_check_report(tier):
    long = {n: len(e[tier]) for n, e in load_hints().items() if len(e[tier]) > 400}
    assert not long, long
