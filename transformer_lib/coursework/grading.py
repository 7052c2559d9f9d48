"""Bulk grading: each submission's exercises checked by the instructor's own copy of the checks.

A submission is run in a fresh kernel, its cells in order, with two changes: its own check cells
are dropped, and after each exercise's solution cell the grader runs the chapter's check, reloaded
from the installed library, on the student's function. The result comes back as a display output
carrying a number drawn for this run, so a printed or rebound "[PASSED]" counts for nothing. The
run stops after the last exercise; if the kernel dies or the notebook's time runs out, the
exercises already checked keep their result.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from transformer_lib.coursework.shortcuts import SHORTCUTS
from transformer_lib.coursework.student import CHECK_CELL, CourseworkError, read_notebook

MIME = "application/x.transformer-lib-grade+json"
GRADER = """\
def _grade():
    import ast, importlib, textwrap
    from IPython.display import display
    report = {{"nonce": {nonce!r}, "exercise": {number}}}
    try:
        student_fn = {argument}
    except NameError as error:
        report.update(passed=False, message=f"{{error}}: was the exercise's cell run, or renamed?")
    else:
        try:
            for name in ("_core", "_compare"):  # as installed, whatever the notebook changed
                importlib.reload(importlib.import_module(f"transformer_lib.checks.{{name}}"))
            chapter = importlib.reload(importlib.import_module({module!r}))
            result = getattr(chapter, {check!r})(student_fn)
            report.update(passed=bool(result.passed), message=result.message)
        except BaseException as error:
            report.update(passed=False, message=f"the check stopped: {{type(error).__name__}}")
        try:
            from transformer_lib.parts import source_of  # also a class defined in a cell
            tree = ast.parse(textwrap.dedent(source_of(student_fn)))
            called = {{getattr(node.func, "attr", getattr(node.func, "id", None))
                      for node in ast.walk(tree) if isinstance(node, ast.Call)}}
        except (OSError, TypeError, SyntaxError, ValueError):
            called = set()
        module = getattr(student_fn, "__module__", None) or ""
        report["shortcut"] = sorted(called & set({shortcuts!r})) or (
            [module] if module.split(".")[0] in ("transformer_lib", "torch") else [])
    display({{{mime!r}: report}}, raw=True)
