"""Two executions of every notebook print the same text (on CPU, seeded).

`make test` runs this file after its main pytest run, which executed every notebook twice: under
nbval (the root conftest.py records what each cell printed) and in the website build of
tests/test_site.py (which keeps the executed notebooks). Figures, widgets and stderr are not
compared; every printed number is, except in a cell tagged ``nbval-ignore-output`` (nbval's own
tag for output that differs from run to run): a cell that prints a measured time. The file name
does not start with ``test_`` so that the main run does not collect it before both executions
exist.
"""

import ast
import difflib
import json
import sys
from pathlib import Path

import nbformat
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from conftest import RECORDS, printed_text  # noqa: E402

SITE = ROOT / "_build" / "test-runs" / "site"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TIMED = "nbval-ignore-output"  # a cell that prints a measured time: not compared

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available()
    or (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()),
    reason="identical printed numbers are promised on CPU; on a GPU the stated tolerances apply",
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_two_executions_print_the_same(path):
    nbval_file, site_file = RECORDS / f"{path.name}.json", SITE / path.name
    assert nbval_file.exists() and site_file.exists(), (
        "run `make test`: it executes both runs first")
    first = json.loads(nbval_file.read_text())
    site = nbformat.read(site_file, as_version=4)
    second = {cell.get("id"): printed_text(cell.get("outputs", [])) for cell in site.cells
              if cell.cell_type == "code"}
    assert set(first) <= set(second), (
        f"cells missing from the site build: {set(first) - set(second)}")
    timed = {cell.get("id") for cell in nbformat.read(path, as_version=4).cells
             if TIMED in cell.metadata.get("tags", [])}
    for cell_id, text in first.items():
        if cell_id not in timed and text != second[cell_id]:
            diff = "\n".join(difflib.unified_diff(text.splitlines(), second[cell_id].splitlines(),
                                                  "nbval run", "site build", lineterm=""))
            pytest.fail(f"{path.name}, cell {cell_id} printed different text:\n{diff}")


def timers(sources):
    """What reads a clock in a notebook: ``perf_counter``; every class or function whose body
    calls it; and every name, attribute or dictionary key bound to an instance of one of those
    (``clock = TimedStep()``, ``dict(clock=TimedStep())``, ``{"clock": TimedStep()}``)."""
    trees = [ast.parse(source) for source in sources]
    found = {"perf_counter"}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and any(
                    isinstance(inner, ast.Attribute | ast.Name) and "perf_counter" in (
                        getattr(inner, "attr", None), getattr(inner, "id", None))
                    for inner in ast.walk(node)):
                found.add(node.name)

    def builds_a_timer(value):
        return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                and value.func.id in found)

    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg and builds_a_timer(node.value):
                found.add(node.arg)
            elif isinstance(node, ast.Dict):
                found |= {key.value for key, value in zip(node.keys, node.values)
                          if isinstance(key, ast.Constant) and builds_a_timer(value)}
            elif isinstance(node, ast.Assign) and builds_a_timer(node.value):
                found |= {getattr(target, "id", getattr(target, "attr", None))
                          for target in node.targets}
    return found - {None}


def python_only(source):
    """A cell's source without IPython's magic and shell lines, which `ast` cannot parse."""
    return "\n".join(line for line in source.splitlines()
                     if not line.lstrip().startswith(("%", "!")))


def reads_a_clock(source, notebook_sources):
    """True if the cell's code (not its comments) uses one of the notebook's timers."""
    names = timers(notebook_sources)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            used = node.id
        elif isinstance(node, ast.Attribute):
            used = node.attr
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            used = node.slice.value
        else:
            continue
        if used in names:
            return True
    return False


def test_the_timed_cell_rule_is_not_fooled_by_a_comment():
    define = ("import time\nclass Stopwatch:\n    def __call__(self):\n"
              "        self.start = time.perf_counter()\nruns = {'a': dict(watch=Stopwatch())}\n")
    reads = "for run in runs.values():\n    print(run['watch'].start)\n"
    mentions = "print(len(runs))  # the watch and the perf_counter are not read here\n"
    assert reads_a_clock(reads, [define, reads])
    assert reads_a_clock("print(time.perf_counter())\n", [define])
    assert not reads_a_clock(mentions, [define, mentions])
    assert not reads_a_clock("print(runs['a'])\n", [define])


def test_only_cells_that_measure_time_are_left_out():
    """The tag that exempts a cell is kept for cells that read a clock (see `reads_a_clock`)."""
    for path in NOTEBOOKS:
        cells = [cell for cell in nbformat.read(path, as_version=4).cells
                 if cell.cell_type == "code"]
        sources = [python_only(cell.source) for cell in cells]
        for cell, source in zip(cells, sources):
            if TIMED in cell.metadata.get("tags", []):
                assert reads_a_clock(source, sources), (
                    f"{path.name}, cell {cell.get('id')} is tagged {TIMED} but reads no clock")
