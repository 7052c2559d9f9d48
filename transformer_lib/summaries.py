"""ROUGE for lists of summaries, each score with a 95 % bootstrap interval (chapter 15).

ROUGE (Lin, 2004) compares a summary with a reference by the words they share: ROUGE-1 by single
words, ROUGE-2 by pairs of adjacent words, ROUGE-L by their longest common subsequence. Each gives
a precision, a recall and their harmonic mean F; summarization papers report F. The scores come
from Google's ``rouge-score`` package, which lowercases, keeps letters and digits only and, with
``stemmer=True`` (the usual setting), strips English suffixes with the Porter stemmer.

See: notebooks/15_summarization.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

from transformer_lib import stats

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def rouge_f(candidates: Sequence[str], references: Sequence[str],
            types: Sequence[str] = ROUGE_TYPES, stemmer: bool = True) -> dict[str, list[float]]:
    """The F score of each candidate against its reference, per ROUGE type: ``{type: [F, ...]}``.

    Args:
        candidates, references: N summaries and their N references (plain text).
        types: ``rouge-score``'s names, e.g. ``"rouge1"``, ``"rouge2"``, ``"rougeL"``.
        stemmer: apply the Porter stemmer to both sides (``rouge-score``'s ``use_stemmer``).
    """
    from rouge_score import rouge_scorer

    if isinstance(candidates, str) or isinstance(references, str):
        raise TypeError("candidates and references must be lists of strings, not one string")
    if len(candidates) != len(references) or not candidates:
        raise ValueError(f"expected as many candidates as references (at least one), got "
                         f"{len(candidates)} and {len(references)}")
    scorer = rouge_scorer.RougeScorer(list(types), use_stemmer=stemmer)
    scores = [scorer.score(reference, candidate)  # rouge-score takes (target, prediction)
              for candidate, reference in zip(candidates, references)]
    return {kind: [score[kind].fmeasure for score in scores] for kind in types}


def rouge_with_intervals(candidates: Sequence[str], references: Sequence[str],
                         stemmer: bool = True, n_resamples: int = 1000,
                         seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """Mean ROUGE-1/2/L F in percent with a 95 % percentile-bootstrap interval over the items:
    ``{type: (mean, low, high)}``."""
    out = {}
    for kind, values in rouge_f(candidates, references, stemmer=stemmer).items():
        low, high = stats.bootstrap_interval(values, n_resamples=n_resamples, seed=seed)
        out[kind] = (100 * sum(values) / len(values), 100 * low, 100 * high)
    return out


def format_interval(mean: float, low: float, high: float) -> str:
    """``"57.3 [54.1, 60.2]"``: a score and its 95 % interval."""
    return f"{mean:.1f} [{low:.1f}, {high:.1f}]"
