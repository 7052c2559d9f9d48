"""Chapter 11's exercise checks accept right answers and explain the typical wrong ones."""

import itertools
import math

import numpy as np
import pytest
import torch

from transformer_lib import checks
from transformer_lib.checks import ch11
from transformer_lib.data import spans

# --- exercise 1: accuracy over the real tokens


def right_accuracy(logits, labels):
    real = labels != -100
    return ((logits.argmax(-1) == labels) & real).sum() / real.sum()


def accuracy_loop(logits, labels):
    """Another right answer: Python floats, one position at a time."""
    right = total = 0
    for b in range(labels.shape[0]):
        for s in range(labels.shape[1]):
            if labels[b, s] != -100:
                total += 1
                right += int(logits[b, s].argmax() == labels[b, s])
    return right / total


def accuracy_with_padding_as_o(logits, labels):
    return (logits.argmax(-1) == labels.clamp(min=0)).float().mean()


def accuracy_per_sentence(logits, labels):
    real = labels != -100
    right = (logits.argmax(-1) == labels) & real
    return (right.sum(1) / real.sum(1)).mean()


# --- exercise 2: the entities of a tag sequence


def right_spans(tags):
    out, start, kind = [], None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        if start is not None and tag != "I-" + kind:
            out.append((kind, start, i))
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, kind = i, tag[2:]
    return out


def spans_as_set_of_lists(tags):
    """Another right answer: a set of... lists are unhashable, so a list of lists, reversed."""
    return [list(s) for s in reversed(spans.bio_spans(tags))]


def spans_with_numpy_and_tensor_bounds(tags):
    """Another right answer: a NumPy integer and a 0-dim integer tensor are ints too."""
    return [(k, np.int64(s), torch.tensor(e)) for k, s, e in spans.bio_spans(tags)]


def spans_end_inclusive(tags):
    return [(k, s, e - 1) for k, s, e in spans.bio_spans(tags)]


def spans_forgetting_the_last(tags):
    out, start, kind = [], None, None
    for i, tag in enumerate(tags):
        if start is not None and tag != "I-" + kind:
            out.append((kind, start, i))
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, kind = i, tag[2:]
    return out


def spans_any_i_continues(tags):
    return sorted(ch11._read_spans(tags, any_i_continues=True))


def spans_b_continues(tags):
    return sorted(ch11._read_spans(tags, b_continues=True))


# --- exercise 3: entity-level precision, recall and F1


def right_prf(true_tags, pred_tags):
    true = {(i, *s) for i, tags in enumerate(true_tags) for s in spans.bio_spans(tags)}
    pred = {(i, *s) for i, tags in enumerate(pred_tags) for s in spans.bio_spans(tags)}
    p = len(true & pred) / len(pred) if pred else 0.0
    r = len(true & pred) / len(true) if true else 0.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def prf_from_counts(true_tags, pred_tags):
    """Another right answer: counts per sentence, a list, F1 as 2TP / (2TP + FP + FN)."""
    tp = fp = fn = 0
    for t, p in zip(true_tags, pred_tags):
        ts, ps = set(spans.bio_spans(t)), set(spans.bio_spans(p))
        tp, fp, fn = tp + len(ts & ps), fp + len(ps - ts), fn + len(ts - ps)
    precision = tp / (tp + fp) if tp + fp else 0
    recall = tp / (tp + fn) if tp + fn else 0
    return [precision, recall, 2 * tp / (2 * tp + fp + fn) if tp else 0]


def prf_library(true_tags, pred_tags):
    scores = spans.span_scores(true_tags, pred_tags)
    return torch.tensor(scores["precision"]), scores["recall"], scores["f1"]


def prf_tokens(true_tags, pred_tags):
    right = sum(t == p != "O" for ts, ps in zip(true_tags, pred_tags) for t, p in zip(ts, ps))
    n_pred = sum(p != "O" for ps in pred_tags for p in ps)
    n_true = sum(t != "O" for ts in true_tags for t in ts)
    prec, rec = right / max(n_pred, 1), right / max(n_true, 1)
    return prec, rec, 2 * prec * rec / (prec + rec) if prec + rec else 0.0


