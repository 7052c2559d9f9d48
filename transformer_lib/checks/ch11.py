"""Checks for the exercises of chapter 11 (named entities)."""

import functools
import math
import random
from collections.abc import Callable, Sequence
from operator import itemgetter

import numpy as np
import torch

from transformer_lib.checks._compare import Case, as_int, diagnose, int_list, python_number
from transformer_lib.checks._core import Failure, call, check, describe
from transformer_lib.data.entities import TAGS
from transformer_lib.data.spans import bio_spans, is_well_formed


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


def _template_data(rng: np.random.Generator, n_templates: int):
    """Per-sentence (right, predicted, true) counts and template ids: templates of very different
    sizes and qualities, the big ones the good ones (so pooling and averaging disagree)."""
    sizes = np.linspace(10, 120, n_templates).astype(int)
    quality = np.linspace(0.3, 1.0, n_templates)
    counts, templates = [], []
    for t, (size, q) in enumerate(zip(sizes, quality)):
        true = rng.integers(1, 4, size)
        pred = np.maximum(true + rng.integers(-1, 2, size), 0)
        right = rng.binomial(np.minimum(true, pred), q)
        counts.append(np.stack([right, pred, true], axis=1))
        templates += [100 + 3 * t] * size  # ids need not be 0 .. G - 1
    order = rng.permutation(len(templates))  # the sentences of a template are not contiguous
    return np.concatenate(counts)[order], np.array(templates)[order]


def _interval(counts, templates, n, quantiles=(0.025, 0.975), average=False, seed=0):
    """The reference bootstrap (templates drawn with replacement, counts pooled), or a mistake."""
    ids, group = np.unique(templates, return_inverse=True)
    per = np.zeros((len(ids), 3))
    np.add.at(per, group, counts)
    draws = np.random.default_rng(seed).integers(0, len(ids), (n, len(ids)))
    if average:  # the mean of the drawn templates' own F1
        f1 = (2 * per[:, 0] / np.maximum(per[:, 1] + per[:, 2], 1))[draws].mean(axis=1)
    else:
        right, pred, true = per[draws].sum(axis=1).T
        f1 = 2 * right / np.maximum(pred + true, 1)
    return tuple(float(q) for q in np.quantile(f1, quantiles))


def _two_numbers(got) -> tuple[float, float]:
    if hasattr(got, "tolist") and getattr(got, "ndim", 0) == 1:
        got = got.tolist()
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Failure(f"expected a tuple (low, high), got {describe(got)}")
    low, high = (float(python_number(v, "low and high", (int, float), item=True)) for v in got)
    if low > high:
        raise Failure(f"low must not exceed high, got ({low:.4f}, {high:.4f})")
    return low, high


@check("a bootstrap interval over templates")
def check_template_bootstrap(student_fn: Callable):
    """``student_fn(counts (N, 3), templates (N,), n_resamples, seed)`` -> ``(low, high)``, the
    95 % percentile interval of the F1 of the templates resampled with replacement."""
    cases, n, many = [], 5000, 10_000
    for seed, n_templates in ((61, 12), (62, 18)):
        counts, templates = _template_data(np.random.default_rng(seed), n_templates)
        expected = _interval(counts, templates, many)
        got = _two_numbers(call(student_fn, counts.copy(), templates.copy(), n, seed))
        pooled = 2 * counts[:, 0].sum() / (counts[:, 1].sum() + counts[:, 2].sum())
        mistakes = {
            "you resampled sentences, not templates: draw whole templates (with their "
            "sentences) and pool their counts": _interval(counts, np.arange(len(counts)), 2000),
            "you averaged the drawn templates' own F1 scores: pool their right, predicted and "
            "true entities, then compute one F1 = 2 right / (predicted + true)":
                _interval(counts, templates, many, average=True),
            "every resample is the whole set: draw the templates *with* replacement":
                (pooled, pooled),
            "that is a 90 % interval: take the 2.5th and 97.5th percentiles":
                _interval(counts, templates, many, (0.05, 0.95)),
        }
        shown = (f"for {n_templates} templates and {len(counts)} sentences the interval is "
                 f"about ({expected[0]:.3f}, {expected[1]:.3f}), you returned "
                 f"({got[0]:.3f}, {got[1]:.3f})")
        cases.append(Case(got, expected, mistakes, shown))
    diagnose(cases, atol=0.015, rtol=0)  # the noise of 5 000 resamples is about 0.003


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
