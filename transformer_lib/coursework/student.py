"""Student versions: the chapters without their solutions, still running to the end.

A student version replaces the code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the
markers nbgrader uses) by a stub that raises ``NotImplementedError``, clears every output, turns
each check cell ``checks.check_x(f).assert_passed()`` into ``checks.check_x(f)``, which shows its
report without stopping the notebook, and guards the cells that use a student's function so that
the notebook still runs to the end. A note under the title says all this to the reader.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = 'raise NotImplementedError("write your solution here")'
CHECK_CELL = re.compile(r"^(checks\.(check_\w+)\((.*)\))\.assert_passed\(\)\s*$")
GUARD_MESSAGE = "Skipped: this cell uses an exercise that is not solved yet."
NOTICE_ID = "exercise-version"
NOTICE = """\
**This is the exercise version of the chapter.** Each exercise's solution is replaced by a stub
that raises `NotImplementedError`: write your own code there, then run the check cell below it,
which says in plain words what is still wrong. Until an exercise is solved, the cells that use it
say so and are skipped, so the notebook still runs to the end. The book's version of this notebook
has the solutions (folded on the website): open it when you are stuck, or to compare."""


class CourseworkError(ValueError):
    """A bad input to the coursework tool; nothing was written."""


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read and validate a notebook, or raise CourseworkError naming the file."""
    if not path.is_file():
        raise CourseworkError(f"{path}: no such file")
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # noqa: BLE001 - any parse failure means "not a notebook"
        raise CourseworkError(
            f"{path} is not a Jupyter notebook ({type(error).__name__})"
        ) from None
    return notebook


def _strip_solution(source: str, where: str) -> str:
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise CourseworkError(f"{where}, line {number}: {BEGIN} inside another solution")
            inside = True
            out.append(line[: len(line) - len(line.lstrip())] + STUB)
        elif marker == END:
            if not inside:
                raise CourseworkError(f"{where}, line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise CourseworkError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def _defined_names(source: str) -> set[str]:
    """Functions and classes a cell defines at top level (by regex if it does not parse)."""
    try:
        return {node.name for node in ast.parse(source).body
                if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    except SyntaxError:
        return set(re.findall(r"^(?:def|class) (\w+)", source, re.M))


def _guard(source: str) -> str:
    body = "\n".join("    " + line if line.strip() else line for line in source.splitlines())
    return f"try:\n{body}\nexcept NotImplementedError:\n    print({GUARD_MESSAGE!r})"


def student_version(notebook: nbformat.NotebookNode, name: str = "notebook"):
    """A copy of ``notebook`` with solutions stubbed, checks reporting and outputs cleared."""
    notebook = nbformat.from_dict(notebook)  # a deep copy
    student_names: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        where = f"{name}, cell {index}"
        if BEGIN in cell.source or END in cell.source:
            stripped = _strip_solution(cell.source, where)
            student_names |= _defined_names(cell.source)
            cell.source = stripped
            tags = cell.metadata.get("tags", [])
            if "hide-input" in tags:  # the website hides solutions; the student's cell is theirs
                tags.remove("hide-input")
        elif CHECK_CELL.match(cell.source):
            cell.source = CHECK_CELL.sub(r"\1", cell.source)
        elif student_names and re.search(rf"\b({'|'.join(map(re.escape, student_names))})\b",
                                         cell.source):
            cell.source = _guard(cell.source)
    notebook.metadata.pop("widgets", None)
    if notebook.cells and not any(cell.get("id") == NOTICE_ID for cell in notebook.cells):
        notice = nbformat.v4.new_markdown_cell(NOTICE)
        notice["id"] = NOTICE_ID  # fixed, so that the same chapter gives the same file
        notebook.cells.insert(1, notice)  # after the title
    return notebook


def _notebooks(source: Path) -> list[Path]:
    if source.is_dir():
        found = sorted(source.glob("[0-9][0-9]_*.ipynb"))
        if not found:
            raise CourseworkError(f"{source}: no chapter notebooks (NN_name.ipynb) in this folder")
        return found
    return [source]


def make_student_versions(source: Path, outdir: Path) -> list[Path]:
    """Write the student version of one notebook, or of every chapter in a folder.

    Everything is read and checked first: on any error nothing is written.
    """
    planned = []
    for path in _notebooks(source):
        target = outdir / path.name
        if target.exists():
            raise CourseworkError(f"{target} already exists; remove it or choose another -o folder")
        planned.append((target, student_version(read_notebook(path), path.name)))
    outdir.mkdir(parents=True, exist_ok=True)
    for target, notebook in planned:
        nbformat.write(notebook, target)
    return [target for target, _ in planned]
