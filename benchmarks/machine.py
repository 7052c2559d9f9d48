"""The machine the benchmarks ran on, and how busy it was: what a reader needs to judge them."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

from benchmarks.common import ROOT

# torch is imported inside the functions that need it: the notebook runner, a child process that
# only starts kernels, then starts in a fraction of the time.


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


# --- how busy the machine was -------------------------------------------------------------------


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
