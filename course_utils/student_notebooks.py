"""Generate the student notebooks in ``notebooks/`` from the solution notebooks in ``solutions/``.

The solution notebooks are the single source: ``solutions/NAME.ipynb`` (top level only;
sub-folders such as ``solutions/challenge/`` are ignored) becomes ``notebooks/NAME.ipynb``.

Marking conventions in a solution notebook:

* Code cells: the lines between a full-line comment ``### BEGIN SOLUTION`` and a full-line
  comment ``### END SOLUTION`` (any indentation) become, at the indentation of the BEGIN line::

      # YOUR CODE HERE
      raise NotImplementedError("Exercise not done yet")

  ``### BEGIN SOLUTION message: Exercise 2: the receptive field (see above).`` sets the
  exception message: one short sentence (at most :data:`MAX_MESSAGE` characters) that says
  what to compute and where to look, never how. Hints belong in ``data/hints/<notebook>.toml``,
  where the exercise check reveals them in tiers after a failed attempt.
  ``### BEGIN SOLUTION stub: lam = None`` replaces the ``raise`` line by ``lam = None``; a
  region outside a function body must have such a stub (a ``raise`` there would stop the
  notebook).
  The markers stay in the solution notebook, where they read as comments.
* Markdown cells: the lines between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``
  become ``*Your answer here.*``.
* A cell tagged ``solution-only`` is left out of the student notebook.

Unbalanced or nested markers, and marker text anywhere else, raise :class:`MarkerError`
naming the notebook and the cell. Student notebooks are written without outputs, execution
counts or timing metadata, keep the solution's cell ids and notebook metadata (except
saved widget state), and are byte-identical from one run to the next.

Every stub must leave the notebook runnable: wrap the exercise's use in a check from
:mod:`course_utils.exercises`, which falls back to a reference implementation.

:func:`hygiene_problems` lists what a student would trip over (a solution line left in the
student copy or in the hints, a markdown heading or display maths hidden in a code comment,
a long stub message); ``--check`` reports these too.

Command line (``make student-notebooks``)::

    python -m course_utils.student_notebooks          # regenerate notebooks/
    python -m course_utils.student_notebooks --check  # exit 1 if notebooks/ is out of date
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat

from .paths import REPO_DIR

ROOT = REPO_DIR
SOLUTION_ONLY_TAG = "solution-only"
DEFAULT_MESSAGE = "Exercise not done yet"
MAX_MESSAGE = 80
"""Longest stub message, in characters: a short sentence, never a recipe."""
MIN_SOLUTION_LINE = 25
"""Solution lines at least this long (stripped) must not appear in the student copy."""
ANSWER_PLACEHOLDER = "*Your answer here.*"

_CODE_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?P<rest>.*?)[ \t]*$")
_CODE_END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")
_CODE_OPTION = re.compile(r"^[ \t]+(?P<key>stub|message|hint):[ \t]*(?P<value>\S.*)$")
_HIDDEN_MARKDOWN = re.compile(r"^\s*#\s+(#{1,6}\s+\S|\$\$)|^\s*#\s*\$\$")
_MD_BEGIN = re.compile(r"^[ \t]*<!--[ \t]*BEGIN SOLUTION[ \t]*-->[ \t]*$")
_MD_END = re.compile(r"^[ \t]*<!--[ \t]*END SOLUTION[ \t]*-->[ \t]*$")
_ANY_MARKER = re.compile(r"(BEGIN|END) SOLUTION")
_DROPPED_CELL_METADATA = ("execution", "ExecuteTime")
_DROPPED_NOTEBOOK_METADATA = ("widgets",)


class MarkerError(ValueError):
    """A solution notebook has unbalanced, nested or misplaced solution markers."""


def _where(name: str, index: int, cell: dict) -> str:
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"{name}, cell {index + 1} (id {cell.get('id', '?')!r}, starting {first[:50]!r})"


def _replace_regions(source: str, begin: re.Pattern, end: re.Pattern, stub, where: str) -> str:
    """Replace each BEGIN..END region by ``stub(begin_match, begin_line_number, line_ending)``."""
    out: list[str] = []
    start = None  # (line number, match) of the open BEGIN marker
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        text = line.rstrip("\r\n")
        if match := begin.match(text):
            if start is not None:
                raise MarkerError(
                    f"{where}: nested BEGIN SOLUTION at line {number} "
                    f"(the one at line {start[0]} is not closed)"
                )
            start = (number, match)
        elif end.match(text):
            if start is None:
                raise MarkerError(f"{where}: END SOLUTION at line {number} without a BEGIN")
            out.append(stub(start[1], start[0], line[len(text) :]))
            start = None
        elif start is None:
            out.append(line)
    if start is not None:
        raise MarkerError(f"{where}: BEGIN SOLUTION at line {start[0]} is never closed")
    return "".join(out)


def _function_lines(source: str) -> set[int] | None:
    """Line numbers inside function bodies; ``None`` if the cell is not plain Python."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics, shell escapes
        return None
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        line
        for node in ast.walk(tree)
        if isinstance(node, functions)
        for line in range(node.lineno, node.end_lineno + 1)
    }


