"""95 % intervals for numbers measured on small test sets (part II, from chapter 8 on).

- ``wilson_interval``: a proportion (an accuracy, an exact-match rate) of ``n`` items, by Wilson's
  score interval (Wilson 1927), which stays inside [0, 1] and is honest near 0 and 1, where the
  textbook ``p +- 1.96 sqrt(p(1 - p) / n)`` is not. It equals ``scipy.stats.binomtest(k,
  n).proportion_ci(method="wilson")``.
- ``bootstrap_interval``: the mean of per-item scores that are not 0/1 (a ROUGE score, a token F1),
  by the percentile bootstrap (Efron & Tibshirani 1993): resample the items with replacement and
  read the middle 95 % of the resampled means.

See: notebooks/08_translation.ipynb (Wilson's formula built step by step)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import torch


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (95 %: z = 1.96)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"expected 0 <= successes <= n and n > 0, got {successes} of {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(values: Sequence[float], n_resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of the mean of ``values`` (items resampled with
    replacement, ``n_resamples`` times, from a seeded generator)."""
    x = torch.as_tensor(values, dtype=torch.float64)  # (n,)
    if x.dim() != 1 or len(x) < 2:
        raise ValueError(f"values must be a list of at least 2 numbers, got shape {tuple(x.shape)}")
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(x), (n_resamples, len(x)), generator=generator)  # (R, n)
    means = x[picks].mean(1)  # (R,)
    tail = (1 - level) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1 - tail], dtype=torch.float64))
    return low.item(), high.item()
