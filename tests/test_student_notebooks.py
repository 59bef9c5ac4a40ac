"""The student-notebook generator, and the hygiene of the course notebooks in the repository."""

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_utils.student_notebooks import (
    MAX_MESSAGE,
    MarkerError,
    hygiene_problems,
    main,
    make_student_notebook,
    render,
    sync,
)

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def notebook(*cells):
    return new_notebook(cells=list(cells), metadata={"kernelspec": dict(KERNELSPEC)})


def student_sources(*cells):
    return [cell.source for cell in make_student_notebook(notebook(*cells)).cells]


# --- code cells ---------------------------------------------------------------------------


def test_code_region_becomes_a_stub_at_the_marker_indentation():
    source = (
        "import torch\n"
        "\n"
        "def forward(x):\n"
        "    ### BEGIN SOLUTION\n"
        "    y = torch.fft.fft2(x)\n"
        "    return y.real\n"
        "    ### END SOLUTION\n"
        "\n"
        "print('after')"
    )
    assert student_sources(new_code_cell(source)) == [
        "import torch\n"
        "\n"
        "def forward(x):\n"
        "    # YOUR CODE HERE\n"
        '    raise NotImplementedError("Exercise not done yet")\n'
        "\n"
        "print('after')"
    ]


def test_stub_and_message_options_and_several_regions():
    source = (
        "### BEGIN SOLUTION stub: lam = None\n"
        "lam = 0.05\n"
        "### END SOLUTION\n"
        "def prox(x):\n"
        '\t### BEGIN SOLUTION message: Exercise 2: the "soft" prox (see above).\n'
        "\treturn x\n"
        "\t### END SOLUTION"
    )
    assert student_sources(new_code_cell(source)) == [
        "# YOUR CODE HERE\n"
        "lam = None\n"
        "def prox(x):\n"
        "\t# YOUR CODE HERE\n"
        '\traise NotImplementedError("Exercise 2: the \\"soft\\" prox (see above).")'
    ]


def test_a_long_stub_message_or_the_old_hint_option_is_refused():
    long = "Exercise 1: " + "multiply rfft2(x) by the spectrum, " * 3
    assert len(long) > MAX_MESSAGE
    cell = f"def f():\n    ### BEGIN SOLUTION message: {long}\n    return 1\n    ### END SOLUTION"
    with pytest.raises(MarkerError, match="one short sentence"):
        make_student_notebook(notebook(new_code_cell(cell)))
    old = "def f():\n    ### BEGIN SOLUTION hint: use fft\n    return 1\n    ### END SOLUTION"
    with pytest.raises(MarkerError, match="data/hints"):
        make_student_notebook(notebook(new_code_cell(old)))


def test_cells_with_ipython_magics_are_handled():
    source = (
        "%matplotlib inline\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    )
    assert student_sources(new_code_cell(source)) == [
        "%matplotlib inline\ndef f():\n    # YOUR CODE HERE\n"
        '    raise NotImplementedError("Exercise not done yet")'
    ]


def test_solution_markers_stay_in_the_solution_and_the_input_is_not_modified():
    nb = notebook(new_code_cell("### BEGIN SOLUTION stub: x = None\nx = 1\n### END SOLUTION\n"))
    before = nbformat.writes(nb)
    make_student_notebook(nb)
    assert nbformat.writes(nb) == before


# --- markdown cells and tags ----------------------------------------------------------------


def test_markdown_answer_is_removed():
    source = (
        "**Question.** Why is the problem ill-posed?\n"
        "\n"
        "<!-- BEGIN SOLUTION -->\n"
        "Because the blur kernel has zeros in its spectrum.\n"
        "<!-- END SOLUTION -->\n"
        "\n"
        "Next question."
    )
    assert student_sources(new_markdown_cell(source)) == [
        "**Question.** Why is the problem ill-posed?\n\n*Your answer here.*\n\nNext question."
    ]


def test_solution_only_cells_are_dropped():
    keep = new_code_cell("x = 1")
    drop = new_code_cell("print('instructor only')", metadata={"tags": ["solution-only"]})
    student = make_student_notebook(notebook(keep, drop, new_markdown_cell("end")))
    assert [cell.source for cell in student.cells] == ["x = 1", "end"]


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("x = 1\n### BEGIN SOLUTION stub: y = None\ny = 2", "never closed"),
        ("### END SOLUTION\n", "without a BEGIN"),
        ("if x:\n  ### BEGIN SOLUTION\n  ### BEGIN SOLUTION\n  ### END SOLUTION\n", "nested"),
        ("### BEGIN SOLUTIONS\n### END SOLUTION\n", "cannot read"),
        ("### BEGIN SOLUTION\nlam = 1\n### END SOLUTION\n", "needs '### BEGIN SOLUTION stub"),
        ("### BEGIN SOLUTION message: h\nlam = 1\n### END SOLUTION\n", "outside any function"),
        (
            "for i in range(3):\n    ### BEGIN SOLUTION\n    x = i\n    ### END SOLUTION\n",
            "outside",
        ),
        ("x = 1  ### BEGIN SOLUTION\n", "wrong place"),
        ("<!-- BEGIN SOLUTION -->\n<!-- END SOLUTION -->", "wrong place"),
    ],
)
def test_bad_code_markers_name_the_notebook_and_cell(source, problem):
    nb = notebook(new_markdown_cell("# Title"), new_code_cell(source))
    with pytest.raises(MarkerError, match=problem) as info:
        make_student_notebook(nb, "solutions/day9.ipynb")
    assert "solutions/day9.ipynb, cell 2" in str(info.value)