def _code_stub(source: str, where: str):
    in_function = _function_lines(source)

    def stub(match: re.Match, number: int, ending: str) -> str:
        indent, rest = match["indent"], match["rest"]
        option = _CODE_OPTION.match(rest) if rest else None
        if rest and option is None:
            raise MarkerError(
                f"{where}: cannot read {match[0].strip()!r}; "
                "expected '### BEGIN SOLUTION', '... stub: CODE' or '... message: TEXT'"
            )
        if option and option["key"] == "hint":
            raise MarkerError(
                f"{where}: 'hint:' is gone: the student reads a stub before trying. Use "
                "'message:' for a short sentence saying what to compute, and put the hints in "
                "data/hints/<notebook>.toml"
            )
        if option and option["key"] == "message" and len(option["value"]) > MAX_MESSAGE:
            raise MarkerError(
                f"{where}: the stub message has {len(option['value'])} characters; keep it to "
                f"one short sentence (at most {MAX_MESSAGE}) and put hints in "
                "data/hints/<notebook>.toml"
            )
        if option and option["key"] == "stub":
            return f"{indent}# YOUR CODE HERE\n{indent}{option['value']}{ending}"
        outside = not indent if in_function is None else number not in in_function
        if outside:
            raise MarkerError(
                f"{where}: a region outside any function needs '### BEGIN SOLUTION stub: CODE' "
                "(a bare `raise` there would stop the student notebook)"
            )
        message = json.dumps(option["value"] if option else DEFAULT_MESSAGE, ensure_ascii=False)
        return f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError({message}){ending}"

    return stub


def _markdown_stub(match: re.Match, number: int, ending: str) -> str:
    return ANSWER_PLACEHOLDER + ending


def make_student_notebook(
    nb: nbformat.NotebookNode, name: str = "notebook"
) -> nbformat.NotebookNode:
    """Return the student copy of solution notebook ``nb`` (``nb`` itself is not modified).

    ``name`` only serves in error messages. Raises :class:`MarkerError` on bad markers.
    """
    student = copy.deepcopy(nb)
    for key in _DROPPED_NOTEBOOK_METADATA:
        student.metadata.pop(key, None)
    cells = []
    for index, cell in enumerate(student.cells):
        if SOLUTION_ONLY_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        where = _where(name, index, cell)
        if cell.cell_type == "code":
            cell.source = _replace_regions(
                cell.source, _CODE_BEGIN, _CODE_END, _code_stub(cell.source, where), where
            )
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = _replace_regions(cell.source, _MD_BEGIN, _MD_END, _markdown_stub, where)
        if _ANY_MARKER.search(cell.source):
            raise MarkerError(
                f"{where}: solution marker in the wrong place (markers must be full lines: "
                "'### BEGIN/END SOLUTION' in code, '<!-- BEGIN/END SOLUTION -->' in markdown)"
            )
        for key in _DROPPED_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
        cells.append(cell)
    student.cells = cells
    return student


