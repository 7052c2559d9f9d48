"""Checks for the exercises of chapter 14 (extractive question answering)."""

import re
import string
from collections import Counter
from collections.abc import Callable

import torch

from transformer_lib import qa
from transformer_lib.checks._compare import Case, as_int, compare, diagnose, python_number
from transformer_lib.checks._core import Failure, call, check, describe

# --- exercise 1: the best span ---------------------------------------------------------------


def _span(start_scores, end_scores, allowed) -> tuple[int, int]:
    """The best (start, end) among the ``allowed`` (S, S) pairs."""
    scores = start_scores[:, None] + end_scores[None, :]  # (S, S)
    flat = int(scores.masked_fill(~allowed, -torch.inf).flatten().argmax())
    return flat // len(start_scores), flat % len(start_scores)


def _band(S: int, longest: int) -> torch.Tensor:
    ones = torch.ones(S, S, dtype=torch.bool)
    return ones.triu() & ~ones.triu(longest)  # 0 <= end - start < longest


def _greedy(start_scores, end_scores, context, max_len) -> tuple[int, int]:
    start = int(start_scores.masked_fill(~context, -torch.inf).argmax())
    ends = end_scores.masked_fill(~context, -torch.inf)[start:start + max_len]
    return start, start + int(ends.argmax())


def _as_pair(got) -> tuple[int, int]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Failure(f"expected a tuple (start, end) of two ints, got {describe(got)}")
    pair = tuple(as_int(v) for v in got)
    if None in pair:
        raise Failure(f"expected (start, end) as two ints, got {got!r}")
    return pair


@check("best span", seed=141)
def check_best_span(student_fn: Callable, generator):
    """``student_fn(start_scores (S,), end_scores (S,), context (S,) bool, max_len)`` -> the
    ``(start, end)`` with the largest start + end score, both in the context, and
    ``start <= end < start + max_len``."""
    cases = []
    for S, q, max_len in ((12, 4, 3), (20, 6, 5), (30, 8, 4), (16, 5, 1), (40, 10, 8)) * 4:
        start_scores = torch.randn(S, generator=generator) * 3
        end_scores = torch.randn(S, generator=generator) * 3
        context = torch.zeros(S, dtype=torch.bool)
        context[q + 1:S - 1] = True  # [CLS] question [SEP] context [SEP]
        inside = context[:, None] & context[None, :]
        expected = _span(start_scores, end_scores, _band(S, max_len) & inside)
        got = _as_pair(call(student_fn, start_scores, end_scores, context, max_len))
        mistakes = {
            "start and end were chosen independently: the end can then come before the start "
            "or far after it. Score every allowed pair (start, end) together":
                _span(start_scores, end_scores, inside),
            "the span may start or end outside the context (in the question, at [CLS] or [SEP]): "
            "both ends must be context tokens": _span(start_scores, end_scores,
                                                       _band(S, max_len)),
            "your spans can be max_len + 1 tokens long: end - start must stay below max_len":
                _span(start_scores, end_scores, _band(S, max_len + 1) & inside),
            "max_len is ignored: the span may be as long as the context":
                _span(start_scores, end_scores, _band(S, S) & inside),
            "the best start first, then the best end after it, is not the best pair: a "
            "slightly worse start may have a much better end":
                _greedy(start_scores, end_scores, context, max_len),
        }
        shown = (f"for S={S} (context tokens {q + 1} to {S - 2}) and max_len={max_len} "
                 f"expected {expected}, got {got}")
        cases.append(Case(got, expected, mistakes, shown))
    diagnose(cases)


# --- exercise 2: SQuAD's token F1 ------------------------------------------------------------

F1_CASES = (
    ("Cook Inc", "Cook Inc"), ("cook inc.", "Cook Inc"), ("The Cook, Inc", "cook inc"),
    ("in Port Kevin", "Port Kevin"), ("Kevin", "Port Kevin"), ("Paris", "London"),
    ("the the Smith", "Smith"), ("Smith Smith", "Smith Jones"), ("", "Anna"),
    ("May 3, 1971", "3 May 1971"), ("an apple", "apple"), ("Kent, Ferguson and Becker",
                                                         "Ferguson and Becker"),
    ("Smith-Jones", "Smith Jones"), ("A. Smith", "Smith"), ("the-Smith", "Smith"),
    ("Lee Lee", "Lee Lee Chan"),
    ("Theo Anders", "theo and anders"),
)


