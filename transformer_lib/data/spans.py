"""Entities as spans of a BIO tag sequence, and the entity-level precision, recall and F1.

An entity is a span ``(type, start, end)`` of tokens, ``end`` excluded. A predicted entity is
right only if its type, its start and its end all match a true entity: the definition of the
CoNLL-2003 shared task (Tjong Kim Sang and De Meulder, 2003) and of its ``conlleval`` script.

A tagger can output sequences that no BIO tagging of real entities produces: an ``I-X`` after
``O`` or after another type. Two conventions read them:

- ``"conlleval"`` (the default, as CoNLL's scorer and seqeval's default mode): such an ``I-X``
  starts a new entity of type X, as a ``B-X`` would;
- ``"strict"`` (seqeval's ``mode="strict"``): only ``B-X I-X ...`` makes an entity; an ``I-X``
  that does not continue an entity of type X belongs to none.

Both agree on well-formed sequences.

A score measured on a few templates depends on which templates were drawn; ``bootstrap_f1``
gives an interval for it by resampling whole templates (any groups of sentences).

See: notebooks/11_named_entities.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SCHEMES = ("conlleval", "strict")

Span = tuple[str, int, int]


def _check_tag(i: int, tag: object) -> None:
    if tag == "O":
        return
    if not (isinstance(tag, str) and len(tag) > 2 and tag[0] in "BI" and tag[1] == "-"):
        raise ValueError(f"tags[{i}]={tag!r} is not a BIO tag ('O', 'B-X' or 'I-X')")


def bio_spans(tags: Sequence[str], scheme: str = "conlleval") -> list[Span]:
    """The entities of one BIO tag sequence, as ``(type, start, end)`` with ``end`` excluded.

    An entity is a ``B-X`` followed by any number of ``I-X``. What an ``I-X`` that does not
    continue an entity of type X means depends on ``scheme`` (see the module's docstring).

    Example:
        >>> bio_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"])
        [('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5)]
        >>> bio_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"], scheme="strict")
        [('PER', 0, 2), ('LOC', 4, 5)]
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r}; expected one of {SCHEMES}")
    if isinstance(tags, str):
        raise TypeError("tags must be a sequence of tags such as ['B-PER', 'O'], not one string")
    spans: list[Span] = []
    start, kind = None, None
    for i, tag in enumerate([*tags, "O"]):  # a final "O" closes the last entity
        _check_tag(i, tag)
        if start is not None and tag != f"I-{kind}":  # the open entity ends before i
            spans.append((kind, start, i))
            start, kind = None, None
        stray = tag.startswith("I-") and start is None  # an I-X that continues nothing
        if tag.startswith("B-") or (stray and scheme == "conlleval"):
            start, kind = i, tag[2:]
    return spans


def spans_to_bio(n_tokens: int, spans: Sequence[Span]) -> list[str]:
    """The BIO tags of ``n_tokens`` tokens holding the entities ``spans`` (the inverse of
    ``bio_spans`` on well-formed sequences). Spans must not overlap."""
    if not isinstance(n_tokens, int) or n_tokens < 0:
        raise ValueError(f"n_tokens={n_tokens!r} must be a non-negative integer")
    tags = ["O"] * n_tokens
    for kind, start, end in spans:
        if not 0 <= start < end <= n_tokens:
            raise ValueError(f"span ({kind!r}, {start}, {end}) does not fit in {n_tokens} tokens")
        if any(t != "O" for t in tags[start:end]):
            raise ValueError(f"span ({kind!r}, {start}, {end}) overlaps another span")
        tags[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
    return tags


def is_well_formed(tags: Sequence[str]) -> bool:
    """True when every ``I-X`` continues an entity of type X (a ``B-X`` or ``I-X`` before it)."""
    for i, tag in enumerate(tags):
        _check_tag(i, tag)
    return all(not tag.startswith("I-") or (i > 0 and tags[i - 1] in (f"B-{tag[2:]}", tag))
               for i, tag in enumerate(tags))


def precision_recall_f1(correct: int, n_pred: int, n_true: int) -> dict[str, float]:
    """Precision ``correct / n_pred``, recall ``correct / n_true`` and their harmonic mean F1.

    A ratio with nothing to count (0 / 0) is 0."""
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def span_scores(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]],
                scheme: str = "conlleval") -> dict:
    """Entity-level precision, recall and F1 over a corpus (micro-averaged), overall and per type.

    ``precision = right / predicted``, ``recall = right / true``, ``F1 = 2PR / (P + R)``, where an
    entity is right only if its type, start and end all match, in the same sentence. Counts are
    pooled over all sentences before dividing.

    Args:
        true_tags: one BIO tag sequence per sentence.
        pred_tags: the predicted sequences, each as long as its true one.
        scheme: how ill-formed sequences are read, ``"conlleval"`` or ``"strict"``.

    Returns:
        ``{"precision", "recall", "f1", "n_true", "n_pred", "n_correct", "per_type"}``, where
        ``per_type[X]`` holds X's precision, recall, f1 and ``support`` (its number of true
        entities), for every type that is true or predicted somewhere.
    """
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"true_tags has {len(true_tags)} sentences but pred_tags {len(pred_tags)}")
    true, pred = set(), set()
    for i, (t, p) in enumerate(zip(true_tags, pred_tags)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} true tags but {len(p)} predicted tags")
        true |= {(i, *span) for span in bio_spans(t, scheme)}  # (sentence, type, start, end)
        pred |= {(i, *span) for span in bio_spans(p, scheme)}
    correct = true & pred
    scores: dict = precision_recall_f1(len(correct), len(pred), len(true))
    scores.update(n_true=len(true), n_pred=len(pred), n_correct=len(correct))
    per_type = {}
    for kind in sorted({s[1] for s in true | pred}):
        counts = [sum(s[1] == kind for s in group) for group in (correct, pred, true)]
        per_type[kind] = {**precision_recall_f1(*counts), "support": counts[2]}
    scores["per_type"] = per_type
    return scores


