"""Grading: the bulk check gives the right points to a fake class, and so does nbgrader.

Both execute notebooks in Jupyter kernels (marked `notebooks`: `make test-lib` leaves them out).
The nbgrader tests are skipped, saying so, where nbgrader is not installed.
"""

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fake_class import fake_class, trim
from transformer_lib import coursework
from transformer_lib.coursework import report

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "02_attention.ipynb"
pytestmark = pytest.mark.notebooks


def run_tool(*args):
    return subprocess.run([sys.executable, "-m", "transformer_lib.coursework", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


def test_the_bulk_check_grades_a_fake_class_by_its_functions_not_its_printed_lines(tmp_path):
    fake_class(CHAPTER, tmp_path / "class", trimmed=True)
    shortcut = nbformat.read(tmp_path / "class" / "complete" / CHAPTER.name, as_version=4)
    for cell in shortcut.cells:
        if cell.source.startswith("def my_causal_mask("):
            cell.source = ("import transformer_lib as tl\n"
                           "my_causal_mask = lambda T: tl.causal_mask(T)")
    (tmp_path / "class" / "shortcut").mkdir()
    nbformat.write(shortcut, tmp_path / "class" / "shortcut" / CHAPTER.name)
    (tmp_path / "class" / "notes.ipynb").write_text("not a notebook")

    result = run_tool("check", tmp_path / "class", "--details", "-j", "2",
                      "--csv", tmp_path / "grades.csv")
    assert result.returncode == 0, result.stderr
    table = result.stdout.splitlines()
    assert table[:2] == ["## 02_attention", ""]
    assert table[2] == ("| submission | 1. multi head attention | 2. attention entropy | "
                        "3. causal mask | 4. prefix mean | 5. cross attention parameters | "
                        "6. softmax saturation | points |")
    rows = {line.split("|")[1].strip().split("/")[0]: line for line in table[4:10]}
    assert rows["complete"].endswith("| yes | yes | yes | yes | yes | yes | 6/6 |")
    assert rows["partial"].endswith("| yes | yes | no | no | no | no | 2/6 |")
    assert rows["crashing"].endswith("| yes | no | no | no | no | no | 1/6 |")
    assert rows["killing"].endswith("| yes | yes | not run | not run | not run | not run | 2/6 |")
    assert rows["forged"].endswith("| no | no | no | no | no | no | 0/6 |")
    assert rows["shortcut"].endswith("| yes | yes | yes* | yes | yes | yes | 6/6 |")
    details = result.stdout
    assert "crashing/02_attention, 2. attention entropy: no: your code raised RuntimeError" \
        in details
    assert re.search(r"killing/02_attention: stopped: the kernel died in cell \d+ \('import os'\)",
                     details)
    assert "forged/02_attention, 1. multi head attention: no: not implemented yet" in details
    assert "shortcut/02_attention, 3. causal mask: calls causal_mask" in details
    assert re.search(r"not graded: .*notes\.ipynb: not a chapter", details)
    grades = list(csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text())))
    assert len(grades) == 6 * 6
    partial = [row for row in grades if row["submission"].startswith("partial")]
    assert sum(float(row["points"]) for row in partial) == 2
    assert all(row["reason"] for row in grades if row["status"] != "yes")


def test_a_submission_past_its_time_limit_keeps_the_exercises_already_checked(tmp_path):
    notebook = trim(nbformat.read(CHAPTER, as_version=4))
    first_check = next(i for i, c in enumerate(notebook.cells) if c.source.startswith("checks."))
    sleep = nbformat.v4.new_code_cell("import time\ntime.sleep(600)")
    notebook.cells.insert(first_check + 1, sleep)
    (tmp_path / "slow").mkdir()
    nbformat.write(notebook, tmp_path / "slow" / CHAPTER.name)
    (graded,), skipped = coursework.grade_folder(tmp_path, CHAPTER.parent, time_limit=20)
    assert not skipped
    assert [o.status for o in graded.outcomes] == ["yes"] + ["not run"] * 5
    assert "ran past its 20 s limit in cell" in graded.note and "import time" in graded.note
    exercises = report.chapter_exercises(CHAPTER.parent, [graded])
    assert "| slow/02_attention | yes | not run |" in report.tables([graded], exercises)


def test_bad_arguments_are_refused(tmp_path):
    result = run_tool("check", tmp_path)
    assert result.returncode == 2 and "no notebooks to check" in result.stderr
    result = run_tool("check", tmp_path, "--source", tmp_path)
    assert result.returncode == 2 and "no chapter notebooks" in result.stderr
    result = run_tool("check", tmp_path, "-j", "0")
    assert result.returncode == 2 and "--jobs" in result.stderr


def nbgrader(*args, cwd):
    """Run nbgrader from this environment (it calls alembic, so this environment's bin first)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    force = ["--force"] if args[0] != "validate" else []
    return subprocess.run([sys.executable, "-m", "nbgrader", *args, *force], cwd=cwd, env=env,
                          capture_output=True, text=True)


@pytest.fixture
def course(tmp_path):
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (requirements-dev.txt "
                        "installs it): the nbgrader tests are skipped")
    (tmp_path / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "transformers"\n')
    return tmp_path


def test_nbgrader_makes_an_assignment_of_every_chapter_with_a_point_per_check(course):
    chapters = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    (course / "source" / "book").mkdir(parents=True)
    for chapter in chapters:
        shutil.copy(chapter, course / "source" / "book")
    result = nbgrader("generate_assignment", "book", cwd=course)
    assert result.returncode == 0, result.stdout + result.stderr
    for chapter in chapters:
        release = nbformat.read(course / "release" / "book" / chapter.name, as_version=4)
        tests = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert len(tests) == len(coursework.exercises_of(nbformat.read(chapter, as_version=4)))
        assert len(tests) >= 3 and all(c.metadata.nbgrader.locked for c in tests)
        assert sum(c.metadata.nbgrader.points for c in tests) == len(tests)
        assert coursework.BEGIN not in "".join(c.source for c in release.cells)


def test_nbgrader_gives_full_points_to_solved_work_and_none_to_an_untouched_release(course):
    (course / "source" / "ch02").mkdir(parents=True)
    source = trim(nbformat.read(CHAPTER, as_version=4))
    nbformat.write(source, course / "source" / "ch02" / CHAPTER.name)
    assert nbgrader("generate_assignment", "ch02", cwd=course).returncode == 0
    release = course / "release" / "ch02" / CHAPTER.name
    solutions = {c.metadata.nbgrader.grade_id: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    solved = nbformat.read(release, as_version=4)
    for cell in solved.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = solutions[cell.metadata.nbgrader.grade_id]
    for student, notebook in [("alice", solved), ("bob", nbformat.read(release, as_version=4))]:
        (course / "submitted" / student / "ch02").mkdir(parents=True)
        nbformat.write(notebook, course / "submitted" / student / "ch02" / CHAPTER.name)

    validated = nbgrader("validate", str(release), cwd=course)
    assert "VALIDATION FAILED ON 6 CELL(S)" in validated.stdout, validated.stdout
    assert "not implemented yet" in validated.stdout  # the check's reason, not a bare assert
    result = nbgrader("autograde", "ch02", "--create", cwd=course)
    assert result.returncode == 0, result.stdout + result.stderr

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s: (gradebook.find_submission("ch02", s).score,
                      gradebook.find_submission("ch02", s).max_score) for s in ("alice", "bob")}
    assert scores == {"alice": (6.0, 6.0), "bob": (0.0, 6.0)}
