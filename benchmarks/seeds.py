"""Repeat a chapter's experiment over seeds: ``python -m benchmarks.seeds ch09 [--seeds 3]``.

A chapter's page runs its experiment once, with one seed. Whenever the page says how much a result
varies ("over 3 seeds, 2.31 ± 0.02"), that spread comes from here, and the page includes the table
this script writes, so every reader can repeat it.

Each chapter that needs it has a module ``benchmarks/seed_runs/chNN.py`` with

- ``TITLE``: one line, what is measured;
- ``run(seed: int) -> dict[str, float]``: the chapter's recipe with that seed, returning the
  numbers the page quotes (column name -> value); the same constants and library calls as the page.

and optionally ``DIGITS`` (decimals shown, default 3) and ``NOTE`` (a sentence printed under the
table). For each chapter the script writes ``benchmarks/results/seeds_chNN.md`` (the table: one row
per seed, then mean, standard deviation, min and max; with the machine, the date and the command)
and ``seeds_chNN.json`` (every number). A chapter's markdown cell includes the table with
``{include} ../benchmarks/results/seeds_chNN.md`` inside a MyST fence. Commit both files.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time
from pathlib import Path

import torch

from benchmarks.common import ROOT
from benchmarks.machine import machine_info, set_threads

RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "benchmarks" / "seed_runs"


def chapters() -> list[str]:
    """The chapters that have a seed-run module, e.g. ``["ch09", "ch10"]``."""
    return sorted(p.stem for p in RUNS.glob("ch[0-9][0-9].py"))


def summarise(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per column: mean, sd (sample standard deviation; 0 for one row), min and max."""
    columns = list(rows[0])
    out = {}
    for column in columns:
        values = [row[column] for row in rows]
        out[column] = {"mean": statistics.fmean(values),
                       "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                       "min": min(values), "max": max(values)}
    return out


def table(seeds: list[int], rows: list[dict[str, float]], digits: int = 3) -> str:
    """The markdown table: one row per seed, then the summary rows."""
    columns = list(rows[0])
    lines = ["| seed | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for seed, row in zip(seeds, rows):
        lines.append(f"| {seed} | " + " | ".join(f"{row[c]:.{digits}f}" for c in columns) + " |")
    summary = summarise(rows)
    for name in ("mean", "sd", "min", "max"):
        lines.append(f"| **{name}** | "
                     + " | ".join(f"{summary[c][name]:.{digits}f}" for c in columns) + " |")
    return "\n".join(lines)


def render(chapter: str, module, seeds: list[int], rows: list[dict[str, float]],
           info: dict) -> str:
    note = getattr(module, "NOTE", "")
    return "\n".join([
        f"**{module.TITLE}** Repeated with `python -m benchmarks.seeds {chapter} --seeds "
        f"{len(seeds)} --threads {info['threads']}` on {info['date']}: {info['cpu']}, "
        f"{info['cores']} cores, torch {info['torch']}, commit {info['commit']}; "
        f"{info['seconds']:.0f} s in all.",
        "",
        table(seeds, rows, getattr(module, "DIGITS", 3)),
        *(["", note] if note else []),
        "",
    ])


def run_chapter(chapter: str, n_seeds: int, out: Path) -> str:
    module = importlib.import_module(f"benchmarks.seed_runs.{chapter}")
    seeds = list(range(n_seeds))
    info = machine_info()  # the date and the commit (and whether it was clean) when the run began
    start = time.perf_counter()
    rows = []
    for seed in seeds:
        row = {name: float(value) for name, value in module.run(seed).items()}
        print(f"{chapter} seed {seed}: {row}", flush=True)
        rows.append(row)
    info["seconds"] = time.perf_counter() - start
    info["threads"] = torch.get_num_threads()  # results move a little with the thread count
    text = render(chapter, module, seeds, rows, info)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"seeds_{chapter}.md").write_text(text)
    (out / f"seeds_{chapter}.json").write_text(json.dumps(
        {"machine": info, "seeds": seeds, "rows": rows, "summary": summarise(rows),
         "markdown": text}, indent=1) + "\n")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help=f"default: all of {chapters()}")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0, 1, ..., N-1 (default 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: one per core)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    unknown = set(args.chapters) - set(chapters())
    if unknown:
        parser.error(f"no module benchmarks/seed_runs/<chapter>.py for {sorted(unknown)}; "
                     f"expected some of {chapters()}")
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    set_threads(args.threads)
    for chapter in args.chapters or chapters():
        print(run_chapter(chapter, args.seeds, args.out))


if __name__ == "__main__":
    main()
