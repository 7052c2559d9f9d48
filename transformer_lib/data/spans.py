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

See: notebooks/11_named_entities.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

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