_grade(); del _grade"""


@dataclass(frozen=True)
class Exercise:
    """A graded check cell of a chapter: the check, what it is given, its points."""

    number: int
    grade_id: str  # the check cell's nbgrader id, e.g. "ch02-exercise-4-check"
    check: str  # e.g. "check_masked_attention"
    argument: str  # the code passed to the check, e.g. "masked_attention"
    points: float

    @property
    def title(self) -> str:
        return f"{self.number}. {self.check.removeprefix('check_').replace('_', ' ')}"

    @property
    def solution_id(self) -> str:
        return self.grade_id.removesuffix("-check")


@dataclass(frozen=True)
class Outcome:
    """One exercise of one submission: "yes", "no" or "not run", the reason, any shortcut."""

    status: str
    reason: str = ""
    shortcut: str = ""


@dataclass
class Submission:
    name: str  # its path below the submissions folder, without .ipynb
    chapter: str  # e.g. "02_attention"
    outcomes: list[Outcome]
    note: str = ""  # what stopped the run, if anything


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def exercises_of(notebook) -> list[Exercise]:
    """The graded check cells of a chapter notebook, in their order."""
    found = []
    for cell in notebook.cells:
        match = CHECK_CELL.match(cell.source) if cell.cell_type == "code" else None
        if match and _nbgrader(cell).get("grade"):
            found.append(Exercise(len(found) + 1, _nbgrader(cell)["grade_id"], match[2], match[3],
                                  float(_nbgrader(cell).get("points", 1))))
    return found


def _grading_notebook(submission, exercises: list[Exercise], module: str, nonce: str):
    """The submission's cells without its check cells, each exercise's grader after its solution
    cell (at the end if the solution cell lost its id), nothing after the last grader."""
    graders = {exercise.solution_id: nbformat.v4.new_code_cell(GRADER.format(
        nonce=nonce, number=exercise.number, argument=exercise.argument, module=module,
        check=exercise.check, shortcuts=SHORTCUTS.get(exercise.check, ()), mime=MIME))
        for exercise in exercises}
    cells = []
    for number, cell in enumerate(submission.cells, start=1):
        if (cell.cell_type != "code" or _nbgrader(cell).get("grade")
                or CHECK_CELL.match(cell.source)):  # the submission's own check cells
            continue
        cell.metadata["submission_cell"] = number  # for messages: where a run stopped
        cells.append(cell)
        if _nbgrader(cell).get("grade_id") in graders:
            cells.append(graders.pop(_nbgrader(cell)["grade_id"]))
    cells += graders.values()
    last = max(index for index, cell in enumerate(cells) if MIME in cell.source)
    submission.cells = cells[: last + 1]
    return submission


def _where(cell) -> str:
    if "submission_cell" not in cell.metadata:
        return "a check"
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {cell.metadata['submission_cell']} ({first.strip()[:60]!r})"


def _read_reports(notebook, nonce: str) -> dict[int, dict]:
    reports = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            report = output.get("data", {}).get(MIME)
            if isinstance(report, str):
                report = json.loads(report)
            if isinstance(report, dict) and report.get("nonce") == nonce:
                reports[report["exercise"]] = report
    return reports


def grade_one(path: Path, source: Path, name: str, time_limit: float) -> Submission:
    """Run one submission against the chapter notebook ``source``; never raises."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    exercises = exercises_of(read_notebook(source))
    chapter = source.stem
    nonce = secrets.token_hex(16)
    note = ""
    try:
        notebook = _grading_notebook(read_notebook(path), exercises,
                                     f"transformer_lib.checks.ch{chapter[:2]}", nonce)
    except CourseworkError as error:
        notebook, note = None, f"not graded: {error}"
    if notebook is not None:
        client = NotebookClient(notebook, timeout=int(time_limit), allow_errors=True,
                                kernel_name="python3", extra_arguments=["--log-level=ERROR"],
                                resources={"metadata": {"path": str(path.parent)}})
        deadline = time.monotonic() + time_limit
        try:
            with client.setup_kernel():
                for index, cell in enumerate(notebook.cells):
                    client.timeout = max(1, int(deadline - time.monotonic()))
                    client.execute_cell(cell, index)
        except CellTimeoutError:
            note = f"stopped: the notebook ran past its {time_limit:g} s limit in {_where(cell)}"
        except DeadKernelError:
            note = f"stopped: the kernel died in {_where(cell)}"
        except Exception as error:  # noqa: BLE001 - one broken submission must not stop the rest
            note = f"stopped: {type(error).__name__}: {error}"
    reports = _read_reports(notebook, nonce) if notebook is not None else {}
    outcomes = []
    for exercise in exercises:
        report = reports.get(exercise.number)
        if report is None:
            outcomes.append(Outcome("not run", note or "its check did not report"))
            continue
        shortcut = ", ".join(report.get("shortcut", []))
        outcomes.append(Outcome("yes" if report["passed"] is True else "no",
                                "" if report["passed"] is True else report["message"], shortcut))
    return Submission(name, chapter, outcomes, note)


def chapter_of(path: Path, sources: dict[str, Path]) -> Path | None:
    """The chapter notebook a submission answers: by its file name's number, else by the
    nbgrader ids of its cells."""
    by_number = {source.name[:2]: source for source in sources.values()}
    if re.match(r"\d\d_", path.name) and path.name[:2] in by_number:
        return by_number[path.name[:2]]
    try:
        ids = {_nbgrader(cell).get("grade_id", "") for cell in read_notebook(path).cells}
    except CourseworkError:
        return None
    numbers = {match[1] for match in (re.match(r"ch(\d\d)-", i) for i in ids) if match}
    return by_number.get(numbers.pop()) if len(numbers) == 1 else None


def grade_folder(folder: Path, source: Path, time_limit: float = 900, jobs: int = 1):
    """Grade every notebook below ``folder`` against the chapter notebooks in ``source``.
    Returns (submissions in path order, [(path, why it was not graded)])."""
    sources = {path.stem: path for path in sorted(source.glob("[0-9][0-9]_*.ipynb"))}
    if not sources:
        raise CourseworkError(f"{source}: no chapter notebooks (NN_name.ipynb) to grade against")
    paths = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise CourseworkError(f"{folder}: no notebooks to check")
    work, skipped = [], []
    for path in paths:
        chapter = chapter_of(path, sources)
        if chapter is None:
            skipped.append((path, "not a chapter of the book (no NN_ name, no chapter's cell ids)"))
        else:
            work.append((path, chapter, str(path.relative_to(folder).with_suffix("")),
                         time_limit))
    if jobs > 1:
        with ProcessPoolExecutor(jobs, initializer=_one_thread) as pool:
            graded = list(pool.map(grade_one, *zip(*work)))
    else:
        graded = [grade_one(*item) for item in work]
    return graded, skipped


def _one_thread() -> None:
    """Parallel kernels share the cores: one torch thread each (inherited by the kernels)."""
    import os

    os.environ["OMP_NUM_THREADS"] = "1"
