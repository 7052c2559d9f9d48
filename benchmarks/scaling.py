"""Table 4 and its figure: how attention's time and memory grow with the sequence length T.

Two ways to compute softmax(Q K^T / sqrt(Dh)) V on ``(B, H, T, Dh)`` inputs, forward only:

- explicit: ``transformer_lib.scaled_dot_product_attention``, the computation chapter 2 teaches,
  which builds the ``(B, H, T, T)`` weights (``MultiHeadAttention`` runs it when the weights are
  asked for);
- fused: ``F.scaled_dot_product_attention``, PyTorch's kernel, which ``MultiHeadAttention`` runs
  otherwise; it works on blocks of keys and never holds the whole T x T matrix.

Time: per call, the fastest of several rounds (the two ways alternating), the round least
disturbed by other work on the machine. Memory: the peak of the bytes held by live tensors
during one call (its output and every temporary, the fused kernel's internal buffers included),
summed from the CPU allocator's allocation and free records (``torch.profiler`` with
``profile_memory=True``). Should a torch version not expose those records, the fallback measures
the peak resident memory a call adds, in a fresh process per (way, T).

Each series gets a least-squares fit ``a + b T + c T^2`` (relative errors), and the table gives the
measured growth exponent between the two longest lengths (2 means quadratic).

``plot_attention_scaling`` draws the figure from plain lists; it needs only numpy and matplotlib,
so chapter 2 can use it (or a copy of it in ``transformer_lib.viz``).
"""

from __future__ import annotations

import gc
import json
import math
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import transformer_lib as tl
from benchmarks.common import MiB, ROOT, python_with_repo_on_path
from benchmarks.report import markdown_table
from benchmarks.timing import interleaved

BATCH, HEADS, HEAD_DIM = 1, 8, 32  # one sequence, the larger shape's heads: D = 256
LENGTHS = (64, 128, 256, 512, 1024, 2048)
QUICK_LENGTHS = (32, 64, 128)
WAYS = {
    "explicit": "explicit (`tl.scaled_dot_product_attention`, builds the T x T weights)",
    "fused": "fused (`F.scaled_dot_product_attention`, the library's fast path)",
}


def _call(way: str, q, k, v):
    if way == "explicit":
        return tl.scaled_dot_product_attention(q, k, v)[0]
    return F.scaled_dot_product_attention(q, k, v)


