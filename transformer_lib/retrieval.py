"""Chapter 12: lexical retrieval (BM25) and ranking measures (top-k accuracy, MRR).

BM25 (Robertson & Zaragoza 2009) scores a document ``d`` for a query ``q`` by the query's words
that ``d`` contains, each weighted by how rare it is (idf) and by a saturating, length-normalised
count of it in ``d``:

    idf(t) = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))
    score(q, d) = sum over the tokens t of q of
                  idf(t) * f(t, d) (k1 + 1) / (f(t, d) + k1 (1 - b + b |d| / avgdl))

with ``N`` documents, ``n_t`` of them containing ``t``, ``f(t, d)`` the count of ``t`` in ``d``,
``|d|`` its length in tokens and ``avgdl`` the mean length (Lucene's non-negative idf).

See: notebooks/12_pretrained_encoder.ipynb
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import torch

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The lowercased word tokens of ``text`` (letters, digits and underscores)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _WORD.findall(text.lower())


def bm25_scores(query: Sequence[str], documents: Sequence[Sequence[str]], k1: float = 1.5,
                b: float = 0.75) -> torch.Tensor:
    """BM25 scores ``(N,)`` float64 of the N tokenized ``documents`` for the tokenized ``query``
    (each token of the query counts, repeats included; a token no document holds adds 0)."""
    if not documents:
        raise ValueError("documents is empty: BM25 needs at least one document")
    if k1 < 0 or not 0 <= b <= 1:
        raise ValueError(f"expected k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
    counts = [Counter(doc) for doc in documents]
    lengths = torch.tensor([len(doc) for doc in documents], dtype=torch.float64)  # (N,)
    n_docs, avgdl = len(documents), max(lengths.mean().item(), 1e-12)
    holders = Counter(t for c in counts for t in c)  # n_t
    norm = k1 * (1 - b + b * lengths / avgdl)  # (N,)
    scores = torch.zeros(n_docs, dtype=torch.float64)
    for token in query:
        if token not in holders:
            continue
        idf = math.log(1 + (n_docs - holders[token] + 0.5) / (holders[token] + 0.5))
        tf = torch.tensor([c[token] for c in counts], dtype=torch.float64)  # (N,)
        scores += idf * tf * (k1 + 1) / (tf + norm)
    return scores


def ranks_of_first_hit(scores: torch.Tensor, relevant: Sequence[set[int]]) -> list[int]:
    """For each query (a row of ``scores`` ``(Q, N)``), the rank (1 = best) of the best-scored
    document whose index is in that query's set of ``relevant`` indices."""
    if scores.dim() != 2 or scores.shape[0] != len(relevant):
        raise ValueError(f"scores must be (Q, N) with Q={len(relevant)} queries, got "
                         f"{tuple(scores.shape)}")
    order = scores.argsort(dim=1, descending=True, stable=True).tolist()  # (Q, N)
    ranks = []
    for row, good in zip(order, relevant):
        if not good:
            raise ValueError("every query needs at least one relevant document")
        ranks.append(1 + next(r for r, j in enumerate(row) if j in good))
    return ranks


def ranking_scores(ranks: Sequence[int]) -> dict[str, float]:
    """top-1 and top-3 accuracy and the mean reciprocal rank (MRR) of a list of ranks."""
    n = len(ranks)
    return {"top-1": sum(r == 1 for r in ranks) / n, "top-3": sum(r <= 3 for r in ranks) / n,
            "MRR": sum(1 / r for r in ranks) / n}
