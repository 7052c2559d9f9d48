"""Checks for the exercises of chapter 8 (translating numbers into French): a split by number,
BLEU by hand, a sweep of beam search's length penalty and a diagonal alignment."""

import math
import random
from collections import Counter
from collections.abc import Callable

import torch

from transformer_lib.checks._compare import (Case, compare, diagnose, int_list, python_number,
                                             unpack)
from transformer_lib.checks._core import Failure, call, check, describe
from transformer_lib.data import number_words


def _three_lists(got, inputs: str) -> list[list[int]]:
    parts = unpack(got, "train, val, test", inputs)
    return [int_list(part, f"expected three lists of ints for {inputs}") for part in parts]


@check("split by number")
def check_split_by_number(student_fn: Callable):
    """``student_fn(examples, n_val, n_test, seed)`` -> ``(train, val, test)``: each distinct number
    of ``examples`` in one split, ``n_val`` and ``n_test`` of them in val and test, seeded."""
    rng = random.Random(8)
    for size, high, n_val, n_test in [(60, 50, 5, 5), (400, 300, 30, 40), (1000, 5000, 50, 100)]:
        examples = [rng.randrange(high) for _ in range(size)]  # duplicates on purpose
        distinct = set(examples)
        inputs = (f"{size} examples of {len(distinct)} distinct numbers, "
                  f"n_val={n_val}, n_test={n_test}")
        train, val, test = _three_lists(call(student_fn, list(examples), n_val, n_test, 0), inputs)
        named = {"train": train, "val": val, "test": test}
        for name, part in named.items():
            if not set(part) <= distinct:
                raise Failure(f"{name} holds numbers that are not in the examples, for {inputs}")
        for a, b in [("train", "test"), ("train", "val"), ("val", "test")]:
            shared = sorted(set(named[a]) & set(named[b]))
            if shared:
                raise Failure(f"number {shared[0]} is in both {a} and {b} ({len(shared)} shared), "
                              f"for {inputs}: the examples repeat numbers, so split the DISTINCT "
                              "numbers, not the list")
        for name, part, want in (("val", val, n_val), ("test", test, n_test)):
            if len(part) != want or len(set(part)) != want:
                raise Failure(f"{name} must hold {want} distinct numbers, got {len(part)} "
                              f"({len(set(part))} distinct), for {inputs}")
        if set(train) | set(val) | set(test) != distinct:
            missing = len(distinct - set(train) - set(val) - set(test))
            raise Failure(f"{missing} distinct numbers are in no split: train gets all the others")
        again = _three_lists(call(student_fn, list(examples), n_val, n_test, 0), inputs)
        if [sorted(p) for p in again] != [sorted(p) for p in (train, val, test)]:
            raise Failure("two calls with seed=0 gave different splits: draw with "
                          "random.Random(seed), not the global random functions")
        other = _three_lists(call(student_fn, list(examples), n_val, n_test, 1), inputs)
        if sorted(other[2]) == sorted(test) and sorted(other[1]) == sorted(val):
            raise Failure("seed=0 and seed=1 gave the same split: the seed is ignored")


def _bleu(hypotheses: list[str], references: list[str], clip: bool = True, bp: bool = True,
          geometric: bool = True) -> float:
    """Corpus BLEU in percent on whitespace tokens, or one of its classic mistakes."""
    matched, total, c, r = [0] * 4, [0] * 4, 0, 0
    for hyp, ref in zip(hypotheses, references):
        hyp, ref = hyp.split(), ref.split()
        c, r = c + len(hyp), r + len(ref)
        for n in range(1, 5):
            h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
            f = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
            matched[n - 1] += sum(min(k, f[g]) if clip else k * (g in f) for g, k in h.items())
            total[n - 1] += sum(h.values())
    if not all(matched):
        return 0.0
    p = [m / t for m, t in zip(matched, total)]
    mean = (math.exp(sum(map(math.log, p)) / 4) if geometric else sum(p) / 4)
    return 100 * mean * (math.exp(1 - r / c) if bp and c < r else 1.0)


def _bleu_cases() -> list[tuple[list[str], list[str]]]:
    """(hypotheses, references) of spaced French tokens: a shorter corpus, a longer one with a
    repeated word, a near miss; every n-gram order has matches."""
    def spaced(n):
        return " ".join(number_words.tokenize(number_words.to_words(n, "fr")))

    refs = [spaced(n) for n in (971_625, 123_456, 80_080, 461_072, 35_297)]
    shorter = [refs[0], spaced(123_000), spaced(80), refs[3], spaced(35_000)]
    longer = [refs[0] + " six six six", refs[1], refs[2] + " quatre quatre", refs[3], refs[4]]
    near = [spaced(971_624), spaced(123_457), refs[2], spaced(461_073), spaced(35_296)]
    return [(shorter, refs), (longer, refs), (near, refs)]


