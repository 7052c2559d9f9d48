"""Shared pieces: the machine's description, interleaved timing, profiles, markdown tables."""

from __future__ import annotations

import datetime
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# torch is imported inside the functions that need it: the notebook runner, a child process that
# only starts kernels, then starts in a fraction of the time.

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20


def cpu_count() -> int:
    """The cores this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def set_threads(n: int | None = None) -> int:
    """``n`` torch threads, by default one per available core; returns the number set."""
    import torch

    n = n or cpu_count()
    torch.set_num_threads(n)
    return n


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                  text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return platform.processor() or platform.machine()


def _memory_total() -> str:
    try:
        import psutil  # installed with ipykernel

        return f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        return "unknown"


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds the whole machine has been busy, CPU seconds of this process and its children).

    The first from /proc/stat (Linux only: None elsewhere), the second from getrusage; children
    count once they have exited. Two readings give the CPU time other processes took in between,
    which a load average cannot: the benchmark's own threads raise the load average too.
    """
    try:
        import resource  # POSIX only

        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except (ImportError, OSError):
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and iowait
    busy = (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is already in user
    usages = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return busy, sum(u.ru_utime + u.ru_stime for u in usages)


def others_share(start: tuple[float, float] | None, end: tuple[float, float] | None,
                 seconds: float, cores: int) -> float | None:
    """The share of the machine's CPU time (0-1) that other processes used between two readings."""
    if start is None or end is None or seconds <= 0:
        return None
    others = (end[0] - start[0]) - (end[1] - start[1])
    return max(0.0, others) / (seconds * cores)


def _git_commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info() -> dict:
    """Everything a reader needs to judge the numbers: machine, date, versions."""
    import numpy
    import torch

    import transformer_lib

    try:
        from importlib.metadata import version

        jb = version("jupyter-book")
    except Exception:  # noqa: BLE001 - the book's builder is optional for the benchmarks
        jb = "not installed"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory": _memory_total(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "jupyter_book": jb,
        "transformer_lib": transformer_lib.__version__,
        "commit": _git_commit(),
        "load_average_start": load_average(),
    }


# --- timing -------------------------------------------------------------------------------------


def _calibrate(fn: Callable[[], object], min_time: float) -> int:
    """How many calls make one measurement last at least ``min_time`` seconds."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    return max(1, int(min_time / once + 0.999))


@dataclass
class Interleaved:
    """Per-call times (seconds) of two functions measured in alternating rounds."""

    times: dict[str, list[float]] = field(default_factory=dict)
    ratios: list[float] = field(default_factory=list)  # first / second, one per round

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)


def interleaved(a: Callable[[], object], b: Callable[[], object], rounds: int, min_time: float,
                warmup: int = 1, names: tuple[str, str] = ("ours", "theirs")) -> Interleaved:
    """Time ``a`` and ``b`` in rounds, A B then B A, and keep one ratio a/b per round.

    A background load that changes slowly hits both sides of a round alike, so the median of the
    per-round ratios is much steadier than the ratio of two separate medians. Each function is
    called ``warmup`` times, then once more to choose how many calls make one measurement last
    ``min_time`` seconds, before the rounds start.
    """
    for _ in range(warmup):
        a()
        b()
    n = max(_calibrate(a, min_time), _calibrate(b, min_time))
    result = Interleaved(times={names[0]: [], names[1]: []})
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            order = ((names[0], a), (names[1], b)) if r % 2 == 0 else ((names[1], b), (names[0], a))
            measured = {}
            for name, fn in order:
                start = time.perf_counter()
                for _ in range(n):
                    fn()
                measured[name] = (time.perf_counter() - start) / n
                result.times[name].append(measured[name])
            result.ratios.append(measured[names[0]] / measured[names[1]])
    finally:
        if was_enabled:
            gc.enable()
    return result


def median_time(fn: Callable[[], object], repeats: int, min_time: float, warmup: int = 1) -> float:
    """Median per-call time of ``fn`` over ``repeats`` measurements."""
    for _ in range(warmup):
        fn()
    n = _calibrate(fn, min_time)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - start) / n)
    return statistics.median(times)


# --- profiles -----------------------------------------------------------------------------------


@dataclass
class Profile:
    """Self CPU time (ms) and number of calls per ATen op, per call of the profiled function."""

    wall_ms: float
    ops: dict[str, tuple[float, float]]  # op name -> (self ms per call, calls per call)

    @property
    def op_ms(self) -> float:
        return sum(ms for ms, _ in self.ops.values())

    @property
    def outside_ms(self) -> float:
        """Wall time not spent inside any ATen op: Python, module calls, the dispatcher."""
        return max(self.wall_ms - self.op_ms, 0.0)


def profile(fn: Callable[[], object], iters: int) -> Profile:
    """Profile ``iters`` calls of ``fn`` (after one warm-up call) with torch.profiler."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    fn()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        wall = time.perf_counter() - start
    ops = {}
    for event in prof.key_averages():
        if event.key.startswith(("aten::", "cpu_op", "autograd::", "Optimizer.", "torch::")) or (
            "Backward" in event.key
        ):
            ops[event.key] = (event.self_cpu_time_total / 1000 / iters, event.count / iters)
    return Profile(wall_ms=wall * 1000 / iters, ops=ops)


