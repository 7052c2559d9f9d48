"""Checks for the exercises of chapter 11 (named entities).

The references are the library's own (``data.spans.bio_spans`` and ``span_scores``) and, for the
best well-formed tag sequence, a Viterbi search that the tests compare with brute force.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from transformer_lib.checks._core import CheckResult, Failure, call, run
from transformer_lib.data.entities import TAGS
from transformer_lib.data.spans import bio_spans, span_scores, spans_to_bio

__all__ = ["check_real_token_accuracy", "check_bio_spans", "check_entity_prf", "check_valid_tags"]

@dataclass
class _Case:
    shown: str  # the case and what differs, in words
    got: object
    expected: object
    hints: dict[str, object]  # what each typical mistake returns on this case


def _diagnose(cases: list[_Case], same: Callable[[object, object], bool]) -> None:
    """Raise Failure if a case is wrong: with a mistake's hint when the answer equals what that
    mistake returns on *every* wrong case (a systematic error, not a coincidence)."""
    wrong = [case for case in cases if not same(case.got, case.expected)]
    if not wrong:
        return
    for hint in wrong[0].hints:
        if all(same(case.got, case.hints[hint]) for case in wrong):
            raise Failure(f"{hint}. For example, {wrong[0].shown}")
    raise Failure(wrong[0].shown)


# --- exercise 1: accuracy over the real tokens -------------------------------------------------


def check_real_token_accuracy(student_fn: Callable) -> CheckResult:
    """``student_fn(logits (B, S, n_tags), labels (B, S))`` -> the share of the positions whose
    label is not -100 where the arg-max tag is the label (a float or a 0-dim tensor)."""

    def body():
        generator = torch.Generator().manual_seed(21)
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
            expected = right.sum().item() / (~pad).sum().item()
            value = _number(call(student_fn, logits.clone(), labels.clone()), "the accuracy")
            per_sentence = [right[b].sum().item() / n for b, n in enumerate(lengths)]
            hints = {
                "the padding was scored as if its label were tag 0: count only the positions "
                "whose label is not -100": (right.sum().item() + pad.sum().item()) / labels.numel(),
                "the padding was counted in the denominator: divide by the number of real tokens, "
                "not by B * S": right.sum().item() / labels.numel(),
                "that is the number of right tokens, not their share: divide by the number of real "
                "tokens": float(right.sum().item()),
                "you averaged the sentences' accuracies: divide the right tokens of the whole "
                "batch by its real tokens": sum(per_sentence) / len(per_sentence),
            }
            shown = (f"for logits of shape {tuple(logits.shape)} and sentence lengths {lengths} "
                     f"the accuracy is {expected:.4f}, you returned {value:.4f}")
            cases.append(_Case(shown, value, expected, hints))
        _diagnose(cases, _close)

    return run("accuracy over the real tokens", body)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def _number(got, what: str) -> float:
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise Failure(f"expected one number for {what}, got a tensor of shape "
                          f"{tuple(got.shape)}")
        return float(got.detach().cpu())
    if isinstance(got, (bool, str, bytes)) or not hasattr(got, "__float__"):
        raise Failure(f"expected a number for {what}, got {type(got).__name__}")
    return float(got)


# --- exercise 2: the entities of a tag sequence ------------------------------------------------


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


def _random_sequences(seed: int, n: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(TAGS) for _ in range(rng.randint(1, 12))] for _ in range(n)]


def _as_spans(got, what: str = "the spans") -> set[tuple[str, int, int]]:
    if isinstance(got, (str, bytes, dict)) or not hasattr(got, "__iter__"):
        raise Failure(f"expected a list of (type, start, end) tuples for {what}, got "
                      f"{type(got).__name__}")
    spans = set()
    for item in got:
        if isinstance(item, str) or not hasattr(item, "__len__") or len(item) != 3:
            raise Failure(f"expected (type, start, end) triples, got the item {item!r}")
        kind, start, end = item
        if not isinstance(kind, str):
            raise Failure(f"the type must be a string such as 'PER', got {kind!r} in {item!r}")
        spans.add((kind, int(start), int(end)))
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


def _sorted(spans: set[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    return sorted(spans, key=lambda span: (span[1], span[2], span[0]))


def check_bio_spans(student_fn: Callable) -> CheckResult:
    """``student_fn(tags)`` -> the entities of one BIO sequence as ``(type, start, end)``, end
    excluded, an ``I-X`` that does not continue an X entity starting one (the conlleval rule).
    Any order, and lists or tuples, are accepted."""

    def body():
        cases = []
        for tags in FIXED_SEQUENCES + _random_sequences(31, 200):
            expected = set(bio_spans(tags))
            got = _as_spans(call(student_fn, list(tags)))
            n = len(tags)
            hints = {
                "the types must be 'PER', 'LOC', ... without the 'B-' prefix":
                    {(f"B-{k}", s, e) for k, s, e in expected},
                "end must be exclusive: one past the entity's last token, as in Python slices "
                "(tags[start:end])": {(k, s, e - 1) for k, s, e in expected},
                "the entity that ends the sentence is missing: close the open entity after the "
                "loop": {(k, s, e) for k, s, e in expected if e < n},
                "an I-X that does not continue an entity of type X (at the start, after O, or "
                "after another type) must start a new entity (the conlleval rule); yours starts "
                "nothing (that is the strict rule)": set(bio_spans(tags, "strict")),
                "an I-Y right after an entity of type X (X != Y) does not continue that entity: "
                "it starts a new one of type Y": _read_spans(tags, any_i_continues=True),
                "a B-X always starts a new entity, even right after another entity of type X":
                    _read_spans(tags, b_continues=True),
            }
            shown = f"for tags={tags} expected {_sorted(expected)}, got {_sorted(got)}"
            cases.append(_Case(shown, got, expected, hints))
        _diagnose(cases, lambda a, b: a == b)

    return run("entities of a BIO sequence", body)


# --- exercise 3: entity-level precision, recall and F1 -----------------------------------------


def _perturb(tags: list[str], rng: random.Random) -> list[str]:
    """A prediction: the true tags with a few random changes."""
    pred = list(tags)
    for i in range(len(pred)):
        if rng.random() < 0.2:
            pred[i] = rng.choice(TAGS)
    return pred


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
        true = [[rng.choice(TAGS) for _ in range(rng.randint(1, 10))] for _ in range(n)]
        true = [spans_to_bio(len(s), bio_spans(s)) for s in true]  # well formed
        yield (f"{n} random sentences", true, [_perturb(s, rng) for s in true])


def _prf(correct: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    p = correct / n_pred if n_pred else 0.0
    r = correct / n_true if n_true else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _wrong_scores(true, pred) -> dict[str, tuple[float, float, float]]:
    """What the typical mistakes compute, for the hints."""
    tok_true = sum(t != "O" for s in true for t in s)
    tok_pred = sum(t != "O" for s in pred for t in s)
    tok_right = sum(t == p != "O" for ts, ps in zip(true, pred) for t, p in zip(ts, ps))
    pooled_t = {s for tags in true for s in bio_spans(tags)}
    pooled_p = {s for tags in pred for s in bio_spans(tags)}
    untyped_t = {(i, s, e) for i, tags in enumerate(true) for _, s, e in bio_spans(tags)}
    untyped_p = {(i, s, e) for i, tags in enumerate(pred) for _, s, e in bio_spans(tags)}
    per_sentence = [span_scores([t], [p]) for t, p in zip(true, pred)]
    right = span_scores(true, pred)
    return {
        "you counted tokens, not entities: an entity is right only when its type, its start and "
        "its end all match (read the spans with bio_spans)": _prf(tok_right, tok_pred, tok_true),
        "spans of different sentences got mixed up: keep the sentence index with each span, "
        "(sentence, type, start, end)":
            _prf(len(pooled_t & pooled_p), len(pooled_p), len(pooled_t)),
        "an entity with the right boundaries but the wrong type must count as wrong":
            _prf(len(untyped_t & untyped_p), len(untyped_p), len(untyped_t)),
        "you averaged the sentences' scores; add up the counts over the whole corpus first, "
        "then divide (the micro average)":
            tuple(sum(s[k] for s in per_sentence) / len(per_sentence)
                  for k in ("precision", "recall", "f1")),
        "precision and recall are swapped: precision = right / predicted, recall = right / true":
            (right["recall"], right["precision"], right["f1"]),
    }


def _three_numbers(got) -> tuple[float, float, float]:
    if isinstance(got, (str, dict)) or not hasattr(got, "__len__") or len(got) != 3:
        raise Failure(f"expected a tuple (precision, recall, f1), got {type(got).__name__}")
    return tuple(_number(v, "precision, recall and f1") for v in got)


def check_entity_prf(student_fn: Callable) -> CheckResult:
    """``student_fn(true_tags, pred_tags)`` (lists of BIO sequences, one per sentence) ->
    ``(precision, recall, f1)`` over the entities of the whole corpus (numbers)."""

    def body():
        cases = []
        for name, true, pred in _corpora():
            right = span_scores(true, pred)
            expected = (right["precision"], right["recall"], right["f1"])
            got = _three_numbers(call(student_fn, [list(s) for s in true], [list(s) for s in pred]))
            shown = (f"case {name!r}: expected (precision, recall, f1) = ({expected[0]:.4f}, "
                     f"{expected[1]:.4f}, {expected[2]:.4f}), got ({got[0]:.4f}, {got[1]:.4f}, "
                     f"{got[2]:.4f})")
            cases.append(_Case(shown, got, expected, _wrong_scores(true, pred)))
        _diagnose(cases, lambda a, b: all(_close(x, y) for x, y in zip(a, b)))
        nothing = [["O", "O"], ["O"]]
        try:
            got = _three_numbers(call(student_fn, [["B-PER", "O"], ["B-LOC"]], nothing))
        except Failure as failure:
            if "ZeroDivisionError" in str(failure):
                raise Failure("with no predicted entity, precision is 0 / 0: define it as 0, and "
                              "F1 as 0 when precision + recall is 0") from None
            raise
        if not all(_close(g, 0.0) for g in got):
            raise Failure(f"with no predicted entity, precision, recall and F1 must be 0, got "
                          f"{got}")

    return run("entity-level precision, recall and F1", body)


# --- exercise 4: the best well-formed tag sequence ---------------------------------------------


def allowed_after(tags: Sequence[str]) -> list[list[bool]]:
    """``allowed[i][j]``: may tag j follow tag i? Only ``B-X`` or ``I-X`` may precede ``I-X``."""
    return [[not b.startswith("I-") or a in (f"B-{b[2:]}", b) for b in tags] for a in tags]


def best_valid_reference(scores: torch.Tensor, tags: Sequence[str]) -> list[int]:
    """Viterbi: the well-formed sequence with the largest total score; ``scores (S, n_tags)``."""
    allowed = allowed_after(tags)
    rows = scores.tolist()
    best = [s if not t.startswith("I-") else -math.inf for s, t in zip(rows[0], tags)]
    back = []
    for row in rows[1:]:
        pointers, new = [], []
        for j, s in enumerate(row):
            options = [(best[i], i) for i in range(len(tags)) if allowed[i][j]]
            value, arg = max(options)
            pointers.append(arg)
            new.append(value + s)
        back.append(pointers)
        best = new
    path = [max(range(len(tags)), key=best.__getitem__)]
    for pointers in reversed(back):
        path.append(pointers[path[-1]])
    return path[::-1]


def _is_valid(path: Sequence[int], tags: Sequence[str]) -> tuple[bool, str]:
    names = [tags[i] for i in path]
    for i, name in enumerate(names):
        if name.startswith("I-") and (i == 0 or names[i - 1] not in (f"B-{name[2:]}", name)):
            before = "at the start" if i == 0 else f"after {names[i - 1]}"
            return False, f"position {i} holds {name} {before}"
    return True, ""


def _as_path(got, tags: Sequence[str], length: int) -> list[int]:
    if isinstance(got, torch.Tensor):
        got = got.detach().cpu().tolist()
    if isinstance(got, (str, dict)) or not hasattr(got, "__len__"):
        raise Failure(f"expected a list of {length} tag ids, got {type(got).__name__}")
    if len(got) != length:
        raise Failure(f"expected one tag per position ({length}), got {len(got)}")
    path = []
    for item in got:
        if isinstance(item, str):
            if item not in tags:
                raise Failure(f"{item!r} is not one of the tags {tuple(tags)}")
            item = tags.index(item)
        if isinstance(item, float) or not 0 <= int(item) < len(tags):
            raise Failure(f"expected tag ids in [0, {len(tags)}), got {item!r}")
        path.append(int(item))
    return path


def check_valid_tags(student_fn: Callable) -> CheckResult:
    """``student_fn(scores (S, n_tags), tags)`` -> the S tag ids (list or tensor; tag names are
    accepted too) of the well-formed sequence whose total score is largest."""

    def body():
        generator = torch.Generator().manual_seed(51)
        cases = [(TAGS, n) for n in (1, 2, 4, 7, 12, 20)] + [(("O", "B-PER", "I-PER"), 6),
                                                            (("B-LOC", "I-LOC", "O"), 5)]
        for tags, length in cases:
            for _ in range(3):
                scores = torch.randn(length, len(tags), generator=generator) * 3
                scores[:, [i for i, t in enumerate(tags) if t.startswith("I-")]] += 2  # tempting I-
                expected = best_valid_reference(scores, tags)
                path = _as_path(call(student_fn, scores.clone(), tags), tags, length)
                valid, why = _is_valid(path, tags)
                if not valid:
                    raise Failure(f"your sequence is not well formed: {why} (only B-X or I-X may "
                                  f"come before I-X, and no I- tag may come first)")
                total = sum(scores[i, j].item() for i, j in enumerate(path))
                best = sum(scores[i, j].item() for i, j in enumerate(expected))
                if total < best - 1e-4:
                    raise Failure(f"your sequence is well formed but not the best one for {length} "
                                  f"positions: its total score is {total:.3f}, the best is "
                                  f"{best:.3f}. Choosing tag by tag is not enough: keep, for every "
                                  f"tag at every position, the best score of a valid sequence "
                                  f"ending there (the Viterbi algorithm)")

    return run("best well-formed tag sequence", body)
