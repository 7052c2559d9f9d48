"""``python -m transformer_lib.coursework student|check ...``: see ``--help``."""

import argparse
import sys
from pathlib import Path

from transformer_lib.coursework import report
from transformer_lib.coursework.grading import grade_folder
from transformer_lib.coursework.student import CourseworkError, make_student_versions

BOOK_NOTEBOOKS = Path("notebooks")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transformer_lib.coursework",
                                     description="Student versions and bulk grading.")
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="write student versions")
    student.add_argument("source", type=Path, help="a chapter notebook, or a folder of them")
    student.add_argument("-o", "--outdir", type=Path, required=True, help="folder to write into")
    check = commands.add_parser("check", help="grade submitted notebooks, one table per chapter")
    check.add_argument("folder", type=Path, help="folder holding the submitted notebooks")
    check.add_argument("--source", type=Path, default=BOOK_NOTEBOOKS,
                       help="folder of the chapter notebooks with solutions (default: notebooks)")
    check.add_argument("--time-limit", type=float, default=900,
                       help="seconds one submission may run (default 900)")
    check.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded at once")
    check.add_argument("--details", action="store_true", help="the reason for every 'no'")
    check.add_argument("--csv", type=Path, help="also write the gradebook as CSV to this file")
    args = parser.parse_args(argv)
    try:
        if args.command == "student":
            for path in make_student_versions(args.source, args.outdir):
                print(f"wrote {path}")
            return 0
        if args.jobs < 1 or args.time_limit <= 0:
            raise CourseworkError("--jobs must be at least 1 and --time-limit positive")
        graded, skipped = grade_folder(args.folder, args.source, args.time_limit, args.jobs)
    except CourseworkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sources = report.chapter_exercises(args.source, graded)
    print(report.tables(graded, sources), end="")
    if args.details:
        print("\n" + report.details(graded, sources), end="")
    for path, why in skipped:
        print(f"\nnot graded: {path}: {why}")
    if args.csv:
        args.csv.write_text(report.gradebook_csv(graded, sources))
        print(f"\nwrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
