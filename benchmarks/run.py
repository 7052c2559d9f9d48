"""Run the benchmarks and write the tables: ``python -m benchmarks.run [--quick]``.

Writes, into ``--out`` (default ``benchmarks/results``; ``_build/bench-quick`` with ``--quick``):

- ``costs_tables.md``: the four tables in markdown, with the machine, the date and the versions
  (the book's appendix page "What it costs to run" includes this file);
- ``attention_scaling.svg``: the figure of table 4;
- ``results.json``: every number, for other tools.

and prints the markdown. ``--quick`` is the smoke run of the test suite: one tiny notebook, few
rounds, short lengths; its numbers mean nothing, only that every table is produced.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from benchmarks import modules, notebooks, scaling, throughput
from benchmarks.common import ROOT
from benchmarks.machine import cpu_seconds, load_average, machine_info, others_share, set_threads

SECTIONS = ("notebooks", "modules", "throughput", "scaling")
BUSY_SHARE = 0.05  # other processes using more of the CPU than this during a run mark it as busy
HEADINGS = {
    "notebooks": "Every chapter notebook",
    "modules": "transformer_lib against PyTorch's own modules",
    "throughput": "Training throughput of the chapter 9 model",
    "scaling": "Attention's cost against the sequence length",
}


def _machine_lines(info: dict, quick: bool) -> list[str]:
    lines = [
        f"Measured on {info['date']} by `make bench{' QUICK=1' if quick else ''}`: "
        f"{info['cpu']}, {info['cores']} cores (torch threads {info['torch_threads']}), "
        f"{info['memory']} of memory, {info['os']}; Python {info['python']}, "
        f"torch {info['torch']}, "
        f"NumPy {info['numpy']}, jupyter-book {info['jupyter_book']}, transformer_lib "
        f"{info['transformer_lib']}, commit {info['commit']}.",
    ]
    start, end, cores = info.get("load_average_start"), info.get("load_average_end"), info["cores"]
    others = info.get("others_cpu_share")
    busy_warning = (". **The machine was busy with other work during this run: absolute times "
                    "are inflated and noisy; the ratios, measured in alternating rounds, suffer "
                    "less.**")
    if others is not None:  # CPU time of other processes, measured over the run
        lines.append(
            f"Other processes used {others:.1%} of the machine's CPU time during the run "
            f"(load average, 1 min, which counts the benchmark's own threads too: {start:.1f} "
            f"before, {end:.1f} after, on {cores} cores)"
            + (busy_warning if others > BUSY_SHARE else ": the machine was otherwise idle."))
    elif start is not None:  # results written before that measure existed
        lines.append(f"Load average (1 min): {start:.1f} before the run, {end:.1f} after it, "
                     f"on {cores} cores"
                     + (busy_warning if max(start, end or 0) > 0.5 * cores else
                        ": the machine was otherwise idle."))
    if info.get("note"):  # written by hand into results.json, then `--render`
        lines.append(info["note"])
    if quick:
        lines.append("**Quick mode (smoke run): these numbers are not measurements.**")
    return lines


def render(results: dict, info: dict, quick: bool) -> str:
    """The markdown page, rebuilt from the numbers (``--render`` picks up a change of wording)."""
    out = ["<!-- Written by `make bench` (python -m benchmarks.run); do not edit by hand. -->", ""]
    out += _machine_lines(info, quick) + [""]
    if "notebooks" in results:
        r = results["notebooks"]
        out += [f"## {HEADINGS['notebooks']}", "",
                "Each notebook executed from a fresh kernel, one at a time, "
                + ("once" if r["runs"] == 1 else f"{r['runs']} times (round-robin; medians)")
                + ", with nbclient (the engine of `jupyter nbconvert --execute` and of "
                "the book build), every core available to torch. Wall time runs from starting the "
                "kernel to its shutdown; peak memory is the kernel process's peak resident memory "
                "(`getrusage`, reported by the operating system). Budgets: each notebook within "
                f"{notebooks.BUDGET_NOTEBOOK_S} s and 1.5 GiB, all of them within "
                f"{notebooks.BUDGET_SUITE_S // 60} minutes (a 2-core laptop or Binder, about "
                "2 GB).",
                "", notebooks.table(r["rows"]), ""]
    if "modules" in results:
        r = results["modules"]
        out += [f"## {HEADINGS['modules']}", "",
                "Same weights (copied with `transformer_lib.reference`) and same inputs; each pair "
                "is first checked to give the same output. *forward*: inference, `eval()` under "
                "`torch.no_grad()`, where PyTorch's modules switch to their fused C++ fast path; "
                "*forward+backward*: training mode, dropout 0; *training step*: forward, "
                "backward and an AdamW step. Times are medians; the ratio is the median of "
                f"{r['rounds']} per-round ratios, ours and PyTorch's alternating in each round. "
                f"Target: ours within {modules.TARGET}x of PyTorch's time.",
                "", modules.table(r["rows"]), ""]
        missed = modules.misses(r["rows"])
        if missed:
            out += ["Where the extra time of the rows that miss the target goes, from a profile "
                    "of both sides:", "", missed, ""]
        if r["profiles"]:
            out += ["### Profiles of the rows that miss the target", "",
                    "Self CPU time per call of each ATen op (torch.profiler), ours and PyTorch's; "
                    "the ops with the most time on either side.", ""]
            for p in r["profiles"]:
                out += [f"**{p['title']}**", "", p["markdown"], ""]
    if "throughput" in results:
        r = results["throughput"]
        out += [f"## {HEADINGS['throughput']}", "",
                f"The {r['config']}. Trained with `transformer_lib.training.fit` and `lm_loss` "
                "(AdamW, gradient clipping), alternating with the same architecture built from "
                "PyTorch's modules; the machine's matrix-multiply peak is measured in the same "
                "run. FLOPs per step: 6 x tokens x (weights of the matrix products) + "
                "12 x layers x B x T^2 x D for attention (Kaplan et al., 2020).", "",
                throughput.table(r["rows"], r["peak"]), ""]
    if "scaling" in results:
        r = results["scaling"]
        out += [f"## {HEADINGS['scaling']}", "",
                f"Attention alone ({r['shape']}), computed two ways: {scaling.WAYS['explicit']}, "
                f"and {scaling.WAYS['fused']}. Time: per call, the fastest of several rounds. "
                "Memory: "
                + ("the peak of the bytes held by live tensors during one call, output and "
                   "temporaries, from the CPU allocator's records (torch.profiler)"
                   if r["memory_method"] == ["allocator"] else
                   "the peak resident memory one call adds, measured in a fresh process")
                + ". The fit is a + bT + cT^2 (least squares, relative errors); the growth "
                "exponent between the two longest lengths is 2 for a quadratic cost.", "",
                scaling.table(r), "",
                f"![Time and peak memory of attention against the sequence length, measured and "
                f"fitted]({r['figure']})", ""]
    return "\n".join(out).rstrip() + "\n"


def add_notebook_rows(saved: dict, rows: list[dict], info: dict, runs: int) -> dict:
    """``saved`` (a results.json) with ``rows`` measured later put in place of, or beside, its
    notebook rows, and a line for the page that says when, at which commit and how busy."""
    names = [row["notebook"] for row in rows]
    kept = [row for row in saved["notebooks"]["rows"] if row["notebook"] not in names]
    saved["notebooks"]["rows"] = sorted(kept + rows, key=lambda row: row["notebook"])
    others = info.get("others_cpu_share")
    busy = "" if others is None else f"; other processes used {others:.1%} of the CPU time"
    line = (f"The rows of {', '.join(f'`{name}`' for name in names)} were measured later, with "
            f"`python -m benchmarks.run --add-notebooks`, on {info['date']} at commit "
            f"{info['commit']} ({info['cpu']}, {info['cores']} cores, torch {info['torch']}), "
            f"{runs} runs each{busy}.")
    earlier = [still_true(part, names) for part in
               re.split(r"\s*(?=The rows of )", saved["machine"].get("note") or "")]
    saved["machine"]["note"] = " ".join(filter(None, [*earlier, line]))
    return saved


def still_true(sentence: str, remeasured: list[str]) -> str:
    """An earlier "The rows of ... were measured later" sentence without the notebooks measured
    again (empty if none is left); any other text as it is."""
    if not sentence.startswith("The rows of "):
        return sentence.strip()
    head, _, rest = sentence.partition(" were measured later")
    left = [name for name in re.findall(r"`([^`]+)`", head) if name not in remeasured]
    return (f"The rows of {', '.join(f'`{name}`' for name in left)} were measured later{rest}"
            .strip() if left else "")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) or hasattr(obj, "item"):
        return float(obj)
    return obj


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: every table, no real numbers")
    parser.add_argument("--out", type=Path, help="output folder (default: benchmarks/results, "
                                                 "or _build/bench-quick with --quick)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="run only these sections")
    parser.add_argument("--runs", type=int, default=3,
                        help="executions of each notebook (default 3)")
    parser.add_argument("--threads", type=int, help="torch threads (default: one per core)")
    parser.add_argument("--add-notebooks", nargs="+", metavar="NN",
                        help="measure only these chapters' notebooks (e.g. 16 17) and put their "
                             "rows into the folder's results.json; the page says when")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: redraw the figure and rewrite costs_tables.md "
                             "from the folder's results.json")
    args = parser.parse_args(argv)
    out = args.out or (ROOT / ("_build/bench-quick" if args.quick else "benchmarks/results"))
    out.mkdir(parents=True, exist_ok=True)
    if args.render:
        saved = json.loads((out / "results.json").read_text())
        if "scaling" in saved:  # the figure too, from the saved numbers
            r = saved["scaling"]
            scaling.plot_attention_scaling(r["lengths"], r["series"], r["fits"],
                                           path=out / r["figure"])
        text = render({k: saved[k] for k in SECTIONS if k in saved}, saved["machine"],
                      saved["quick"])
        (out / "costs_tables.md").write_text(text)
        print(text)
        return 0

    started, cpu_at_start = time.perf_counter(), cpu_seconds()
    if args.add_notebooks:
        paths = [p for p in notebooks.chapter_notebooks() if p.name[:2] in args.add_notebooks]
        if len(paths) != len(set(args.add_notebooks)):
            parser.error(f"--add-notebooks {' '.join(args.add_notebooks)}: expected chapter "
                         "numbers of notebooks in notebooks/, such as 16")
        saved = json.loads((out / "results.json").read_text())
        set_threads(args.threads)
        info = machine_info()
        rows = notebooks.summarize(notebooks.measure(paths, args.runs, args.threads, print))
        info["others_cpu_share"] = others_share(cpu_at_start, cpu_seconds(),
                                                time.perf_counter() - started, info["cores"])
        saved = add_notebook_rows(saved, rows, info, args.runs)
        (out / "results.json").write_text(json.dumps(_jsonable(saved), indent=1))
        return main(["--render", "--out", str(out)])

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    threads = set_threads(args.threads)
    info = machine_info()
    log(f"Benchmarks{' (quick)' if args.quick else ''}: {info['cpu']}, {threads} torch threads, "
        f"torch {info['torch']}; writing to {out}")
    results = {}
    # The notebooks first: they run in their own processes, before this one has grown.
    if "notebooks" in args.only:
        results["notebooks"] = notebooks.run(args.quick, args.runs, args.threads, log)
    if "modules" in args.only:
        results["modules"] = modules.run(args.quick, log)
    if "throughput" in args.only:
        results["throughput"] = throughput.run(args.quick, log)
    if "scaling" in args.only:
        results["scaling"] = scaling.run(args.quick, out, log)
    info["load_average_end"] = load_average()
    info["seconds"] = time.perf_counter() - started
    info["others_cpu_share"] = others_share(cpu_at_start, cpu_seconds(), info["seconds"],
                                            info["cores"])
    text = render(results, info, args.quick)
    (out / "costs_tables.md").write_text(text)
    (out / "results.json").write_text(json.dumps({"machine": info, "quick": args.quick,
                                                  **_jsonable(results)}, indent=1))
    print(text)
    log(f"Done in {info['seconds']:.0f} s: {out / 'costs_tables.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
