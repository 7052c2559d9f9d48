"""Checks for the exercises of chapter 11 (named entities)."""

import functools
import math
import random
from collections.abc import Callable, Sequence
from operator import itemgetter

import torch

from transformer_lib.checks._compare import Case, as_int, diagnose, int_list, python_number
from transformer_lib.checks._core import Failure, call, check, describe
from transformer_lib.data.entities import TAGS
from transformer_lib.data.spans import (bio_spans, is_well_formed, precision_recall_f1, span_scores,
                                        spans_to_bio)


@check("accuracy over the real tokens", seed=21)
def check_real_token_accuracy(student_fn: Callable, generator):
    """``student_fn(logits (B, S, n_tags), labels (B, S))`` -> the share of the positions whose
    label is not -100 where the arg-max tag is the label (a float or a 0-dim tensor)."""
    cases = []
    for batch, length, n_tags, lengths in [(2, 5, 3, [5, 2]), (3, 8, 9, [1, 8, 4]),
                                           (1, 4, 5, [4]), (4, 6, 9, [2, 3, 6, 1])]:
        logits = torch.randn(batch, length, n_tags, generator=generator)
        labels = torch.randint(0, n_tags, (batch, length), generator=generator)
        labels[:, 0] = logits[:, 0].argmax(-1)  # some right answers
        pad = torch.arange(length) >= torch.tensor(lengths).unsqueeze(1)  # (B, S)
        logits[pad] = logits[pad].index_fill(-1, torch.tensor([0]), 50.0)  # padding says tag 0
        labels = labels.masked_fill(pad, -100)
        right = (logits.argmax(-1) == labels) & ~pad  # (B, S)
        n_right = right.sum().item()
        expected = n_right / (~pad).sum().item()
        value = float(python_number(call(student_fn, logits, labels),
                                    "the accuracy", (int, float), item=True))
        per_sentence = [right[b].sum().item() / n for b, n in enumerate(lengths)]
        mistakes = {
            "the padding was scored as if its label were tag 0: count only the positions "
            "whose label is not -100": (n_right + pad.sum().item()) / labels.numel(),
            "the padding was counted in the denominator: divide by the number of real tokens, "
            "not by B * S": n_right / labels.numel(),
            "that is the number of right tokens, not their share: divide by the number of real "
            "tokens": float(n_right),
            "you averaged the sentences' accuracies: divide the right tokens of the whole "
            "batch by its real tokens": sum(per_sentence) / len(per_sentence),
        }
        shown = (f"for logits of shape {tuple(logits.shape)} and sentence lengths {lengths} "
                 f"the accuracy is {expected:.4f}, you returned {value:.4f}")
        cases.append(Case(value, expected, mistakes, shown))
    diagnose(cases, atol=1e-6, rtol=1e-6)


FIXED_SEQUENCES = [
    [],
    ["O", "O"],
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["O", "B-ORG", "I-ORG", "I-ORG"],  # an entity that ends the sentence
    ["B-PER", "B-PER", "O", "B-DATE", "I-DATE"],  # two adjacent entities of one type
    ["B-PER", "I-LOC", "I-LOC", "O"],  # the type changes inside a run of I- tags
    ["I-PER", "I-PER", "O", "O", "I-LOC", "B-LOC"],  # I- tags that start nothing well formed
    ["B-DATE"],
]


def _random_sequences(rng: random.Random, n: int, longest: int) -> list[list[str]]:
    return [[rng.choice(TAGS) for _ in range(rng.randint(1, longest))] for _ in range(n)]


def _as_spans(got) -> set[tuple[str, int, int]]:
    zero_dim = getattr(got, "ndim", None) == 0  # a 0-d tensor cannot be iterated
    if isinstance(got, (str, bytes, dict)) or not hasattr(got, "__iter__") or zero_dim:
        raise Failure(f"expected a list of (type, start, end) tuples for the spans, got "
                      f"{describe(got)}")
    spans = set()
    for item in got:
        if (isinstance(item, str) or getattr(item, "ndim", None) == 0
                or not hasattr(item, "__len__") or len(item) != 3):
            raise Failure(f"expected (type, start, end) triples, got a list holding "
                          f"{describe(item)}")
        kind, start, end = item[0], as_int(item[1]), as_int(item[2])
        if start is None or end is None:
            raise Failure(f"expected (type, start, end) triples with int start and end, got "
                          f"{item!r}")
        if not isinstance(kind, str):
            raise Failure(f"the type must be a string such as 'PER', got {kind!r} in {item!r}")
        spans.add((kind, start, end))
    return spans


