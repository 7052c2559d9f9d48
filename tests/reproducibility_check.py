"""Two executions of every notebook print the same text (on CPU, seeded).

`make test` runs this file after its main pytest run, which executed every notebook twice: under
nbval (the root conftest.py records what each cell printed) and in the website build of
tests/test_site.py (which keeps the executed notebooks). Figures, widgets and stderr are not
compared; every printed number is, except in a cell tagged ``nbval-ignore-output`` (nbval's own
tag for output that differs from run to run): a cell that prints a measured time. The file name
does not start with ``test_`` so that the main run does not collect it before both executions
exist.
"""

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


def test_only_cells_that_measure_time_are_left_out():
    """The tag that exempts a cell is kept for cells that read a clock: ``time.perf_counter``,
    or a ``clock`` object that adds up its readings (chapter 18's ``TimedStep``)."""
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if TIMED in cell.metadata.get("tags", []):
                assert "perf_counter" in cell.source or "clock" in cell.source, (
                    path.name, cell.get("id"))