@check("BLEU by hand")
def check_corpus_bleu(student_fn: Callable):
    """``student_fn(hypotheses, references)`` -> corpus BLEU in percent on whitespace tokens:
    ``sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none").score``."""
    import sacrebleu

    cases = []
    for hyps, refs in _bleu_cases():
        got = python_number(call(student_fn, list(hyps), list(refs)), "the BLEU score",
                            (int, float), item=True)
        want = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score
        sentences = [_bleu([h], [r]) for h, r in zip(hyps, refs)]
        cases.append(Case(got, want, {
            "BLEU is in percent (0 to 100), not a fraction": want / 100,
            "count each hypothesis n-gram at most as often as it occurs in the reference "
            "(clipped counts)": _bleu(hyps, refs, clip=False),
            "that is the mean of sentence scores: add up the n-gram counts and lengths of the "
            "whole corpus first, then compute one score": sum(sentences) / len(sentences),
            "the brevity penalty is missing: exp(1 - r / c) when the hypotheses are shorter":
                _bleu(hyps, refs, bp=False),
            "BLEU takes the geometric mean of p_1..p_4 (exp of the mean log), not the "
            "arithmetic mean": _bleu(hyps, refs, geometric=False),
            "hypotheses and references are swapped": _bleu(refs, hyps),
        }, f"for hypotheses {hyps[:2]}... expected {want:.4f}, got {got:.4f}"))
    diagnose(cases, atol=1e-4, rtol=1e-6)


_NUMBERS = [7, 80, 971_625, 21, 1200, 90_090, 123_456, 71]
_FRENCH = {number_words.to_words(n, "en"): number_words.to_words(n, "fr") for n in _NUMBERS}


def _fake_translate(sources: list[str], alpha: float) -> list[str]:
    """A stand-in for beam search: a larger alpha adds words to every third output."""
    out = [_FRENCH[s] for s in sources]
    return [t + " et un" * round(alpha) if i % 3 == 0 else t for i, t in enumerate(out)]


def _sweep(translate, sources, references, alphas, percent=True, total=True, chars=False):
    """alpha -> (exact match, output length / reference length), or a classic mistake."""
    def size(text):
        return len(text) if chars else len(number_words.tokenize(text))

    table = {}
    for alpha in alphas:
        outs = translate(sources, alpha)
        exact = sum(o == r for o, r in zip(outs, references)) / len(references)
        if total:
            ratio = sum(map(size, outs)) / sum(map(size, references))
        else:
            ratio = sum(size(o) / size(r) for o, r in zip(outs, references)) / len(references)
        table[alpha] = (100 * exact if percent else exact, ratio)
    return table


@check("a sweep of the length penalty")
def check_length_sweep(student_fn: Callable):
    """``student_fn(translate, sources, references, alphas)`` -> ``{alpha: (exact match %,
    output tokens / reference tokens)}``, calling ``translate(sources, alpha)`` once per alpha."""
    sources, references = list(_FRENCH), list(_FRENCH.values())
    alphas = [0.0, 1.0, 2.0]
    got = call(student_fn, _fake_translate, list(sources), list(references), list(alphas))
    if not isinstance(got, dict) or sorted(got) != alphas:
        raise Failure(f"expected a dict with the keys {alphas}, got {describe(got)}"
                      + (f" with keys {sorted(got)}" if isinstance(got, dict) else ""))
    want = _sweep(_fake_translate, sources, references, alphas)
    mistakes = {hint: [table[a] for a in alphas] for hint, table in {
        "give the exact match in percent": _sweep(_fake_translate, sources, references, alphas,
                                                  percent=False),
        "the length ratio adds up the tokens of all outputs and divides by those of all "
        "references (as BLEU's c / r), not the mean of the sentences' ratios":
            _sweep(_fake_translate, sources, references, alphas, total=False),
        "count tokens (number_words.tokenize), not characters":
            _sweep(_fake_translate, sources, references, alphas, chars=True),
        "every alpha gave the same outputs: pass each alpha to translate(sources, alpha)":
            {a: want[0.0] for a in alphas},
        "the ratio is upside down: output tokens / reference tokens":
            {a: (e, 1 / r) for a, (e, r) in want.items()},
    }.items()}
    rows = [unpack(got[a], "exact match, length ratio", f"alpha={a}") for a in alphas]
    expected = [want[a] for a in alphas]
    diagnose([Case(rows, expected, mistakes, f"for alphas {alphas} expected {expected}, got "
                   f"{rows}")], atol=1e-6)


@check("a diagonal alignment")
def check_diagonal_alignment(student_fn: Callable):
    """``student_fn(target_length, source_length)`` -> ``(T,)`` long tensor: target position t
    looks at source position ``t * S // T``."""
    for T, S in [(1, 1), (4, 4), (7, 3), (3, 7), (11, 4), (19, 16)]:
        got = call(student_fn, T, S)
        t = torch.arange(T)
        expected = t * S // T
        if isinstance(got, torch.Tensor) and got.shape == (S,) and S != T:
            raise Failure(f"for T={T}, S={S} you gave one position per SOURCE position: give one "
                          "per target position, shape (T,)")
        if isinstance(got, torch.Tensor) and got.shape == (T,) and got.is_floating_point():
            raise Failure(f"expected integer positions (dtype torch.long), got {got.dtype}: use "
                          "integer division, t * S // T")
        compare(got, expected, {"target_length": T, "source_length": S}, long=True, mistakes={
            "the ratio is upside down: position t of T target tokens goes to t * S // T":
                t * T // S,
            "round down (//), do not round to the nearest": (t * S / T).round().long(),
        })