def prf_without_sentence(true_tags, pred_tags):
    true = {s for tags in true_tags for s in spans.bio_spans(tags)}
    pred = {s for tags in pred_tags for s in spans.bio_spans(tags)}
    p, r = len(true & pred) / max(len(pred), 1), len(true & pred) / max(len(true), 1)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def prf_untyped(true_tags, pred_tags):
    true = {(i, s, e) for i, tags in enumerate(true_tags) for _, s, e in spans.bio_spans(tags)}
    pred = {(i, s, e) for i, tags in enumerate(pred_tags) for _, s, e in spans.bio_spans(tags)}
    p, r = len(true & pred) / max(len(pred), 1), len(true & pred) / max(len(true), 1)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def prf_macro(true_tags, pred_tags):
    per = [right_prf([t], [p]) for t, p in zip(true_tags, pred_tags)]
    return tuple(sum(x[k] for x in per) / len(per) for k in range(3))


def prf_swapped(true_tags, pred_tags):
    p, r, f = right_prf(true_tags, pred_tags)
    return r, p, f


def prf_dividing_by_zero(true_tags, pred_tags):
    true = {(i, *s) for i, tags in enumerate(true_tags) for s in spans.bio_spans(tags)}
    pred = {(i, *s) for i, tags in enumerate(pred_tags) for s in spans.bio_spans(tags)}
    p, r = len(true & pred) / len(pred), len(true & pred) / len(true)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


# --- exercise 4: the best well-formed tag sequence


def right_viterbi(scores, tags):
    allowed = torch.tensor([[not b.startswith("I-") or a in ("B-" + b[2:], b) for b in tags]
                            for a in tags])  # (from, to)
    start_ok = torch.tensor([not t.startswith("I-") for t in tags])
    best = scores[0].masked_fill(~start_ok, float("-inf"))  # (n_tags,)
    back = []
    for row in scores[1:]:
        candidates = best.unsqueeze(1).masked_fill(~allowed, float("-inf"))  # (from, to)
        best, arg = candidates.max(dim=0)
        best = best + row
        back.append(arg)
    path = [int(best.argmax())]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return torch.tensor(path[::-1])


def viterbi_as_names(scores, tags):
    """Another right answer: tag names instead of ids."""
    return [tags[i] for i in right_viterbi(scores, tags).tolist()]


def plain_argmax(scores, tags):
    return scores.argmax(-1)


def greedy_valid(scores, tags):
    path = []
    for row in scores:
        order = row.argsort(descending=True).tolist()
        for j in order:
            name = tags[j]
            if not name.startswith("I-") or (path and tags[path[-1]] in ("B-" + name[2:], name)):
                path.append(j)
                break
    return path


RIGHT = [
    (checks.check_real_token_accuracy, right_accuracy),
    (checks.check_real_token_accuracy, accuracy_loop),
    (checks.check_bio_spans, right_spans),
    (checks.check_bio_spans, spans_as_set_of_lists),
    (checks.check_bio_spans, spans.bio_spans),
    (checks.check_bio_spans, spans_with_numpy_and_tensor_bounds),
    (checks.check_entity_prf, right_prf),
    (checks.check_entity_prf, prf_from_counts),
    (checks.check_entity_prf, prf_library),
    (checks.check_valid_tags, right_viterbi),
    (checks.check_valid_tags, viterbi_as_names),
    (checks.check_valid_tags, lambda scores, tags: right_viterbi(scores, tags).numpy()),
    (checks.check_valid_tags, lambda scores, tags: right_viterbi(scores.double(), tags)),
]