def _solution_lines(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(cell index, stripped line) for every line inside a solution region of ``nb``."""
    lines = []
    for index, cell in enumerate(nb.cells):
        begin, end = (_CODE_BEGIN, _CODE_END) if cell.cell_type == "code" else (_MD_BEGIN, _MD_END)
        inside = False
        for line in cell.source.splitlines():
            if begin.match(line):
                inside = True
            elif end.match(line):
                inside = False
            elif inside and line.strip():
                lines.append((index, line.strip()))
    return lines


def hygiene_problems(
    solution: nbformat.NotebookNode,
    student: nbformat.NotebookNode,
    name: str = "notebook",
    hints_text: str = "",
) -> list[str]:
    """What a student would trip over in a solution notebook and its student copy.

    * a solution line of :data:`MIN_SOLUTION_LINE` characters or more that appears in the
      student copy, or in ``hints_text`` (the hints file);
    * a markdown heading or display maths written as a comment in a code cell (it never
      renders);
    * a ``NotImplementedError`` message in the student copy longer than :data:`MAX_MESSAGE`.
    """
    problems = []
    student_text = "\n".join(cell.source for cell in student.cells)
    for index, line in _solution_lines(solution):
        if len(line) < MIN_SOLUTION_LINE:
            continue
        for text, place in ((student_text, "its student copy"), (hints_text, "the hints file")):
            if line in text:
                problems.append(
                    f"{name}, cell {index + 1}: the solution line {line[:50]!r} appears in {place}"
                )
    for index, cell in enumerate(solution.cells):
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if _HIDDEN_MARKDOWN.match(line):
                problems.append(
                    f"{name}, cell {index + 1}: markdown hidden in a code comment, which never "
                    f"renders: {line.strip()[:50]!r}; move it to a markdown cell"
                )
                break
    for index, cell in enumerate(student.cells):
        for match in re.finditer(r"NotImplementedError\((\"(?:[^\"\\]|\\.)*\")\)", cell.source):
            message = json.loads(match[1])
            if len(message) > MAX_MESSAGE:
                problems.append(
                    f"{name}, student cell {index + 1}: a stub message of {len(message)} "
                    f"characters (at most {MAX_MESSAGE}): say what to compute, not how"
                )
    return problems


def _read_solution(path: Path) -> nbformat.NotebookNode:
    """Read a notebook; cells without an id get a stable one (nbformat would pick at random)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if (raw.get("nbformat", 0), raw.get("nbformat_minor", 0)) >= (4, 5):
        for index, cell in enumerate(raw.get("cells", [])):
            if "id" not in cell:
                source = "".join(cell.get("source", ""))
                digest = hashlib.sha1(f"{index}\0{source}".encode()).hexdigest()
                cell["id"] = digest[:8]
    return nbformat.reads(json.dumps(raw), as_version=4)


def render(nb: nbformat.NotebookNode) -> str:
    """Serialise a notebook exactly as the student notebooks are stored."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def sync(check: bool = False, root: Path = ROOT) -> list[str]:
    """Bring ``root/notebooks`` up to date with ``root/solutions``; return what is (still) wrong.

    With ``check=True`` nothing is written and every stale, missing or extra student notebook
    is reported. Otherwise stale and missing ones are (re)written, and only extra notebooks
    (which have no solution notebook and are never deleted) are reported. Hygiene problems
    (:func:`hygiene_problems`) are reported in both cases.
    """
    solutions, students = Path(root) / "solutions", Path(root) / "notebooks"
    sources = sorted(solutions.glob("*.ipynb"))
    problems = []
    for source in sources:
        target = students / source.name
        hints_file = Path(root) / "data" / "hints" / f"{source.stem}.toml"
        hints_text = hints_file.read_text(encoding="utf-8") if hints_file.exists() else ""
        solution = _read_solution(source)
        student = make_student_notebook(solution, f"solutions/{source.name}")
        problems += hygiene_problems(solution, student, f"solutions/{source.name}", hints_text)
        text = render(student)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        state = "is missing" if current is None else "is out of date"
        if check:
            problems.append(
                f"notebooks/{target.name} {state} (source: solutions/{source.name}); "
                "fix: run `make student-notebooks`"
            )
        else:
            students.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="\n") as file:
                file.write(text)
            print(f"wrote notebooks/{target.name}")
    names = {source.name for source in sources}
    for extra in sorted(students.glob("*.ipynb")):
        if extra.name not in names:
            problems.append(
                f"notebooks/{extra.name} has no solutions/{extra.name}: "
                "delete it, or add the solution notebook"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only report; exit 1 if notebooks/ is out of date"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    args = parser.parse_args(argv)
    try:
        problems = sync(check=args.check, root=args.root)
    except MarkerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