def sentence_counts(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]],
                    scheme: str = "conlleval") -> np.ndarray:
    """Each sentence's right, predicted and true entities: an ``(N, 3)`` int array.

    Summed over the rows, they are ``span_scores``' ``n_correct``, ``n_pred`` and ``n_true``."""
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"true_tags has {len(true_tags)} sentences but pred_tags {len(pred_tags)}")
    rows = []
    for i, (t, p) in enumerate(zip(true_tags, pred_tags)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} true tags but {len(p)} predicted tags")
        true, pred = set(bio_spans(t, scheme)), set(bio_spans(p, scheme))
        rows.append((len(true & pred), len(pred), len(true)))
    return np.array(rows, dtype=np.int64).reshape(len(rows), 3)


def bootstrap_f1_samples(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]],
                         groups: Sequence[int], n_resamples: int = 2000, seed: int = 0,
                         scheme: str = "conlleval") -> np.ndarray:
    """The entity-level F1 of ``n_resamples`` resamples of whole groups, ``(n_resamples,)``.

    Sentences of one group (one template) share its words and its shape, so their errors come
    together: a test set of G templates holds G independent draws, however many sentences they
    fill. Each resample draws G groups with replacement, pools the counts of their sentences and
    computes ``F1 = 2 right / (predicted + true)``, which equals ``2PR / (P + R)``. The draws
    depend only on ``seed`` and on the groups, so two taggers scored on the same sentences with
    the same seed are scored on the same resamples (their difference is a paired bootstrap).

    Args:
        true_tags, pred_tags: as for ``span_scores``, N sentences.
        groups: N group ids, one per sentence (e.g. its template); ``range(N)`` resamples
            sentences.
        n_resamples: how many resamples. seed: seeds ``numpy.random.default_rng``.
    """
    counts = sentence_counts(true_tags, pred_tags, scheme)  # (N, 3)
    if not len(counts):
        raise ValueError("true_tags is empty; expected at least one sentence")
    if len(groups) != len(counts):
        raise ValueError(f"groups has {len(groups)} entries; expected one per sentence "
                         f"({len(counts)})")
    if not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples!r} must be a positive integer")
    _, group = np.unique(np.asarray(groups), return_inverse=True)  # (N,) in 0 .. G - 1
    per_group = np.zeros((group.max() + 1, 3), dtype=np.int64)  # (G, 3)
    np.add.at(per_group, group, counts)
    draws = np.random.default_rng(seed).integers(0, len(per_group), (n_resamples, len(per_group)))
    right, predicted, true = per_group[draws].sum(axis=1).T  # (n_resamples,) each
    return 2 * right / np.maximum(predicted + true, 1)


def bootstrap_f1(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]],
                 groups: Sequence[int], n_resamples: int = 2000, level: float = 0.95,
                 seed: int = 0, scheme: str = "conlleval") -> tuple[float, float]:
    """A percentile bootstrap interval for the entity-level F1, resampling whole groups.

    Returns ``(low, high)``, the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of
    ``bootstrap_f1_samples`` (which says how the groups are resampled); ``level`` is in (0, 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must be in (0, 1), e.g. 0.95")
    f1 = bootstrap_f1_samples(true_tags, pred_tags, groups, n_resamples, seed, scheme)
    low, high = np.quantile(f1, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