def _f1(pred: str, truth: str, lower=True, punct=True, articles=True, multiset=True,
        articles_first=False, measure="f1") -> float:
    """SQuAD's F1 (all defaults), or the F1 of a known mistake."""
    def norm(text):
        text = text.lower() if lower else text
        strip = (lambda t: "".join(ch for ch in t if ch not in set(string.punctuation))) \
            if punct else (lambda t: t)
        drop = (lambda t: re.sub(r"\b(a|an|the)\b", " ", t)) if articles else (lambda t: t)
        return " ".join((strip(drop(text)) if articles_first else drop(strip(text))).split())

    p, t = norm(pred).split(), norm(truth).split()
    same = sum((Counter(p) & Counter(t)).values()) if multiset else len(set(p) & set(t))
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(t)
    return {"f1": 2 * precision * recall / (precision + recall), "precision": precision,
            "recall": recall}[measure]


@check("SQuAD token F1")
def check_token_f1(student_fn: Callable):
    """``student_fn(prediction, truth)`` -> SQuAD's token F1 as a float in [0, 1]."""
    cases = []
    for pred, truth in F1_CASES:
        expected = qa.token_f1(pred, truth)
        got = python_number(call(student_fn, pred, truth), f"token_f1({pred!r}, {truth!r})",
                            (int, float), item=True)
        mistakes = {
            "lower-case both strings first: 'Cook' and 'cook' are the same word to SQuAD":
                _f1(pred, truth, lower=False),
            "remove the punctuation (string.punctuation) before splitting into words":
                _f1(pred, truth, punct=False),
            "drop the articles a, an and the (as whole words)": _f1(pred, truth, articles=False),
            "count shared words as a multiset (collections.Counter and &): a word counts as "
            "often as it appears in both": _f1(pred, truth, multiset=False),
            "remove the punctuation before the articles: 'the-Smith' becomes 'thesmith', one "
            "word and no article": _f1(pred, truth, articles_first=True),
            "that is the precision (shared / predicted words), not F1":
                _f1(pred, truth, measure="precision"),
            "that is the recall (shared / true words), not F1": _f1(pred, truth, measure="recall"),
        }
        cases.append(Case(float(got), expected, mistakes,
                          f"token_f1({pred!r}, {truth!r}) is {expected:.4f}, got {got:.4f}"))
    diagnose(cases)


# --- exercise 3: a question left blank -------------------------------------------------------


def blank_question_reference(ids, token_type_ids, sep_id: int, blank_id: int):
    """``ids`` with every question token (between [CLS] and the first [SEP]) set to blank_id."""
    positions = torch.arange(ids.shape[1])  # (S,)
    first_sep = (ids == sep_id).int().argmax(1, keepdim=True)  # (B, 1)
    question = (positions > 0) & (positions < first_sep)  # (B, S)
    return ids.masked_fill(question, blank_id)


@check("a question left blank", seed=143)
def check_blank_question(student_fn: Callable, generator):
    """``student_fn(ids (B, S), token_type_ids (B, S), sep_id, blank_id)`` -> new ids (B, S) in
    which every question token (between [CLS] and the first [SEP]) is blank_id."""
    cls_id, sep_id, blank_id, pad_id = 101, 102, 103, 0
    B, S = 5, 24
    ids = torch.randint(1000, 3000, (B, S), generator=generator)
    types = torch.zeros(B, S, dtype=torch.long)
    for b, (q, c) in enumerate(((4, 10), (6, 12), (3, 17), (7, 9), (5, 14))):
        ids[b, 0], ids[b, q + 1], ids[b, q + 2 + c] = cls_id, sep_id, sep_id
        types[b, q + 2:q + 3 + c] = 1
        ids[b, q + 3 + c:] = pad_id
    expected = blank_question_reference(ids, types, sep_id, blank_id)
    got = call(student_fn, ids, types, sep_id, blank_id)
    real = ids != pad_id
    mistakes = {
        "padding has token type 0 too: blank only the question, between [CLS] and the first "
        "[SEP]": ids.masked_fill((types == 0) & (ids != cls_id) & (ids != sep_id), blank_id),
        "[CLS] and the first [SEP] must stay: the model still needs to see where the question "
        "was": ids.masked_fill((types == 0) & real, blank_id),
        "you blanked the context (token type 1), not the question (token type 0)":
            ids.masked_fill(types == 1, blank_id),
    }
    compare(got, expected, {"ids": ids, "token_type_ids": types, "sep_id": sep_id,
                            "blank_id": blank_id}, mistakes=mistakes, long=True)
