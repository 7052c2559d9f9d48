"""Table 1: wall time and peak memory of executing every chapter notebook.

Each execution runs in a fresh child process (``python -m benchmarks.notebooks RUN path``) that
executes the notebook with nbclient (the engine of ``jupyter nbconvert --execute`` and of the
book build), in the notebook's folder, and then reports:

- wall time: from starting the kernel to its shutdown, every cell included;
- peak memory: the kernel's peak resident set size. The child reads it from
  ``getrusage(RUSAGE_CHILDREN)`` once the kernel has exited and been waited for: that is the
  largest peak RSS of any process it waited for (the kernel, or a process the kernel itself
  started and waited for), measured by the operating system, not sampled.

Runs go round-robin (run 1 of every notebook, then run 2, ...), so a burst of background load
does not land on all the runs of one notebook; each notebook's median is reported.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import MiB, ROOT, python_with_repo_on_path
from benchmarks.report import markdown_table

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
# The book's budget on a 2-core CPU: each notebook in 90 s or less, all of them in 12 minutes or
# less, each under 1.5 GiB of memory (Binder gives about 2 GB).
BUDGET_NOTEBOOK_S = 90
BUDGET_SUITE_S = 12 * 60
BUDGET_MEMORY = 1.5 * 2**30
CELL_TIMEOUT_S = 1800  # per cell: generous, so that a busy machine still measures


def chapter_notebooks() -> list[Path]:
    """Every chapter notebook there is now (chapters appear as they are written)."""
    return sorted((ROOT / "notebooks").glob(NOTEBOOK_GLOB))


def smoke_notebook(folder: Path) -> Path:
    """A two-cell notebook that imports the library and trains nothing: for ``--quick``."""
    import nbformat

    cells = [
        nbformat.v4.new_code_cell("import torch\nimport transformer_lib as tl"),
        nbformat.v4.new_code_cell(
            "x = torch.randn(2, 5, 16)\nprint(tl.MultiHeadAttention(16, 4)(x).shape)"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = folder / "00_smoke.ipynb"
    nbformat.write(nb, path)
    return path


def _execute_here(path: Path) -> dict:
    """Execute one notebook in this process (its kernel is our child) and measure it."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, startup_timeout=300, kernel_name=kernel,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except Exception as exc:  # noqa: BLE001 - reported in the table, not raised
        if getattr(exc, "ename", None):  # CellExecutionError: the notebook's own exception
            error = (f"{exc.ename}: {exc.evalue}" if exc.evalue else exc.ename)[:200]
        else:  # e.g. CellTimeoutError: its first line says what happened
            lines = str(exc).strip().splitlines()
            error = f"{type(exc).__name__}: {lines[0] if lines else ''}"[:200]
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak *= 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux kibibytes
    return {"wall_s": wall, "peak_bytes": peak, "error": error}


def execute(path: Path, threads: int | None = None) -> dict:
    """Execute ``path`` in a fresh child process; returns wall_s, peak_bytes and error.

    ``threads``: torch threads in the kernel (OMP_NUM_THREADS); None: torch's default, one per core.
    """
    env = python_with_repo_on_path()
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.notebooks", "RUN", str(path)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"wall_s": float("nan"), "peak_bytes": 0,
            "error": f"runner failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"}


def measure(paths: list[Path], runs: int, threads: int | None = None,
            log=print) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {p.name: [] for p in paths}
    for run in range(runs):
        for path in paths:
            result = execute(path, threads)
            results[path.name].append(result)
            log(f"  notebook {path.name} run {run + 1}/{runs}: {result['wall_s']:.1f} s, "
                f"{result['peak_bytes'] / MiB:.0f} MiB" + (f"  ERROR {result['error']}"
                                                          if result["error"] else ""))
    return results


def summarize(results: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for name, runs in results.items():
        ok = [r for r in runs if not r["error"]]
        use = ok or runs
        rows.append({
            "notebook": name,
            "runs": len(runs),
            "failed_runs": len(runs) - len(ok),
            "error": next((r["error"] for r in runs if r["error"]), None),
            "wall_s": statistics.median(r["wall_s"] for r in use),
            "wall_min_s": min(r["wall_s"] for r in use),
            "wall_max_s": max(r["wall_s"] for r in use),
            "peak_bytes": statistics.median(r["peak_bytes"] for r in use),
        })
    return rows


def table(rows: list[dict]) -> str:
    body = []
    for row in rows:
        verdict = []
        if row["failed_runs"]:
            verdict.append(f"FAILED in {row['failed_runs']} of {row['runs']} runs: "
                           + row["error"].rstrip(": "))
        if row["wall_s"] > BUDGET_NOTEBOOK_S:
            verdict.append(f"over the {BUDGET_NOTEBOOK_S} s budget")
        if row["peak_bytes"] > BUDGET_MEMORY:
            verdict.append("over the 1.5 GiB memory budget")
        body.append([f"`{row['notebook']}`", f"{row['wall_s']:.1f}",
                     f"{row['wall_min_s']:.1f}-{row['wall_max_s']:.1f}",
                     f"{row['peak_bytes'] / MiB:.0f}", "; ".join(verdict) or "yes"])
    total = sum(r["wall_s"] for r in rows)
    worst = max((r["peak_bytes"] for r in rows), default=0)
    body.append([
        f"**all {len(rows)}, one after another**", f"**{total:.0f}** ({total / 60:.1f} min)", "",
        f"**{worst / MiB:.0f}** (largest)",
        ("yes" if total <= BUDGET_SUITE_S else
         f"NO: {total / 60:.1f} min is over the {BUDGET_SUITE_S // 60}-minute target")
        + ("" if worst < BUDGET_MEMORY else "; a notebook is over 1.5 GiB"),
    ])
    return markdown_table(
        ["notebook", "wall time (s, median)", "range (s)", "peak memory (MiB, median)",
         f"within budget ({BUDGET_NOTEBOOK_S} s, 1.5 GiB)?"], body)


def run(quick: bool, runs: int, threads: int | None = None, log=print) -> dict:
    if quick:
        folder = Path(tempfile.mkdtemp(prefix="bench-nb-"))
        paths, runs = [smoke_notebook(folder)], 1
    else:
        paths = chapter_notebooks()
    log(f"Notebooks: {len(paths)} notebook(s), {runs} run(s) each")
    rows = summarize(measure(paths, runs, threads, log))
    return {"rows": rows, "runs": runs, "quick": quick, "markdown": table(rows)}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "RUN":
        print(json.dumps(_execute_here(Path(sys.argv[2]).resolve())))
    else:
        sys.exit("usage: python -m benchmarks.notebooks RUN path/to/notebook.ipynb")