WRONG = [
    (checks.check_real_token_accuracy, accuracy_with_padding_as_o, "scored as if its label"),
    (checks.check_real_token_accuracy, lambda lo, la: (lo.argmax(-1) == la).float().mean(),
     "counted in the denominator"),
    (checks.check_real_token_accuracy, lambda lo, la: ((lo.argmax(-1) == la) & (la != -100)).sum(),
     "number of right tokens"),
    (checks.check_real_token_accuracy, accuracy_per_sentence, "averaged the sentences"),
    (checks.check_real_token_accuracy, lambda lo, la: lo.argmax(-1) == la,
     "expected a number for the accuracy, got a tensor of shape"),
    (checks.check_bio_spans, spans_end_inclusive, "end must be exclusive"),
    (checks.check_bio_spans, spans_forgetting_the_last, "ends the sentence is missing"),
    (checks.check_bio_spans, lambda tags: spans.bio_spans(tags, "strict"), "the strict rule"),
    (checks.check_bio_spans, spans_any_i_continues, "does not continue that entity"),
    (checks.check_bio_spans, spans_b_continues, "a B-X always starts a new entity"),
    (checks.check_bio_spans, lambda tags: [("B-" + k, s, e) for k, s, e in spans.bio_spans(tags)],
     "without the 'B-' prefix"),
    (checks.check_bio_spans, lambda tags: [k for k, _, _ in spans.bio_spans(tags)],
     "expected (type, start, end) triples, got a list holding a str"),
    (checks.check_bio_spans, lambda tags: [*spans.bio_spans(tags), None],
     "expected (type, start, end) triples, got a list holding None"),
    (checks.check_bio_spans, lambda tags: [(k, s, None) for k, s, _ in spans.bio_spans(tags)],
     "expected (type, start, end) triples with int start and end, got ('PER', 0, None)"),
    (checks.check_bio_spans, lambda tags: [(k, s + 0.5, e) for k, s, e in spans.bio_spans(tags)],
     "with int start and end, got ('PER', 0.5, 2)"),
    (checks.check_bio_spans, lambda tags: torch.tensor(len(tags)),
     "expected a list of (type, start, end) tuples for the spans, got a 0-dim tensor"),
    (checks.check_bio_spans, lambda tags: [[list(s)] for s in spans.bio_spans(tags)],
     "expected (type, start, end) triples, got a list holding a list of 1 item (list)"),
    (checks.check_entity_prf, prf_tokens, "you counted tokens"),
    (checks.check_entity_prf, prf_without_sentence, "keep the sentence index"),
    (checks.check_entity_prf, prf_untyped, "wrong type must count as wrong"),
    (checks.check_entity_prf, prf_macro, "averaged the sentences' scores"),
    (checks.check_entity_prf, prf_swapped, "swapped"),
    (checks.check_entity_prf, prf_dividing_by_zero, "precision is 0 / 0"),
    (checks.check_entity_prf, lambda t, p: right_prf(t, p)[2], "expected a tuple"),
    (checks.check_entity_prf, lambda t, p: torch.tensor(right_prf(t, p)[2]),
     "expected a tuple (precision, recall, f1), got a 0-dim tensor"),
    (checks.check_entity_prf, lambda t, p: (*right_prf(t, p)[:2], None),
     "expected a number for precision, recall and f1, got NoneType"),
    (checks.check_entity_prf, lambda t, p: [[x] for x in right_prf(t, p)],
     "expected a number for precision, recall and f1, got list"),
    (checks.check_valid_tags, plain_argmax, "not well formed"),
    (checks.check_valid_tags, greedy_valid, "not the best one"),
    (checks.check_valid_tags, lambda scores, tags: right_viterbi(scores, tags)[:-1],
     "one tag per position"),
    (checks.check_valid_tags, lambda scores, tags: right_viterbi(scores, tags)[0],
     "expected a list of 1 tag ids (ints), got a 0-dim tensor"),
    (checks.check_valid_tags, lambda scores, tags: [None] * len(scores),
     "expected a list of 1 tag ids (ints), got a list holding None"),
    (checks.check_valid_tags, lambda scores, tags: [[i] for i in right_viterbi(scores, tags)],
     "got a list holding a list of 1 item (Tensor)"),
    (checks.check_valid_tags, lambda scores, tags: right_viterbi(scores, tags) + len(tags),
     "expected tag ids in [0, 9)"),
]


def brute_force_best(scores, tags):
    best, best_path = -math.inf, None
    for path in itertools.product(range(len(tags)), repeat=scores.shape[0]):
        if spans.is_well_formed([tags[i] for i in path]):
            total = sum(scores[i, j].item() for i, j in enumerate(path))
            if total > best:
                best, best_path = total, list(path)
    return best_path


@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_the_viterbi_reference_is_the_brute_force_optimum(length):
    generator = torch.Generator().manual_seed(length)
    tags = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
    for _ in range(5):
        scores = torch.randn(length, len(tags), generator=generator) * 3
        assert ch11.best_valid_reference(scores, tags) == brute_force_best(scores, tags)
        assert right_viterbi(scores, tags).tolist() == brute_force_best(scores, tags)


def test_allowed_transitions():
    allowed = ch11.allowed_after(ch11.TAGS)
    index = ch11.TAGS.index
    assert allowed[index("B-PER")][index("I-PER")] and allowed[index("I-PER")][index("I-PER")]
    assert not allowed[index("O")][index("I-PER")]
    assert not allowed[index("B-LOC")][index("I-PER")]
    assert all(allowed[i][index("B-ORG")] and allowed[i][index("O")] for i in range(len(ch11.TAGS)))


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_real_token_accuracy(right_accuracy)
    checks.check_bio_spans(right_spans)
    checks.check_entity_prf(right_prf)
    checks.check_valid_tags(right_viterbi)
    torch.testing.assert_close(torch.rand(3), expected)