def _read_spans(tags: Sequence[str], any_i_continues: bool = False,
                b_continues: bool = False) -> set[tuple[str, int, int]]:
    """The entities that a known mistake reads, for the hints (both False: the conlleval rule)."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None:
            if tag == f"I-{kind}" or (any_i_continues and tag.startswith("I-")) or (
                    b_continues and tag == f"B-{kind}"):
                continue
            spans.add((kind, start, i))
            start = None
        if tag != "O":
            start, kind = i, tag[2:]
    return spans


_sorted = functools.partial(sorted, key=itemgetter(1, 2, 0))  # spans in reading order


@check("entities of a BIO sequence")
def check_bio_spans(student_fn: Callable):
    """``student_fn(tags)`` -> the entities ``(type, start, end)`` (end excluded, any order) of a
    BIO sequence; an ``I-X`` that continues no X entity starts one (the conlleval rule)."""
    cases = []
    for tags in FIXED_SEQUENCES + _random_sequences(random.Random(31), 200, 12):
        expected = set(bio_spans(tags))
        got = _as_spans(call(student_fn, list(tags)))
        mistakes = {
            "the types must be 'PER', 'LOC', ... without the 'B-' prefix":
                {(f"B-{k}", s, e) for k, s, e in expected},
            "end must be exclusive: one past the entity's last token, as in Python slices "
            "(tags[start:end])": {(k, s, e - 1) for k, s, e in expected},
            "the entity that ends the sentence is missing: close the open entity after the "
            "loop": {(k, s, e) for k, s, e in expected if e < len(tags)},
            "an I-X that does not continue an entity of type X (at the start, after O, or "
            "after another type) must start a new entity (the conlleval rule); yours starts "
            "nothing (that is the strict rule)": set(bio_spans(tags, "strict")),
            "an I-Y right after an entity of type X (X != Y) does not continue that entity: "
            "it starts a new one of type Y": _read_spans(tags, any_i_continues=True),
            "a B-X always starts a new entity, even right after another entity of type X":
                _read_spans(tags, b_continues=True),
        }
        shown = f"for tags={tags} expected {_sorted(expected)}, got {_sorted(got)}"
        cases.append(Case(got, expected, mistakes, shown))
    diagnose(cases)


def _corpora():
    rng = random.Random(41)
    yield ("two sentences", [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]],
           [["B-PER", "O", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]])
    yield ("the same span in two sentences", [["B-PER", "I-PER", "O"], ["O", "O", "O"]],
           [["O", "O", "O"], ["B-PER", "I-PER", "O"]])
    yield ("right boundaries, wrong type", [["B-PER", "I-PER", "O", "B-DATE"]],
           [["B-ORG", "I-ORG", "O", "B-DATE"]])
    yield ("sentences of different sizes", [["B-PER"] * 4 + ["O"] * 6, ["B-LOC", "O"]],
           [["B-PER"] * 4 + ["O"] * 6, ["O", "O"]])
    for n in (5, 30):
        true = [spans_to_bio(len(s), bio_spans(s)) for s in _random_sequences(rng, n, 10)]
        pred = [[rng.choice(TAGS) if rng.random() < 0.2 else t for t in s] for s in true]
        yield f"{n} random sentences", true, pred  # well formed, and a few random changes


_triple = itemgetter("precision", "recall", "f1")


def _wrong_scores(true, pred) -> dict[str, tuple[float, float, float]]:
    """What the typical mistakes compute, for the hints."""

    def scores(items):  # items(i, tags): what is counted in sentence i, entities or tokens
        t = {item for i, tags in enumerate(true) for item in items(i, tags)}
        p = {item for i, tags in enumerate(pred) for item in items(i, tags)}
        return _triple(precision_recall_f1(len(t & p), len(p), len(t)))

    per_sentence = [_triple(span_scores([t], [p])) for t, p in zip(true, pred)]
    right = span_scores(true, pred)
    return {
        "you counted tokens, not entities: an entity is right only when its type, its start and "
        "its end all match (read the spans with bio_spans)":
            scores(lambda i, tags: [(i, j, tag) for j, tag in enumerate(tags) if tag != "O"]),
        "spans of different sentences got mixed up: keep the sentence index with each span, "
        "(sentence, type, start, end)": scores(lambda i, tags: bio_spans(tags)),
        "an entity with the right boundaries but the wrong type must count as wrong":
            scores(lambda i, tags: [(i, s, e) for _, s, e in bio_spans(tags)]),
        "you averaged the sentences' scores; add up the counts over the whole corpus first, "
        "then divide (the micro average)":
            tuple(sum(column) / len(per_sentence) for column in zip(*per_sentence)),
        "precision and recall are swapped: precision = right / predicted, recall = right / true":
            (right["recall"], right["precision"], right["f1"]),
    }


def _three_numbers(got) -> tuple[float, float, float]:
    if (isinstance(got, (str, dict)) or getattr(got, "ndim", 1) == 0 or not hasattr(got, "__len__")
            or len(got) != 3):
        raise Failure(f"expected a tuple (precision, recall, f1), got {describe(got)}")
    return tuple(float(python_number(v, "precision, recall and f1", (int, float), item=True))
                 for v in got)


@check("entity-level precision, recall and F1")
def check_entity_prf(student_fn: Callable):
    """``student_fn(true_tags, pred_tags)`` (lists of BIO sequences, one per sentence) ->
    ``(precision, recall, f1)`` over the entities of the whole corpus (numbers)."""
    cases = []
    for name, true, pred in _corpora():
        expected = _triple(span_scores(true, pred))
        got = _three_numbers(call(student_fn, [list(s) for s in true], [list(s) for s in pred]))
        shown = (f"case {name!r}: expected (precision, recall, f1) = ({expected[0]:.4f}, "
                 f"{expected[1]:.4f}, {expected[2]:.4f}), got ({got[0]:.4f}, {got[1]:.4f}, "
                 f"{got[2]:.4f})")
        cases.append(Case(got, expected, _wrong_scores(true, pred), shown))
    diagnose(cases, atol=1e-6, rtol=1e-6)
    nothing = [["O", "O"], ["O"]]
    try:
        got = _three_numbers(call(student_fn, [["B-PER", "O"], ["B-LOC"]], nothing))
    except Failure as failure:
        if "ZeroDivisionError" in str(failure):
            raise Failure("with no predicted entity, precision is 0 / 0: define it as 0, and "
                          "F1 as 0 when precision + recall is 0") from None
        raise
    if not all(math.isclose(g, 0.0, abs_tol=1e-6) for g in got):
        raise Failure(f"with no predicted entity, precision, recall and F1 must be 0, got {got}")


def allowed_after(tags: Sequence[str]) -> list[list[bool]]:
    """``allowed[i][j]``: may tag j follow tag i? Only ``B-X`` or ``I-X`` may precede ``I-X``."""
    return [[not b.startswith("I-") or a in (f"B-{b[2:]}", b) for b in tags] for a in tags]


def best_valid_reference(scores: torch.Tensor, tags: Sequence[str]) -> list[int]:
    """Viterbi: the well-formed sequence with the largest total score; ``scores (S, n_tags)``."""
    barred = ~torch.tensor(allowed_after(tags))  # (previous tag, tag)
    first_barred = torch.tensor([t.startswith("I-") for t in tags])
    best = scores[0].double().masked_fill(first_barred, -math.inf)  # best total ending in each tag
    back = []  # for each position after the first, each tag's best previous tag
    for row in scores[1:].double():
        value, previous = best[:, None].masked_fill(barred, -math.inf).max(dim=0)
        back.append(previous.tolist())
        best = value + row
    path = [int(best.argmax())]
    for pointers in reversed(back):
        path.append(pointers[path[-1]])
    return path[::-1]


def _as_path(got, tags: Sequence[str], length: int) -> list[int]:
    if isinstance(got, (list, tuple)):  # tag names are accepted too
        unknown = [item for item in got if isinstance(item, str) and item not in tags]
        if unknown:
            raise Failure(f"{unknown[0]!r} is not one of the tags {tuple(tags)}")
        got = [tags.index(item) if isinstance(item, str) else item for item in got]
    path = int_list(got, f"expected a list of {length} tag ids (ints)")
    if len(path) != length:
        raise Failure(f"expected one tag per position ({length}), got {len(path)}")
    if not all(0 <= index < len(tags) for index in path):
        raise Failure(f"expected tag ids in [0, {len(tags)}), got {path}")
    return path


@check("best well-formed tag sequence", seed=51)
def check_valid_tags(student_fn: Callable, generator):
    """``student_fn(scores (S, n_tags), tags)`` -> the S tag ids (list or tensor; tag names are
    accepted too) of the well-formed sequence whose total score is largest."""
    cases = [(TAGS, n) for n in (1, 2, 4, 7, 12, 20)] + [(("O", "B-PER", "I-PER"), 6),
                                                        (("B-LOC", "I-LOC", "O"), 5)]
    for tags, length in cases:
        for _ in range(3):
            scores = torch.randn(length, len(tags), generator=generator) * 3
            scores[:, [i for i, t in enumerate(tags) if t.startswith("I-")]] += 2  # tempting I-
            expected = best_valid_reference(scores, tags)
            path = _as_path(call(student_fn, scores, tags), tags, length)
            names = [tags[i] for i in path]
            if not is_well_formed(names):
                i = next(i for i in range(length) if not is_well_formed(names[: i + 1]))
                before = "at the start" if i == 0 else f"after {names[i - 1]}"
                raise Failure(f"your sequence is not well formed: position {i} holds {names[i]} "
                              f"{before} (only B-X or I-X may come before I-X, and no I- tag may "
                              f"come first)")
            total = sum(scores[i, j].item() for i, j in enumerate(path))
            best = sum(scores[i, j].item() for i, j in enumerate(expected))
            if total < best - 1e-4:
                raise Failure(f"your sequence is well formed but not the best one for {length} "
                              f"positions: its total score is {total:.3f}, the best is "
                              f"{best:.3f}. Choosing tag by tag is not enough: keep, for every "
                              f"tag at every position, the best score of a valid sequence "
                              f"ending there (the Viterbi algorithm)")
