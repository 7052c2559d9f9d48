"""Record what every notebook cell printed under nbval, so a second execution can be compared;
and keep the learner's saved parts out of the tests.

`make test` executes every notebook twice: once here under nbval, once in the website build of
tests/test_site.py. After both, tests/reproducibility_check.py compares the printed text cell by
cell: on CPU, two seeded runs must print identical numbers.
"""

import json
import os
from pathlib import Path

import pytest

# The chapters' build exercises save the learner's classes into my_transformer.py for later
# chapters (transformer_lib.parts). Under test every chapter runs on the library's parts instead,
# the same on every run and in any order: nothing is saved, nothing is loaded.
os.environ.setdefault("TRANSFORMER_LIB_PARTS", "none")

RECORDS = Path(__file__).parent / "_build" / "test-runs" / "nbval"
_printed: dict[str, dict[str, str]] = {}


def printed_text(outputs) -> str:
    """The text a cell printed (stdout and results), without figures, widgets or stderr."""
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            parts.append(out["text"])
        elif out.get("output_type") == "execute_result":
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


# nbval waits at most 5 s (hard-coded) for a cell's output messages after the kernel has replied;
# on a busy machine they can take longer, and a cell that ran fine fails with "Timeout of 5
# seconds exceeded waiting for output". The wait for the cell itself stays --nbval-cell-timeout.
OUTPUT_TIMEOUT_S = 60


def pytest_collection_modifyitems(items):
    """nbval's notebook cells get the `notebooks` marker, as every other test that executes one,
    and a longer wait for their output messages."""
    for item in items:
        if hasattr(item, "cell"):  # an nbval cell (collected with --nbval-lax)
            item.add_marker(pytest.mark.notebooks)
            item.output_timeout = max(getattr(item, "output_timeout", 0), OUTPUT_TIMEOUT_S)


def pytest_runtest_makereport(item, call):
    outputs = getattr(item, "test_outputs", None)
    if call.when == "call" and outputs is not None and hasattr(item, "cell"):
        notebook = Path(str(item.fspath)).name
        cell_id = item.cell.get("id", str(item.cell_num))
        _printed.setdefault(notebook, {})[cell_id] = printed_text(outputs)


def pytest_sessionfinish(session):
    if _printed:
        RECORDS.mkdir(parents=True, exist_ok=True)
        for notebook, cells in _printed.items():
            (RECORDS / f"{notebook}.json").write_text(json.dumps(cells, indent=1))
