"""Chapter 11's exercise checks accept right answers and explain the typical wrong ones."""

import collections
import itertools
import math
import random

import numpy as np
import pytest
import torch

from transformer_lib import checks
from transformer_lib.checks import ch11
from transformer_lib.data import spans

# --- exercise 1: the entities of a tag sequence


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


# --- exercise 2: a bootstrap interval over templates


def right_bootstrap(counts, templates, n_resamples=2000, seed=0):
    counts = np.asarray(counts, dtype=float)
    ids, group = np.unique(templates, return_inverse=True)
    per_template = np.zeros((len(ids), 3))
    np.add.at(per_template, group, counts)
    draws = np.random.default_rng(seed).integers(0, len(ids), (n_resamples, len(ids)))
    right, predicted, true = per_template[draws].sum(axis=1).T
    return tuple(np.quantile(2 * right / (predicted + true), [0.025, 0.975]))


def bootstrap_loop(counts, templates, n_resamples=2000, seed=0):
    """Another right answer: Python's random, dictionaries, a sorted list, a list returned."""
    rng = random.Random(seed)
    by_template = collections.defaultdict(list)
    for row, t in zip(counts.tolist(), templates.tolist()):
        by_template[t].append(row)
    names = list(by_template)
    f1 = []
    for _ in range(n_resamples):
        right = predicted = true = 0
        for t in rng.choices(names, k=len(names)):
            for r, p, n in by_template[t]:
                right, predicted, true = right + r, predicted + p, true + n
        f1.append(2 * right / (predicted + true))
    f1.sort()
    return [f1[int(0.025 * n_resamples)], f1[int(0.975 * n_resamples) - 1]]


def bootstrap_torch(counts, templates, n_resamples=2000, seed=0):
    """Another right answer: torch, a tensor of two values."""
    counts, templates = torch.as_tensor(counts).double(), torch.as_tensor(templates)
    ids, group = templates.unique(return_inverse=True)
    per_template = torch.zeros(len(ids), 3, dtype=torch.float64).index_add_(0, group, counts)
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(len(ids), (n_resamples, len(ids)), generator=generator)
    right, predicted, true = per_template[draws].sum(dim=1).T
    return torch.quantile(2 * right / (predicted + true), torch.tensor([0.025, 0.975]).double())


def bootstrap_sentences(counts, templates, n_resamples=2000, seed=0):
    return right_bootstrap(counts, np.arange(len(counts)), n_resamples, seed)


def bootstrap_average(counts, templates, n_resamples=2000, seed=0):
    ids, group = np.unique(templates, return_inverse=True)
    per_template = np.zeros((len(ids), 3))
    np.add.at(per_template, group, counts)
    f1 = 2 * per_template[:, 0] / (per_template[:, 1] + per_template[:, 2])
    draws = np.random.default_rng(seed).integers(0, len(ids), (n_resamples, len(ids)))
    return tuple(np.quantile(f1[draws].mean(axis=1), [0.025, 0.975]))


def bootstrap_without_replacement(counts, templates, n_resamples=2000, seed=0):
    f1 = 2 * counts[:, 0].sum() / (counts[:, 1].sum() + counts[:, 2].sum())
    return f1, f1


def bootstrap_ninety(counts, templates, n_resamples=2000, seed=0):
    ids, group = np.unique(templates, return_inverse=True)
    per_template = np.zeros((len(ids), 3))
    np.add.at(per_template, group, counts)
    draws = np.random.default_rng(seed).integers(0, len(ids), (n_resamples, len(ids)))
    right, predicted, true = per_template[draws].sum(axis=1).T
    return tuple(np.quantile(2 * right / (predicted + true), [0.05, 0.95]))


# --- exercise 3: the best well-formed tag sequence


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
    (checks.check_bio_spans, right_spans),
    (checks.check_bio_spans, spans_as_set_of_lists),
    (checks.check_bio_spans, spans.bio_spans),
    (checks.check_bio_spans, spans_with_numpy_and_tensor_bounds),
    (checks.check_template_bootstrap, right_bootstrap),
    (checks.check_template_bootstrap, bootstrap_loop),
    (checks.check_template_bootstrap, bootstrap_torch),
    (checks.check_valid_tags, right_viterbi),
    (checks.check_valid_tags, viterbi_as_names),
    (checks.check_valid_tags, lambda scores, tags: right_viterbi(scores, tags).numpy()),
    (checks.check_valid_tags, lambda scores, tags: right_viterbi(scores.double(), tags)),
]

WRONG = [
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
    (checks.check_template_bootstrap, bootstrap_sentences, "resampled sentences"),
    (checks.check_template_bootstrap, bootstrap_average, "averaged the drawn templates"),
    (checks.check_template_bootstrap, bootstrap_without_replacement, "*with* replacement"),
    (checks.check_template_bootstrap, bootstrap_ninety, "a 90 % interval"),
    (checks.check_template_bootstrap, lambda *args: right_bootstrap(*args)[::-1],
     "low must not exceed high"),
    (checks.check_template_bootstrap, lambda *args: right_bootstrap(*args)[0],
     "expected a tuple (low, high), got a NumPy array of shape ()"),
    (checks.check_template_bootstrap, lambda *args: (None, 1.0),
     "expected a number for low and high, got NoneType"),
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
    checks.check_bio_spans(right_spans)
    checks.check_template_bootstrap(bootstrap_torch)
    checks.check_valid_tags(right_viterbi)
    torch.testing.assert_close(torch.rand(3), expected)
