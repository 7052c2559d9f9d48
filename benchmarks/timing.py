"""Timing two functions against each other in alternating rounds."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


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
