"""Checks for the exercises of chapter 8 (translating numbers into French)."""

import random
from collections.abc import Callable

import torch

from transformer_lib.checks._compare import Case, compare, diagnose, int_list, unpack
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


@check("detokenize")
def check_detokenize(student_fn: Callable):
    """``student_fn(tokens)`` -> the text that ``tokenize`` split: the inverse of tokenization."""
    picks = [0, 7, 21, 71, 80, 97, 100, 101, 1200, 21_000, 80_000, 123_456, 971_625, 999_999]
    for tokens in [number_words.tokenize(number_words.to_words(n, lang))
                   for n in picks for lang in ("en", "fr")]:
        expected = number_words.detokenize(tokens)
        got = call(student_fn, list(tokens))
        if not isinstance(got, str):
            raise Failure(f"expected a str for tokens={tokens}, got {type(got).__name__}")
        if got == expected:
            continue
        hints = {  # hint -> whether it explains the difference
            f"a hyphen joins its neighbours with no spaces, {expected!r}":
                " - " in got and got.replace(" - ", "-") == expected.replace(" - ", "-"),
            f"the hyphens were dropped, expected {expected!r}": "-" in expected and "-" not in got,
            "a comma sticks to the word before it": " ," in got,
        }
        for hint, explains in hints.items():
            if explains:
                raise Failure(f"for {tokens} you wrote {got!r}: {hint}")
        raise Failure(f"for tokens={tokens} expected {expected!r}, got {got!r}")


def _bleu_mistakes(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """hint -> the BLEU score that mistake reports."""
    import sacrebleu

    pairs = list(zip(hypotheses, references))
    spaced = [" ".join(number_words.tokenize(text)) for text in hypotheses + references]
    return {
        "that is the mean of sentence BLEU scores; corpus BLEU adds up the n-gram "
        "counts of all sentences first (sacrebleu.corpus_bleu)":
            sum(sacrebleu.sentence_bleu(h, [r]).score for h, r in pairs) / len(pairs),
        "hypotheses and references are swapped":
            sacrebleu.corpus_bleu(references, [hypotheses]).score,
        "you scored tokenized text (hyphens as words): give sacrebleu the plain "
        "strings": sacrebleu.corpus_bleu(spaced[: len(pairs)], [spaced[len(pairs) :]]).score,
        "BLEU must be in percent (sacrebleu's .score), not a fraction":
            sacrebleu.corpus_bleu(hypotheses, [references]).score / 100,
    }


@check("exact match and BLEU")
def check_translation_scores(student_fn: Callable):
    """``student_fn(hypotheses, references)`` -> ``(exact_match, bleu)`` in percent, BLEU as
    sacrebleu's corpus BLEU of the detokenized strings (default 13a tokenizer)."""
    import sacrebleu

    refs = [number_words.to_words(n, "fr") for n in (971_625, 123_456, 800_080, 461_072, 35_297)]
    cases = [
        (list(refs), refs),  # all right
        (["cent mille", *refs[1:]], refs),  # one very wrong
        ([r.replace("soixante et onze", "soixante-onze").replace("vingt-dix", "vingt-quinze")
          .replace("cent vingt", "cent trente") for r in refs], refs),  # near misses
    ]
    for hypotheses, references in cases:
        inputs = f"hypotheses={hypotheses}"
        exact, bleu = unpack(call(student_fn, list(hypotheses), list(references)),
                             "exact_match, bleu", inputs)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exact, bleu)):
            kinds = f"{type(exact).__name__} and {type(bleu).__name__}"
            raise Failure(f"expected two numbers, got {kinds} (use .score of sacrebleu's result)")
        want_exact = 100.0 * sum(h == r for h, r in zip(hypotheses, references)) / len(references)
        want_bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
        for case in (Case(exact, want_exact, {"give it in percent, like BLEU": want_exact / 100},
                          f"exact match: expected {want_exact:.2f}, got {exact:.4g} for {inputs}"),
                     Case(bleu, want_bleu, _bleu_mistakes(hypotheses, references),
                          f"BLEU: expected {want_bleu:.2f}, got {bleu:.4g} for {inputs}")):
            diagnose([case], atol=1e-5, rtol=1e-6)  # float32 arithmetic passes too


@check("hard alignment", seed=8)
def check_hard_alignment(student_fn: Callable[[torch.Tensor], torch.Tensor], generator):
    """``student_fn(weights (H, T, S))`` -> ``(T,)`` long: for each target position, the source
    position with the largest attention weight averaged over the H heads."""
    for n_heads, length, source_length in [(1, 3, 4), (4, 6, 5), (4, 9, 12)]:
        scores = torch.randn(n_heads, length, source_length, generator=generator) * 3
        weights = scores.softmax(dim=-1)  # (H, T, S)
        got = call(student_fn, weights)
        exact = weights.double()
        expected = exact.mean(dim=0).argmax(dim=-1)  # (T,)
        if not isinstance(got, torch.Tensor):
            raise Failure(f"expected a torch.Tensor of shape ({length},), got {describe(got)}")
        if got.dim() == 1 and got.shape[0] == source_length != length:
            raise Failure("you gave one answer per SOURCE position: take the argmax over the "
                          "source axis (dim=-1), one answer per target position")
        if got.shape == expected.shape and got.is_floating_point():
            raise Failure(f"expected integer positions (argmax), got dtype {got.dtype}")
        compare(got, expected, {"weights": weights}, mistakes={
            "you read only the first head: average the weights over the H heads":
                exact[0].argmax(dim=-1),
            "you took the largest weight of any head: average over the heads":
                exact.max(dim=0).values.argmax(dim=-1),
        })
