"""The bulk check's results for people and for gradebooks: a table per chapter, the reasons, CSV."""

from __future__ import annotations

import csv
import io
from itertools import groupby

from transformer_lib.coursework.grading import Exercise, Submission, exercises_of
from transformer_lib.coursework.student import read_notebook


def _by_chapter(submissions: list[Submission]):
    ordered = sorted(submissions, key=lambda s: (s.chapter, s.name))
    return groupby(ordered, key=lambda s: s.chapter)


def tables(submissions: list[Submission], sources: dict[str, list[Exercise]]) -> str:
    """One markdown table per chapter: a row per submission, a column per exercise in the
    chapter's order, then the points; a shortcut (the library's own function) is marked "*"."""
    out = []
    for chapter, group in _by_chapter(submissions):
        exercises = sources[chapter]
        total = sum(exercise.points for exercise in exercises)
        out += [f"## {chapter}", "",
                "| submission | " + " | ".join(e.title for e in exercises) + " | points |",
                "|---" * (len(exercises) + 2) + "|"]
        for submission in group:
            marks = [o.status + ("*" if o.shortcut else "") for o in submission.outcomes]
            points = sum(e.points for e, o in zip(exercises, submission.outcomes)
                         if o.status == "yes")
            out.append(f"| {submission.name} | " + " | ".join(marks) + f" | {points:g}/{total:g} |")
        out.append("")
    if any(o.shortcut for s in submissions for o in s.outcomes):
        out.append("\\* passed by calling what the library or PyTorch already provides "
                   "(see --details)")
    return "\n".join(out).rstrip() + "\n"


def details(submissions: list[Submission], sources: dict[str, list[Exercise]]) -> str:
    """Every "no" and "not run" with its reason, every shortcut, every stopped run."""
    lines = []
    for chapter, group in _by_chapter(submissions):
        for submission in group:
            if submission.note:
                lines.append(f"{submission.name}: {submission.note}")
            for exercise, outcome in zip(sources[chapter], submission.outcomes):
                if outcome.status != "yes":
                    lines.append(f"{submission.name}, {exercise.title}: {outcome.status}: "
                                 f"{outcome.reason}")
                if outcome.shortcut:
                    lines.append(f"{submission.name}, {exercise.title}: calls {outcome.shortcut}")
    return "\n".join(lines) + ("\n" if lines else "")


def gradebook_csv(submissions: list[Submission], sources: dict[str, list[Exercise]]) -> str:
    """One row per submission and exercise: the points given, the maximum, status and reason."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "chapter", "exercise", "grade_id", "points", "max_points",
                     "status", "reason", "shortcut"])
    for chapter, group in _by_chapter(submissions):
        for submission in group:
            for exercise, outcome in zip(sources[chapter], submission.outcomes):
                points = exercise.points if outcome.status == "yes" else 0
                writer.writerow([submission.name, chapter, exercise.title, exercise.grade_id,
                                 f"{points:g}", f"{exercise.points:g}", outcome.status,
                                 outcome.reason, outcome.shortcut])
    return buffer.getvalue()


def chapter_exercises(source_folder, submissions: list[Submission]) -> dict[str, list[Exercise]]:
    return {chapter: exercises_of(read_notebook(source_folder / f"{chapter}.ipynb"))
            for chapter in {s.chapter for s in submissions}}