@pytest.mark.parametrize(
    "source",
    [
        "<!-- BEGIN SOLUTION -->\nanswer",
        "answer\n<!-- END SOLUTION -->",
        "### BEGIN SOLUTION\nanswer\n### END SOLUTION",
    ],
)
def test_bad_markdown_markers(source):
    with pytest.raises(MarkerError, match="day9.ipynb, cell 1"):
        make_student_notebook(notebook(new_markdown_cell(source)), "day9.ipynb")


# --- outputs, metadata, determinism ---------------------------------------------------------------


def executed_notebook():
    cell = new_code_cell(
        "def f():\n    ### BEGIN SOLUTION\n    print(1)\n    ### END SOLUTION",
        execution_count=3,
        outputs=[new_output("stream", name="stdout", text="1\n")],
        metadata={"execution": {"iopub.execute_input": "2025-01-01T00:00:00"}, "tags": ["x"]},
    )
    nb = notebook(new_markdown_cell("# Title"), cell)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    return nb


def test_outputs_counts_and_timing_are_cleared_ids_and_metadata_kept():
    nb = executed_notebook()
    student = make_student_notebook(nb)
    code = student.cells[1]
    assert code.outputs == [] and code.execution_count is None
    assert code.metadata == {"tags": ["x"]}
    assert [c.id for c in student.cells] == [c.id for c in nb.cells]
    assert student.metadata == {"kernelspec": KERNELSPEC}
    nbformat.validate(student)


def test_rendering_is_byte_identical_across_runs():
    nb = executed_notebook()
    first = render(make_student_notebook(nb))
    again = render(make_student_notebook(nbformat.reads(first, as_version=4)))
    assert first == render(make_student_notebook(nb)) == again
    assert first.endswith("}\n")


# --- sync on a temporary repository -------------------------------------------------------------


def write(path, nb):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb), encoding="utf-8")


def test_sync_writes_checks_and_reports(tmp_path):
    write(tmp_path / "solutions" / "day1.ipynb", executed_notebook())
    write(tmp_path / "solutions" / "challenge" / "ignored.ipynb", notebook())
    assert sync(check=True, root=tmp_path) == [
        "notebooks/day1.ipynb is missing (source: solutions/day1.ipynb); "
        "fix: run `make student-notebooks`"
    ]
    assert sync(root=tmp_path) == []
    assert sorted(p.name for p in (tmp_path / "notebooks").iterdir()) == ["day1.ipynb"]
    written = (tmp_path / "notebooks" / "day1.ipynb").read_bytes()
    assert sync(check=True, root=tmp_path) == []
    assert sync(root=tmp_path) == []
    assert (tmp_path / "notebooks" / "day1.ipynb").read_bytes() == written

    changed = executed_notebook()
    changed.cells[0].source = "# New title"
    write(tmp_path / "solutions" / "day1.ipynb", changed)
    write(tmp_path / "notebooks" / "old.ipynb", notebook())
    problems = sync(check=True, root=tmp_path)
    assert [p.split(" ", 1)[0] for p in problems] == ["notebooks/day1.ipynb", "notebooks/old.ipynb"]
    assert "is out of date" in problems[0] and "make student-notebooks" in problems[0]
    assert "has no solutions/old.ipynb" in problems[1]
    assert sync(root=tmp_path) == problems[1:]  # extra notebooks are reported, never deleted
    assert (tmp_path / "notebooks" / "old.ipynb").exists()


