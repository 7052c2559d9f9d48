"""Student versions of the chapters, and bulk checking of submitted notebooks.

    python -m transformer_lib.coursework student notebooks/02_attention.ipynb -o student/
    python -m transformer_lib.coursework student notebooks/ -o student/       # the whole book
    python -m transformer_lib.coursework check submissions/                     # table of results

A student version replaces the code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the
markers nbgrader uses) by a stub that raises ``NotImplementedError``, clears every output, turns
each check cell ``assert checks.check_x(f)`` into a plain call that prints its report, and guards
the cells that use a student's function so that the notebook still runs to the end.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = 'raise NotImplementedError("write your solution here")'
CHECK_CELL = re.compile(r"^assert (checks\.check_\w+\(.*\))\s*$")
REPORT = re.compile(r"^\[(PASSED|NOT YET)\] (.+?): (.*)$", re.M)
GUARD_MESSAGE = "Skipped: this cell uses an exercise that is not solved yet."


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
        elif CHECK_CELL.match(cell.source):
            cell.source = CHECK_CELL.sub(r"\1", cell.source)
        elif student_names and re.search(rf"\b({'|'.join(map(re.escape, student_names))})\b",
                                         cell.source):
            cell.source = _guard(cell.source)
    notebook.metadata.pop("widgets", None)
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


def check_submissions(folder: Path, timeout: int = 600) -> dict[str, dict[str, str]]:
    """Execute every submitted notebook below ``folder``; return {submission: {check: status}}.

    A submission is named by its path relative to ``folder`` (e.g. ``alice/02_attention``).
    """
    from nbclient import NotebookClient

    paths = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise CourseworkError(f"{folder}: no notebooks to check")
    results = {}
    for path in paths:
        name = str(path.relative_to(folder).with_suffix(""))
        try:
            notebook = read_notebook(path)
            NotebookClient(notebook, timeout=timeout, allow_errors=True,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except Exception as error:  # noqa: BLE001 - one broken submission must not stop the rest
            results[name] = {"(notebook)": f"did not run: {type(error).__name__}: {error}"}
            continue
        text = "\n".join(output.get("text", "") for cell in notebook.cells
                         for output in cell.get("outputs", []) if output.get("name") == "stdout")
        results[name] = {check: "passed" if status == "PASSED" else f"not yet: {message}"
                         for status, check, message in REPORT.findall(text)}
    return results


def format_table(results: dict[str, dict[str, str]]) -> str:
    """A markdown table: one row per submission, one column per check, then a total."""
    checks = sorted({check for row in results.values() for check in row})
    lines = ["| submission | " + " | ".join(checks) + " | passed |",
             "|---" * (len(checks) + 2) + "|"]
    for name, row in results.items():
        marks = ["yes" if row.get(c) == "passed" else ("no" if c in row else "-") for c in checks]
        lines.append(f"| {name} | " + " | ".join(marks)
                     + f" | {marks.count('yes')}/{len(checks)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transformer_lib.coursework",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="write student versions")
    student.add_argument("source", type=Path, help="a chapter notebook, or a folder of them")
    student.add_argument("-o", "--outdir", type=Path, required=True, help="folder to write into")
    check = commands.add_parser("check", help="run the checks of submitted notebooks")
    check.add_argument("folder", type=Path, help="folder holding the submitted notebooks")
    check.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    try:
        if args.command == "student":
            for path in make_student_versions(args.source, args.outdir):
                print(f"wrote {path}")
        else:
            print(format_table(check_submissions(args.folder, args.timeout)))
    except CourseworkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
