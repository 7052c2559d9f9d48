"""Checks for the exercises of chapter 12 (a real pretrained encoder): BM25 by hand, a maximal
marginal relevance summary, a word list that knows negation."""

import math
import re
from collections import Counter
from collections.abc import Callable

import torch
import torch.nn.functional as F

from transformer_lib.checks._compare import Case, diagnose, int_list, python_number
from transformer_lib.checks._core import Failure, call, check
from transformer_lib.data.reviews import NEGATIVE_WORDS, POSITIVE_WORDS
from transformer_lib.retrieval import bm25_scores

_DOCS = ["the cat sat on the mat", "a dog chased the cat round and round the garden",
         "the mat was red", "dogs and cats", "a very long document about a cat that sat and "
         "sat and sat on a mat near a dog", "garden"]
_QUERIES = ["cat mat", "the dog", "red garden cat", "cats", "sat sat"]


def _bm25_variant(query, documents, k1, b, idf="lucene", avgdl=None) -> torch.Tensor:
    """BM25 with one piece changed, to recognise a mistake's answer."""
    counts = [Counter(d) for d in documents]
    n = len(documents)
    mean = sum(map(len, documents)) / n if avgdl is None else avgdl
    out = torch.zeros(n, dtype=torch.float64)
    for token in query:
        held = sum(token in c for c in counts)
        if not held:
            continue
        weight = {"lucene": math.log(1 + (n - held + 0.5) / (held + 0.5)),
                  "plain": math.log(n / held),
                  "robertson": math.log((n - held + 0.5) / (held + 0.5)), "none": 1.0}[idf]
        for i, (c, d) in enumerate(zip(counts, documents)):
            out[i] += weight * c[token] * (k1 + 1) / (c[token] + k1 * (1 - b + b * len(d) / mean))
    return out


@check("BM25 scores")
def check_bm25_scores(student_fn: Callable):
    """``student_fn(query tokens, documents as token lists, k1, b)`` -> ``(N,)`` scores."""
    documents = [d.split() for d in _DOCS]
    cases = []
    for query, k1, b in zip(_QUERIES, (1.5, 1.2, 2.0, 1.5, 0.9), (0.75, 0.75, 0.5, 1.0, 0.3)):
        tokens = query.split()
        got = call(student_fn, tokens, documents, k1, b)
        if isinstance(got, (list, tuple)):
            got = torch.tensor(got, dtype=torch.float64)
        if not isinstance(got, torch.Tensor) or got.shape != (len(documents),):
            raise Failure(f"expected a tensor of {len(documents)} scores (one per document) for "
                          f"query={tokens}, got {got!r:.80}")
        got = got.detach().double().cpu()
        expected = bm25_scores(tokens, documents, k1, b)
        lengths = [len(d) for d in documents]
        cases.append(Case(got, expected, {
            "the idf is ln(N / n_t); use ln(1 + (N - n_t + 0.5) / (n_t + 0.5)), which never goes "
            "below 0": _bm25_variant(tokens, documents, k1, b, "plain"),
            "the idf ln((N - n_t + 0.5) / (n_t + 0.5)) goes negative for a word in most "
            "documents: add 1 inside the log": _bm25_variant(tokens, documents, k1, b,
                                                             "robertson"),
            "the idf is missing: weight each word by how rare it is": _bm25_variant(
                tokens, documents, k1, b, "none"),
            "no length normalisation: divide |d| by the MEAN length avgdl, scaled by b":
                _bm25_variant(tokens, documents, k1, 0.0),
            "avgdl must be the mean document length, not the longest": _bm25_variant(
                tokens, documents, k1, b, avgdl=max(lengths)),
            "k1 and b are swapped": _bm25_variant(tokens, documents, b, min(k1, 1.0)),
        }, f"query={tokens}, k1={k1}, b={b}: expected {[round(x, 3) for x in expected.tolist()]}"
           f", got {[round(x, 3) for x in got.tolist()]}"))
    diagnose(cases)


def _mmr(vectors: torch.Tensor, k: int, lam: float, redundancy=torch.amax) -> list[int]:
    centroid = F.normalize(vectors.mean(0), dim=0)
    relevance = vectors @ centroid  # (n,)
    chosen = [int(relevance.argmax())]
    while len(chosen) < k:
        overlap = redundancy(vectors @ vectors[chosen].T, dim=1)  # (n,)
        gain = lam * relevance - (1 - lam) * overlap
        gain[chosen] = -math.inf
        chosen.append(int(gain.argmax()))
    return chosen