def test_cells_without_ids_get_stable_ids(tmp_path):
    text = nbformat.writes(notebook(new_markdown_cell("# T"), new_code_cell("x = 1")))
    text = re.sub(r'\n *"id": "[^"]*",', "", text)
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "a.ipynb").write_text(text, encoding="utf-8")
    assert sync(root=tmp_path) == []
    assert sync(check=True, root=tmp_path) == []


def test_command_line_check(tmp_path, capsys):
    write(tmp_path / "solutions" / "day1.ipynb", executed_notebook())
    root = ["--root", str(tmp_path)]
    assert main([*root, "--check"]) == 1
    stderr = capsys.readouterr().err
    assert "notebooks/day1.ipynb is missing" in stderr and "make student-notebooks" in stderr
    assert main(root) == 0
    assert "wrote notebooks/day1.ipynb" in capsys.readouterr().out
    assert main([*root, "--check"]) == 0
    write(tmp_path / "solutions" / "day1.ipynb", notebook(new_code_cell("### END SOLUTION")))
    assert main(root) == 1
    assert "error: solutions/day1.ipynb, cell 1" in capsys.readouterr().err


# --- hygiene: what a student would trip over ---------------------------------------------------


def hygiene(*cells, hints_text=""):
    nb = notebook(*cells)
    return hygiene_problems(nb, make_student_notebook(nb), "day9.ipynb", hints_text)


def test_hygiene_passes_a_clean_notebook():
    body = "    return torch.fft.irfft2(x * kappa)\n"
    code = f"def f(x):\n    ### BEGIN SOLUTION\n{body}    ### END SOLUTION"
    assert hygiene(new_markdown_cell("## 1. Title\n$$a = b$$"), new_code_cell(code)) == []


def test_hygiene_finds_a_solution_line_left_in_the_student_copy_or_the_hints():
    solution = "    return torch.fft.irfft2(x * kappa.conj())\n"
    code = f"def f(x):\n    ### BEGIN SOLUTION\n{solution}    ### END SOLUTION"
    reference = f"def reference(x):\n{solution}"
    problems = hygiene(new_code_cell(code), new_code_cell(reference))
    assert len(problems) == 1 and "appears in its student copy" in problems[0]
    problems = hygiene(new_code_cell(code), hints_text=f"formula = '{solution.strip()}'")
    assert len(problems) == 1 and "appears in the hints file" in problems[0]
    short = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION"
    assert hygiene(new_code_cell(short), new_code_cell("y = x + 1\nreturn x + 1")) == []
    answer = "<!-- BEGIN SOLUTION -->\nThe kernel has zeros in its spectrum.\n<!-- END SOLUTION -->"
    problems = hygiene(
        new_markdown_cell(answer), new_markdown_cell("The kernel has zeros in its spectrum.")
    )
    assert len(problems) == 1 and "cell 1" in problems[0]


@pytest.mark.parametrize(
    "comment",
    ["# ## 5. UNets: multiscale denoisers", "    # ### Training", "# $$ x = y $$", "#$$"],
)
def test_hygiene_finds_markdown_hidden_in_a_code_comment(comment):
    problems = hygiene(new_code_cell(f"x = 1\n{comment}\ny = 2"))
    assert len(problems) == 1 and "markdown hidden in a code comment" in problems[0]


def test_hygiene_finds_a_long_stub_message_written_by_hand():
    long = "x" * (MAX_MESSAGE + 1)
    problems = hygiene(new_code_cell(f'def f():\n    raise NotImplementedError("{long}")'))
    assert len(problems) == 1 and "stub message" in problems[0]
    ok = hygiene(new_code_cell('def f():\n    raise NotImplementedError("Exercise 1.")'))
    assert ok == []


