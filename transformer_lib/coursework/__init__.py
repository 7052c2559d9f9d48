"""Coursework: student versions of the chapters, and bulk grading of submitted notebooks.

    python -m transformer_lib.coursework student notebooks/ -o student/     # every chapter
    python -m transformer_lib.coursework check submissions/ --details       # tables and reasons
"""

from transformer_lib.coursework.grading import (Exercise, Outcome, Submission, exercises_of,
                                                grade_folder)
from transformer_lib.coursework.student import (BEGIN, END, STUB, CourseworkError,
                                                make_student_versions, read_notebook,
                                                student_version)

__all__ = ["BEGIN", "END", "STUB", "CourseworkError", "Exercise", "Outcome", "Submission",
           "exercises_of", "grade_folder", "make_student_versions", "read_notebook",
           "student_version"]