@check("maximal marginal relevance summary", seed=15)
def check_mmr_summary(student_fn: Callable, generator):
    """``student_fn(vectors (n, D) unit rows, k, lam)`` -> list of k indices in document order."""
    for size, dim, k, lam in [(6, 4, 2, 0.7), (12, 8, 3, 0.5), (20, 16, 4, 0.7), (9, 8, 1, 0.3)]:
        theme = torch.randn(dim, generator=generator, dtype=torch.float64)
        rows = theme + 1.2 * torch.randn(size, dim, generator=generator, dtype=torch.float64)
        rows[1] = rows[0] + 0.05 * torch.randn(dim, generator=generator, dtype=torch.float64)
        vectors = F.normalize(rows, dim=-1)  # (n, D), rows 0 and 1 nearly the same sentence
        got = call(student_fn, vectors, k, lam)
        got = int_list(got, f"expected a list of {k} int indices for n={size}, k={k}")
        picks = _mmr(vectors, k, lam)
        expected = sorted(picks)
        if got == expected:
            continue
        relevance = vectors @ F.normalize(vectors.mean(0), dim=0)
        hints = {
            "the right sentences, but return them in document order (sorted)": picks,
            "this is the centroid summary: subtract the redundancy (the largest cosine to a "
            "sentence already chosen)": sorted(relevance.topk(k).indices.tolist()),
            "lam weighs the relevance and 1 - lam the redundancy, not the other way round":
                sorted(_mmr(vectors, k, 1 - lam)),
            "the redundancy is the LARGEST cosine to a chosen sentence, not the mean":
                sorted(_mmr(vectors, k, lam, torch.mean)),
        }
        for hint, wrong in hints.items():
            if got == wrong and wrong != expected:
                raise Failure(f"for n={size}, k={k}, lam={lam}: {hint}")
        raise Failure(f"for n={size}, k={k}, lam={lam} expected {expected}, got {got}")


_NEGATORS = {"not", "no", "never", "nothing", "nobody"}
_WORD = re.compile(r"[a-z']+")


def _negation_score(text: str, window: int = 3, contractions: bool = True) -> int:
    tokens = _WORD.findall(text.lower())
    score = 0
    for i, token in enumerate(tokens):
        sign = (token in POSITIVE_WORDS) - (token in NEGATIVE_WORDS)
        before = tokens[max(0, i - window):i]
        if sign and any(t in _NEGATORS or (contractions and t.endswith("n't")) for t in before):
            sign = -sign
        score += sign
    return score


_SENTENCES = ["The battery was not bad at all.", "It is not so great.", "Never disappointed.",
              "I didn't really like it.",
              "I can't say it was good.", "Good, but not cheap and not good either.",
              "The sound isn't clear and the case is flimsy.", "Great phone, great price.",
              "Not once did the screen feel so very bad.", "No problem, nothing broken, a joy.",
              "It wasn't the worst, it was not the best."]


@check("word list with negation")
def check_negation_lexicon(student_fn: Callable):
    """``student_fn(text)`` -> int: sentiment words counted +1 / -1, the sign flipped when a
    negator is among the 3 tokens before the word."""
    for text in _SENTENCES:
        got = python_number(call(student_fn, text), f"text={text!r}", int)
        expected = _negation_score(text)
        if got == expected:
            continue
        tokens = _WORD.findall(text.lower())
        hints = {
            "contractions negate too: a token ending in n't (isn't, can't) is a negator":
                _negation_score(text, contractions=False),
            "look at the 3 tokens BEFORE the word, not only the one just before it":
                _negation_score(text, window=1),
            "the window is the 3 tokens before the word, not everything before it":
                _negation_score(text, window=len(tokens)),
            "no word was flipped: a negator (not, no, never, nothing, nobody, or a word ending "
            "in n't) among the 3 tokens before a sentiment word flips its sign":
                sum((t in POSITIVE_WORDS) - (t in NEGATIVE_WORDS) for t in tokens),
        }
        for hint, wrong in hints.items():
            if got == wrong != expected:
                raise Failure(f"for {text!r} expected {expected}, got {got}: {hint}")
        raise Failure(f"for {text!r} expected {expected}, got {got}")
