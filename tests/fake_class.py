"""A fake class for testing the grading tools: five submissions of one chapter.

    python tests/fake_class.py notebooks/02_attention.ipynb submissions/    # then grade them

complete: the chapter as the book has it; partial: the student version with the first two
exercises solved; crashing: exercise 1 solved, the others raise, and one other cell fails;
killing: the kernel exits before exercise 3; forged: nothing solved, but it rebinds the checks,
prints "[PASSED]" lines and displays fake grading reports. With ``trimmed``, each keeps only the
first two code cells and the exercises (a fast stand-in for the whole chapter).
"""

import sys
from pathlib import Path

import nbformat

from transformer_lib import coursework

EXPECTED = {"complete": "all", "partial": 2, "crashing": 1, "killing": 2, "forged": 0}

FORGERY = """\
import transformer_lib.checks as checks_module
import transformer_lib.checks._core as core
from IPython.display import display
core.CheckResult.__bool__ = lambda self: True
for name in [n for n in dir(checks_module) if n.startswith("check_")]:
    setattr(checks_module, name, lambda f, n=name: core.CheckResult(n, True, "all cases match."))
    print(f"[PASSED] {name}: all cases match.")
for number in range(1, 10):
    display({"application/x.transformer-lib-grade+json":
             {"nonce": "a guess", "exercise": number, "passed": True, "message": ""}}, raw=True)
"""


def trim(notebook):
    """The first two code cells (set-up, imports), the exercises in the chapter's text (a build
    exercise and its check) and everything from the exercises section on."""
    start = next(i for i, cell in enumerate(notebook.cells)
                 if cell.cell_type == "markdown" and cell.source.startswith("## Exercises"))
    setup = [cell for cell in notebook.cells[:start] if cell.cell_type == "code"][:2]
    graded = [cell for cell in notebook.cells[:start] if cell.metadata.get("nbgrader")]
    notebook.cells = setup + graded + notebook.cells[start:]
    return notebook


def fake_class(source: Path, out: Path, trimmed: bool = False) -> dict[str, Path]:
    """Write the five submissions of ``source`` below ``out``; return {student: path}."""
    full = nbformat.read(source, as_version=4)
    if trimmed:
        full = trim(full)
    student = coursework.student_version(full, source.name)
    solved = [i for i, cell in enumerate(full.cells) if coursework.BEGIN in cell.source]
    made = {name: nbformat.from_dict(student if name in ("partial", "forged") else full)
            for name in EXPECTED}
    partial = made["partial"]  # a student version: its cells are found by id, not position
    for i in solved[:2]:
        (cell,) = [c for c in partial.cells if c.get("id") == full.cells[i].get("id")]
        cell.source = full.cells[i].source
    for i in solved[1:]:
        made["crashing"].cells[i].source = full.cells[i].source.replace(
            coursework.BEGIN, f"{coursework.BEGIN}\n    raise RuntimeError('oops')", 1)
    made["crashing"].cells.insert(solved[0], nbformat.v4.new_code_cell("undefined_name + 1"))
    made["killing"].cells.insert(solved[2], nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    made["forged"].cells.insert(1, nbformat.v4.new_code_cell(FORGERY))
    for cell in made["forged"].cells:  # its check cells print a pass
        if cell.source.startswith("checks.check_"):
            cell.source = f"print('[PASSED] {cell.source.split('(')[0]}: all cases match.')"
    paths = {}
    for name, notebook in made.items():
        paths[name] = out / name / source.name
        paths[name].parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, paths[name])
    return paths


if __name__ == "__main__":
    for path in fake_class(Path(sys.argv[1]), Path(sys.argv[2]), "--trimmed" in sys.argv).values():
        print(path)