# --- the repository's notebooks ---------------------------------------------------------------


def repo_notebooks():
    paths = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted(
        (ROOT / "notebooks").glob("*.ipynb")
    )
    return [
        (path.relative_to(ROOT).as_posix(), nbformat.read(path, as_version=4)) for path in paths
    ]


def test_student_notebooks_are_up_to_date():
    problems = sync(check=True)
    assert not problems, "\n".join(problems)


def test_notebooks_are_stored_without_outputs():
    problems = [
        f"{name}, cell {i + 1}: stored with outputs or an execution count"
        for name, nb in repo_notebooks()
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not problems, "\n".join(problems + ["Clear all outputs before saving."])


def test_notebooks_use_the_python3_kernel():
    problems = [
        f"{name}: kernelspec {nb.metadata.get('kernelspec', {}).get('name')!r}, expected 'python3'"
        for name, nb in repo_notebooks()
        if nb.metadata.get("kernelspec", {}).get("name") != "python3"
    ]
    assert not problems, "\n".join(problems)


def test_solution_notebooks_open_with_objectives_prerequisites_and_run_time():
    problems = []
    for name, nb in repo_notebooks():
        if not name.startswith("solutions/"):
            continue
        first = nb.cells[0] if nb.cells else None
        if first is None or first.cell_type != "markdown":
            problems.append(f"{name}: the first cell must be markdown")
            continue
        for heading in ("Learning objectives", "Prerequisites", "Expected run time"):
            if heading.lower() not in first.source.lower():
                problems.append(f"{name}: the first cell has no {heading!r}")
    assert not problems, "\n".join(problems)


SECTION_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(.+?)\s*\|\s*(\d+)\s*\|\s*(core|optional)\s*\|\s*$")
SECTION_HEADING = re.compile(r"^##\s+(\d+)\.\s+(.+?)\s*$")


def section_table(first_cell):
    """{number: (title, minutes, kind)} from the '## Sections' table of a notebook's first cell."""
    rows = [SECTION_ROW.match(line) for line in first_cell.splitlines()]
    return {int(m[1]): (m[2], int(m[3]), m[4]) for m in rows if m}


def test_solution_notebooks_list_their_sections_with_minutes_core_or_optional():
    problems = []
    for name, nb in repo_notebooks():
        if not name.startswith("solutions/"):
            continue
        table = section_table(nb.cells[0].source)
        headings = {
            int(m[1]): m[2]
            for cell in nb.cells
            if cell.cell_type == "markdown"
            for m in map(SECTION_HEADING.match, cell.source.splitlines())
            if m
        }
        if "## Sections" not in nb.cells[0].source or not table:
            problems.append(f"{name}: the first cell has no '## Sections' table")
            continue
        if sorted(table) != sorted(headings):
            problems.append(
                f"{name}: sections {sorted(table)} in the table, {sorted(headings)} in the text"
            )
        for number, (title, minutes, _) in table.items():
            if number in headings and headings[number] != title:
                problems.append(
                    f"{name}: section {number} is {headings[number]!r}, the table says {title!r}"
                )
            if minutes <= 0:
                problems.append(f"{name}: section {number} has {minutes} minutes")
        if not any(kind == "core" for _, _, kind in table.values()):
            problems.append(f"{name}: no core section")
    assert not problems, "\n".join(problems)


TIMETABLE_ROW = re.compile(r"^\|\s*\d\s*\|[^|]*\|\s*`(day\d_\d_\w+)`[^|]*\|\s*(\d+)\s*\|")


def test_the_readme_timetable_agrees_with_the_notebook_headers():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {m[1]: int(m[2]) for m in map(TIMETABLE_ROW.match, readme.splitlines()) if m}
    solutions = {p.stem: p for p in sorted((ROOT / "solutions").glob("*.ipynb"))}
    assert sorted(rows) == sorted(solutions), "every notebook has one timetable row"
    for stem, core in rows.items():
        nb = nbformat.read(solutions[stem], as_version=4)
        table = section_table(nb.cells[0].source)
        header_core = sum(minutes for _, minutes, kind in table.values() if kind == "core")
        assert core == header_core, (
            f"{stem}: {core} core minutes in the README, {header_core} in its header"
        )
