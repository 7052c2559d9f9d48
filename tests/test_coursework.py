"""The coursework tool's student versions: they run to the end; bad input is refused.

The tests that execute notebooks in a Jupyter kernel (every chapter's student version) are marked
`notebooks`: `make test-lib` leaves them out. Grading is tested in test_grading.py.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from transformer_lib import coursework

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def run_tool(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "transformer_lib.coursework", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def execute(notebook, folder):
    NotebookClient(notebook, timeout=300, allow_errors=False, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    return "\n".join(output.get("text", output.get("data", {}).get("text/plain", ""))
                     for cell in notebook.cells for output in cell.get("outputs", []))


@pytest.mark.notebooks
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_student_version_runs_to_the_end_with_every_check_not_implemented(chapter, tmp_path):
    full = nbformat.read(chapter, as_version=4)
    (written,) = coursework.make_student_versions(chapter, tmp_path)
    student = nbformat.read(written, as_version=4)
    sources = "\n".join(cell.source for cell in student.cells)
    assert coursework.BEGIN not in sources and coursework.END not in sources
    solutions = sum(coursework.BEGIN in cell.source for cell in full.cells)
    assert sources.count(coursework.STUB) == solutions
    assert all(not cell.get("outputs") for cell in student.cells if cell.cell_type == "code")
    assert not any("hide-input" in cell.metadata.get("tags", []) for cell in student.cells
                   if coursework.STUB in cell.source)  # the student's cell is theirs to see
    markdown = [c for c in student.cells if c.cell_type == "markdown"]
    notice = markdown.pop(1)  # under the title, it says what this version is
    assert notice.get("id") == "exercise-version" and "exercise version" in notice.source
    assert [c.source for c in markdown] == \
        [c.source for c in full.cells if c.cell_type == "markdown"]  # the text is intact

    env_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        printed = execute(student, chapter.parent)  # raises if any cell fails
    finally:
        if env_threads is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = env_threads
    reports = re.findall(r"^\[(PASSED|NOT YET)\] (.+?): (.*)$", printed, re.M)  # once each
    checked = len(coursework.exercises_of(full))
    assert len(reports) == checked >= 3
    assert all(status == "NOT YET" and "not implemented yet" in message
               for status, _, message in reports), reports


def test_the_committed_exercise_versions_are_up_to_date(tmp_path):
    """exercises/ holds what `make exercises` writes from notebooks/ today: the version a
    self-learner opens from each chapter's page has the same text and exercises as the chapter."""
    written = coursework.make_student_versions(ROOT / "notebooks", tmp_path)
    committed = sorted((ROOT / "exercises").glob("*.ipynb"))
    assert [p.name for p in committed] == [p.name for p in written], "run make exercises"
    for fresh in written:
        stale = (ROOT / "exercises" / fresh.name).read_bytes() != fresh.read_bytes()
        assert not stale, f"exercises/{fresh.name} is behind notebooks/: run make exercises"


def test_whole_book_and_one_chapter_as_the_instructors_page_says(tmp_path):
    assert run_tool("student", "notebooks", "-o", tmp_path / "student").returncode == 0
    one = run_tool("student", CHAPTERS[1], "-o", tmp_path / "student-02")
    assert one.returncode == 0, one.stderr


def test_whole_book_in_one_command(tmp_path):
    result = run_tool("student", "notebooks", "-o", tmp_path / "student")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "student").iterdir()) == [p.name for p in CHAPTERS]


def notebook_with(*sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return notebook


@pytest.mark.parametrize("source, message", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "BEGIN SOLUTION without ### END SOLUTION"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "END SOLUTION without ### BEGIN SOLUTION"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n",
     "inside another solution"),
])
def test_unbalanced_markers_are_refused_and_nothing_is_written(tmp_path, source, message):
    path = tmp_path / "01_bad.ipynb"
    nbformat.write(notebook_with("x = 1", source), path)
    result = run_tool("student", path, "-o", tmp_path / "out")
    assert result.returncode == 2
    assert message in result.stderr and "cell 1" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", ["just some text", json.dumps({"cells": "not a list"})])
def test_a_file_that_is_not_a_notebook_is_refused(tmp_path, content):
    path = tmp_path / "01_fake.ipynb"
    path.write_text(content)
    result = run_tool("student", path, "-o", tmp_path / "out")
    assert result.returncode == 2 and "is not a Jupyter notebook" in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_existing_output_is_never_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / CHAPTERS[1].name).write_text("the student's work")
    result = run_tool("student", "notebooks", "-o", out)
    assert result.returncode == 2 and "already exists" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [CHAPTERS[1].name]  # nothing else written
    assert (out / CHAPTERS[1].name).read_text() == "the student's work"


def test_missing_input_is_refused(tmp_path):
    result = run_tool("student", tmp_path / "nope.ipynb", "-o", tmp_path / "out")
    assert result.returncode == 2 and "no such file" in result.stderr


INSTRUCTORS = (ROOT / "book" / "instructors.md").read_text()


def test_the_instructors_pages_student_commands_work_as_pasted(tmp_path):
    """The page's block, run as one paste in a folder laid out like the repository."""
    block = next(b for b in re.findall(r"```bash\n(.*?)```", INSTRUCTORS, re.S)
                 if "coursework student" in b)
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    python = tmp_path / ".venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    result = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("student*/*"))
    assert len(written) == len(CHAPTERS) + 1 and f"student-02/{CHAPTERS[1].name}" in written


def test_the_instructors_page_names_what_the_bulk_check_flags_as_a_shortcut():
    from transformer_lib.coursework.shortcuts import SHORTCUTS

    assert all(f"{names[0]}`" in INSTRUCTORS or f"{names[0]}(" in INSTRUCTORS
               for names in SHORTCUTS.values()), "a shortcut missing from the page's table"


def test_the_wheel_for_students_holds_the_library_and_no_notebook(tmp_path):
    """Built as `make wheel` does, from a copy (a build leaves a build/ folder behind)."""
    import shutil

    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".*", "_build", "build", "dist", "*.egg-info", "__pycache__", "benchmarks", "book"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                             "--no-build-isolation", "--wheel-dir", tmp_path, source],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("transformer_lib-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "transformer_lib/checks/ch02.py" in names
    assert "transformer_lib/coursework/grading.py" in names
    assert not [n for n in names if n.endswith(".ipynb") or n.startswith(("notebooks/", "tests/"))]