def _inputs(length: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    shape = (BATCH, HEADS, length, HEAD_DIM)  # (B, H, T, Dh)
    return tuple(torch.randn(shape, generator=generator) for _ in range(3))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _peak_from_allocator(way: str, length: int) -> int:
    """Peak bytes of the tensors alive during one call, from the allocator's own records.

    ``torch.profiler`` with ``profile_memory=True`` records every allocation and free of the CPU
    allocator, the fused kernel's internal buffers included; their running sum peaks here.
    """
    from torch.profiler import ProfilerActivity, profile

    q, k, v = _inputs(length)
    with torch.no_grad():
        _call(way, q, k, v)  # warm-up
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            _call(way, q, k, v)  # the output is freed at once: it is counted at its peak
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    if not events:
        raise RuntimeError("the profiler recorded no allocation")
    return peak


def _peak_rss_here(way: str, length: int, threads: int) -> dict:
    """Fallback, in a fresh process: the peak resident memory one call adds, in bytes."""
    torch.set_num_threads(threads)
    with torch.no_grad():
        _call(way, *_inputs(8))  # load the kernels and start the thread pool first
        q, k, v = _inputs(length)
        gc.collect()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
            base = _status_kib("VmRSS")
            out = _call(way, q, k, v)
            peak = _status_kib("VmHWM")
            exact = True
        except OSError:
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            out = _call(way, q, k, v)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            exact = False
        del out
    unit = 1 if sys.platform == "darwin" and not exact else 1024
    return {"bytes": max(peak - base, 0) * unit, "exact": exact}


def peak_memory(way: str, length: int) -> dict:
    """Peak memory of one call: from the allocator, else from the resident size of a process."""
    try:
        return {"bytes": _peak_from_allocator(way, length), "method": "allocator"}
    except Exception:  # noqa: BLE001 - a torch without these profiler records: measure the RSS
        command = ["MEM", way, str(length), str(torch.get_num_threads())]
        proc = subprocess.run([sys.executable, "-m", "benchmarks.scaling", *command], cwd=ROOT,
                              env=python_with_repo_on_path(), capture_output=True, text=True,
                              check=True)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        return {"bytes": result["bytes"], "method": "rss" if result["exact"] else "rss-approximate"}


def quadratic_fit(lengths, values) -> dict:
    """Least squares ``a + b T + c T^2`` with relative errors, and the last measured exponent."""
    x, y = np.asarray(lengths, float), np.asarray(values, float)
    c, b, a = np.polyfit(x, y, 2, w=1 / np.maximum(y, 1e-30))
    exponent = float("nan")
    if y[-2] > 0 and y[-1] > 0:
        exponent = math.log(y[-1] / y[-2]) / math.log(x[-1] / x[-2])
    share = c * x[-1] ** 2 / (a + b * x[-1] + c * x[-1] ** 2)
    return {"a": a, "b": b, "c": c, "exponent": exponent, "quadratic_share": share}


def measure(lengths=LENGTHS, quick: bool = False, log=print) -> dict:
    rounds, min_time = (2, 0.01) if quick else (7, 0.2)
    series = {way: {"time": [], "memory": []} for way in WAYS}
    for length in lengths:
        q, k, v = _inputs(length)
        with torch.no_grad():
            timing = interleaved(lambda: _call("explicit", q, k, v),
                                 lambda: _call("fused", q, k, v), rounds=rounds,
                                 min_time=min_time, warmup=1, names=("explicit", "fused"))
        for way in WAYS:  # the fastest round: the least disturbed by other work on the machine
            series[way]["time"].append(min(timing.times[way]))
        log(f"  T={length}: explicit {series['explicit']['time'][-1] * 1000:.3g} ms, "
            f"fused {series['fused']['time'][-1] * 1000:.3g} ms")
    methods = set()
    for way in WAYS:
        for length in lengths:
            measured = peak_memory(way, length)
            series[way]["memory"].append(measured["bytes"])
            methods.add(measured["method"])
        log(f"  {way} peak MiB: " + ", ".join(f"{b / MiB:.3g}" for b in series[way]["memory"]))
    fits = {way: {kind: quadratic_fit(lengths, series[way][kind]) for kind in ("time", "memory")}
            for way in WAYS}
    return {"lengths": list(lengths), "series": series, "fits": fits,
            "memory_method": sorted(methods),
            "shape": f"B={BATCH}, H={HEADS}, Dh={HEAD_DIM}, float32, forward only"}


def plot_attention_scaling(lengths, series: dict, fits: dict | None = None, path=None):
    """Time and memory of attention against T, log-log, with the fitted quadratics.

    Args:
        lengths: the sequence lengths T.
        series: ``{label: {"time": seconds per call, "memory": bytes}}``, one entry per way.
        fits: ``{label: {"time": {"a", "b", "c"}, "memory": {...}}}``; fitted when not given.
        path: where to save the figure (SVG, in the book's figure style); None: just return it.

    Returns:
        the matplotlib figure.
    """
    import matplotlib
    import matplotlib.ticker

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from transformer_lib.viz import BOOK_STYLE, COLUMN_INCHES

    fits = fits or {w: {k: quadratic_fit(lengths, s[k]) for k in ("time", "memory")}
                    for w, s in series.items()}
    grid = np.geomspace(min(lengths), max(lengths), 100)
    with matplotlib.rc_context(BOOK_STYLE):  # the book's figure style, sized to its column
        fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(COLUMN_INCHES, 3.4),
                                             layout="constrained")
        for i, (way, values) in enumerate(series.items()):
            for ax, kind, scale in ((ax_time, "time", 1000), (ax_mem, "memory", 1 / MiB)):
                measured = np.asarray(values[kind], float) * scale
                ax.loglog(lengths, np.maximum(measured, 1e-3), "o", color=f"C{i}",
                          label=f"{way}, measured")
                fit = fits[way][kind]
                curve = (fit["a"] + fit["b"] * grid + fit["c"] * grid**2) * scale
                ax.loglog(grid, np.maximum(curve, 1e-3), "--", color=f"C{i}",
                          label=f"{way}, fit a + bT + cT$^2$")
        ax_time.set(title="Time per call", xlabel="sequence length T", ylabel="milliseconds")
        ax_mem.set(title="Peak memory of one call", xlabel="sequence length T", ylabel="MiB")
        for ax in (ax_time, ax_mem):
            ax.set_xticks(list(lengths), [str(n) for n in lengths], minor=False)
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.legend(fontsize=7)
            ax.grid(True, which="major", alpha=0.3)
        if path is not None:
            fig.savefig(path, bbox_inches="tight", metadata={"Date": None})
            plt.close(fig)
    return fig


def table(result: dict) -> str:
    lengths, series, fits = result["lengths"], result["series"], result["fits"]
    body = []
    for i, length in enumerate(lengths):
        row = [str(length)]
        for way in WAYS:
            row += [f"{series[way]['time'][i] * 1000:.3g}", f"{series[way]['memory'][i] / MiB:.3g}"]
        body.append(row)
    for label, key, fmt in (("growth exponent, last two T", "exponent", "{:.2f}"),
                            ("share of c T^2 at the longest T", "quadratic_share", "{:.0%}")):
        row = [f"*{label}*"]
        for way in WAYS:
            row += [fmt.format(fits[way]["time"][key]), fmt.format(fits[way]["memory"][key])]
        body.append(row)
    return markdown_table(["T", "explicit: ms", "explicit: MiB", "fused: ms", "fused: MiB"], body)


def run(quick: bool, out_dir: Path, log=print) -> dict:
    lengths = QUICK_LENGTHS if quick else LENGTHS
    log(f"Scaling: attention at T = {', '.join(map(str, lengths))}")
    result = measure(lengths, quick, log)
    figure = out_dir / "attention_scaling.svg"
    plot_attention_scaling(lengths, {w: result["series"][w] for w in WAYS},
                           {w: result["fits"][w] for w in WAYS}, path=figure)
    result["figure"] = figure.name
    result["markdown"] = table(result)
    return result


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "MEM":
        print(json.dumps(_peak_rss_here(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        sys.exit("usage: python -m benchmarks.scaling MEM explicit|fused LENGTH THREADS")
