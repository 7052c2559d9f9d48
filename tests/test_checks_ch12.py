"""Chapter 12's exercise checks accept right answers and explain the typical wrong ones."""

import math
import re

import torch
import torch.nn.functional as F

from transformer_lib import checks
from transformer_lib.data import reviews


def bm25_with(idf="lucene", use_mean=True, swap=False):
    def bm25(query, documents, k1=1.5, b=0.75):
        if swap:
            k1, b = b, min(k1, 1.0)
        n = len(documents)
        mean = sum(map(len, documents)) / n if use_mean else max(map(len, documents))
        scores = torch.zeros(n, dtype=torch.float64)
        for token in query:
            held = sum(token in d for d in documents)
            if not held:
                continue
            weight = {"lucene": math.log(1 + (n - held + 0.5) / (held + 0.5)),
                      "plain": math.log(n / held), "none": 1.0}[idf]
            for i, d in enumerate(documents):
                f = d.count(token)
                scores[i] += weight * f * (k1 + 1) / (f + k1 * (1 - b + b * len(d) / mean))
        return scores

    return bm25


def bm25_as_list(query, documents, k1=1.5, b=0.75):
    return bm25_with()(query, documents, k1, b).tolist()


def bm25_no_length(query, documents, k1=1.5, b=0.75):
    return bm25_with()(query, documents, k1, 0.0)


def mmr_with(lam_swap=False, redundancy="max", ordered=True):
    def mmr(vectors, k, lam=0.7):
        lam = 1 - lam if lam_swap else lam
        relevance = vectors @ F.normalize(vectors.mean(0), dim=0)
        picked = [int(relevance.argmax())]
        while len(picked) < k:
            sims = vectors @ vectors[picked].T
            overlap = sims.max(1).values if redundancy == "max" else sims.mean(1)
            gain = lam * relevance - (1 - lam) * overlap
            gain[picked] = -math.inf
            picked.append(int(gain.argmax()))
        return sorted(picked) if ordered else picked

    return mmr


def centroid_only(vectors, k, lam=0.7):
    relevance = vectors @ F.normalize(vectors.mean(0), dim=0)
    return sorted(relevance.topk(k).indices.tolist())


def lexicon_with(window=3, contractions=True):
    def score(text):
        tokens = re.findall(r"[a-z']+", text.lower())
        total = 0
        for i, token in enumerate(tokens):
            sign = (token in reviews.POSITIVE_WORDS) - (token in reviews.NEGATIVE_WORDS)
            before = tokens[max(0, i - window):i]
            if any(t in {"not", "no", "never", "nothing", "nobody"}
                   or (contractions and t.endswith("n't")) for t in before):
                sign = -sign
            total += sign
        return total

    return score


RIGHT = [
    (checks.check_bm25_scores, bm25_with()),
    (checks.check_bm25_scores, bm25_as_list),
    (checks.check_mmr_summary, mmr_with()),
    (checks.check_mmr_summary, lambda v, k, lam=0.7: torch.tensor(mmr_with()(v, k, lam))),
    (checks.check_negation_lexicon, lexicon_with()),
]

WRONG = [
    (checks.check_bm25_scores, bm25_with(idf="plain"), "ln(N / n_t)"),
    (checks.check_bm25_scores, bm25_with(idf="none"), "the idf is missing"),
    (checks.check_bm25_scores, bm25_no_length, "no length normalisation"),
    (checks.check_bm25_scores, bm25_with(use_mean=False), "mean document length"),
    (checks.check_bm25_scores, bm25_with(swap=True), "k1 and b are swapped"),
    (checks.check_bm25_scores, lambda q, d, k1=1.5, b=0.75: torch.zeros(2),
     "expected a tensor of 6"),
    (checks.check_mmr_summary, mmr_with(ordered=False), "document order"),
    (checks.check_mmr_summary, centroid_only, "this is the centroid summary"),
    (checks.check_mmr_summary, mmr_with(lam_swap=True), "not the other way round"),
    (checks.check_mmr_summary, mmr_with(redundancy="mean"), "not the mean"),
    (checks.check_negation_lexicon, lambda t: reviews.lexicon_score(t), "no word was flipped"),
    (checks.check_negation_lexicon, lexicon_with(window=1), "3 tokens BEFORE"),
    (checks.check_negation_lexicon, lexicon_with(contractions=False), "contractions negate"),
    (checks.check_negation_lexicon, lexicon_with(window=99), "not everything before it"),
    (checks.check_negation_lexicon, lambda t: float(lexicon_with()(t)), "expected a Python int"),
]


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_mmr_summary(mmr_with())
    checks.check_bm25_scores(bm25_with())
    torch.testing.assert_close(torch.rand(3), expected)