# What an op is in transformer_lib, checked against the library's source. The profile, not this
# table, is the evidence; this only names the code the op comes from.
LN = ("the from-scratch LayerNorm (mean, var, sub, add eps, sqrt, div, mul, add: 8 passes over "
      "the tensor and their backward) where PyTorch runs one fused layer_norm")
WHAT_IT_IS = {
    "aten::var": LN, "aten::mean": LN, "aten::sqrt": LN, "aten::div": LN, "aten::sub": LN,
    "aten::sum": LN, "aten::var_mean": LN, "VarBackward0": LN, "DivBackward0": LN,
    "SubBackward0": LN, "MeanBackward1": LN, "SqrtBackward0": LN, "aten::mul": LN,
    "aten::add": "additions: the residual connections, and the from-scratch LayerNorm's eps and "
                 "bias",
    "aten::masked_fill": "the zero fix-up of fully masked rows after the fused attention",
    "aten::masked_fill_": "the zero fix-up of fully masked rows after the fused attention",
    "aten::any": "the zero fix-up of fully masked rows after the fused attention",
    "aten::where": "the boolean mask turned into an additive float mask inside "
                   "F.scaled_dot_product_attention (PyTorch's modules pass is_causal instead)",
    "aten::min": "the token-id range check", "aten::max": "the token-id range check",
    "aten::addmm": "the matrix products: ours runs Q, K and V as three products where PyTorch "
                   "runs one packed (3D, D) product (and, in inference, fuses the feed-forward "
                   "activation into its product, aten::_addmm_activation)",
    "aten::gelu": "the feed-forward activation, which PyTorch's inference fast path fuses into the "
                  "matrix product (aten::_addmm_activation)",
    "aten::relu": "the feed-forward activation, which PyTorch's inference fast path fuses into the "
                  "matrix product (aten::_addmm_activation)",
    "aten::clamp_min": "the feed-forward ReLU, which PyTorch's inference fast path fuses into the "
                       "matrix product (aten::_addmm_activation)",
    "aten::copy_": "copies: each matrix product's bias copied into its output, and the heads "
                   "merged back (transpose, then reshape)",
    "aten::_scaled_dot_product_flash_attention_for_cpu":
        "the fused attention kernel ours calls (PyTorch's inference fast path computes attention "
        "with bmm and a masked softmax instead)",
}


def explain(ours: Profile, theirs: Profile, top: int = 3) -> str:
    """One sentence, from two profiles: where the extra time of ``ours`` goes."""
    extra = ours.wall_ms - theirs.wall_ms
    diffs = []
    for op in set(ours.ops) | set(theirs.ops):
        mine, other = ours.ops.get(op, (0.0, 0.0)), theirs.ops.get(op, (0.0, 0.0))
        diffs.append((mine[0] - other[0], op, mine[1], other[1]))
    diffs.sort(reverse=True)
    named = [d for d in diffs[:top] if d[0] > 0.05 * max(extra, 1e-9)]
    parts = [f"{op} +{delta:.3g} ms ({n_ours:g} vs {n_theirs:g} calls)"
             for delta, op, n_ours, n_theirs in named]
    outside = ours.outside_ms - theirs.outside_ms
    if outside > 0.05 * max(extra, 1e-9):
        parts.append(f"Python and dispatch outside ATen ops +{outside:.3g} ms")
    text = (f"profile: ours {extra:+.3g} ms per call; "
            + ("; ".join(parts) or "no single op stands out"))
    causes = []
    for _, op, _, _ in named:
        cause = WHAT_IT_IS.get(op)
        if cause and cause not in causes:
            causes.append(cause)
    if outside > 0.3 * max(extra, 1e-9):
        causes.append("per-call Python overhead (input checks, module calls), which dominates "
                      "at tiny shapes where PyTorch's inference fast path is one C++ call")
    if causes:
        text += ". What those are in ours: " + "; ".join(causes)
    return text


def profile_table(ours: Profile, theirs: Profile, rows: int = 10) -> str:
    """Markdown table of the ops with the largest self time in either profile."""
    ops = sorted(set(ours.ops) | set(theirs.ops),
                 key=lambda op: -max(ours.ops.get(op, (0, 0))[0], theirs.ops.get(op, (0, 0))[0]))
    body = []
    for op in ops[:rows]:
        (a, na), (b, nb) = ours.ops.get(op, (0.0, 0.0)), theirs.ops.get(op, (0.0, 0.0))
        body.append([f"`{op}`", f"{a:.3f}", f"{na:g}", f"{b:.3f}", f"{nb:g}", f"{a - b:+.3f}"])
    body.append(["outside ATen ops (Python, dispatch)", f"{ours.outside_ms:.3f}", "",
                 f"{theirs.outside_ms:.3f}", "", f"{ours.outside_ms - theirs.outside_ms:+.3f}"])
    body.append(["**wall time per call**", f"**{ours.wall_ms:.3f}**", "",
                 f"**{theirs.wall_ms:.3f}**", "", f"**{ours.wall_ms - theirs.wall_ms:+.3f}**"])
    return markdown_table(
        ["op", "ours ms", "ours calls", "PyTorch ms", "PyTorch calls", "difference ms"], body)


# --- output -------------------------------------------------------------------------------------


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def python_with_repo_on_path() -> dict:
    """The environment for a child Python that must import ``benchmarks`` and the library."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env
