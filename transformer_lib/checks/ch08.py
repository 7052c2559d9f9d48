"""Checks for the exercises of chapter 8 (translating numbers into French)."""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from transformer_lib.checks._core import CheckResult, Failure, call, compare, run
from transformer_lib.data import numbers

__all__ = [
    "check_detokenize",
    "check_hard_alignment",
    "check_split_by_number",
    "check_translation_scores",
]


def _three_lists(got, inputs: str):
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise Failure(f"expected a tuple (train, val, test) of three lists for {inputs}, "
                      f"got {got!r:.80}")
    if not all(isinstance(part, (list, tuple)) for part in got):
        kinds = ", ".join(type(part).__name__ for part in got)
        raise Failure(f"expected three lists for {inputs}, got {kinds}")
    return [list(part) for part in got]


def check_split_by_number(student_fn: Callable) -> CheckResult:
    """``student_fn(examples, n_val, n_test, seed)`` -> ``(train, val, test)`` lists of numbers.

    ``examples`` holds numbers drawn WITH replacement (some several times). Every distinct number
    goes to exactly one split; val and test get ``n_val`` and ``n_test`` distinct numbers, train the
    rest; the same seed gives the same split, another seed another split.
    """

    def body():
        rng = random.Random(8)
        cases = [(60, 50, 5, 5), (400, 300, 30, 40), (1000, 5000, 50, 100)]
        for size, high, n_val, n_test in cases:
            examples = [rng.randrange(high) for _ in range(size)]  # duplicates on purpose
            distinct = set(examples)
            inputs = (f"{size} examples of {len(distinct)} distinct numbers, "
                      f"n_val={n_val}, n_test={n_test}")
            given = list(examples)
            train, val, test = _three_lists(call(student_fn, given, n_val, n_test, 0), inputs)
            if given != examples:
                raise Failure("your function changed the list it was given (shuffle a copy)")
            for name, part in (("train", train), ("val", val), ("test", test)):
                if not set(part) <= distinct:
                    raise Failure(f"{name} holds numbers that are not in the examples, "
                                  f"for {inputs}")
            named = {"train": train, "val": val, "test": test}
            for a, b in [("train", "test"), ("train", "val"), ("val", "test")]:
                shared = sorted(set(named[a]) & set(named[b]))
                if shared:
                    raise Failure(
                        f"number {shared[0]} is in both {a} and {b} ({len(shared)} shared), "
                        f"for {inputs}: the examples repeat numbers, so split the DISTINCT "
                        "numbers, not the list"
                    )
            for name, part, want in (("val", val, n_val), ("test", test, n_test)):
                if len(part) != want or len(set(part)) != want:
                    raise Failure(f"{name} must hold {want} distinct numbers, got {len(part)} "
                                  f"({len(set(part))} distinct), for {inputs}")
            if set(train) | set(val) | set(test) != distinct:
                missing = len(distinct - set(train) - set(val) - set(test))
                raise Failure(f"{missing} distinct numbers are in no split: train gets all the "
                              "others")
            again = _three_lists(call(student_fn, list(examples), n_val, n_test, 0), inputs)
            if [sorted(p) for p in again] != [sorted(p) for p in (train, val, test)]:
                raise Failure("two calls with seed=0 gave different splits: draw with "
                              "random.Random(seed), not the global random functions")
            other = _three_lists(call(student_fn, list(examples), n_val, n_test, 1), inputs)
            if sorted(other[2]) == sorted(test) and sorted(other[1]) == sorted(val):
                raise Failure("seed=0 and seed=1 gave the same split: the seed is ignored")

    return run("split by number", body)


def _cases() -> list[list[str]]:
    picks = [0, 7, 21, 71, 80, 97, 100, 101, 1200, 21_000, 80_000, 123_456, 971_625, 999_999]
    return [numbers.tokenize(numbers.to_words(n, lang)) for n in picks for lang in ("en", "fr")]


def check_detokenize(student_fn: Callable) -> CheckResult:
    """``student_fn(tokens)`` -> the text that ``tokenize`` split: the inverse of tokenization."""

    def body():
        for tokens in _cases():
            expected = numbers.detokenize(tokens)
            got = call(student_fn, list(tokens))
            if not isinstance(got, str):
                raise Failure(f"expected a str for tokens={tokens}, got {type(got).__name__}")
            if got == expected:
                continue
            if got.replace(" - ", "-") == expected.replace(" - ", "-") and " - " in got:
                raise Failure(f"for {tokens} you wrote {got!r}: a hyphen joins its neighbours with "
                              f"no spaces, {expected!r}")
            if "-" in expected and "-" not in got:
                raise Failure(f"for {tokens} you wrote {got!r}: the hyphens were dropped, "
                              f"expected {expected!r}")
            if " ," in got:
                raise Failure(f"for {tokens} you wrote {got!r}: a comma sticks to the word "
                              "before it")
            raise Failure(f"for tokens={tokens} expected {expected!r}, got {got!r}")

    return run("detokenize", body)


def _scores(hypotheses, references):
    import sacrebleu

    exact = 100.0 * sum(h == r for h, r in zip(hypotheses, references)) / len(references)
    return exact, sacrebleu.corpus_bleu(hypotheses, [references]).score


def check_translation_scores(student_fn: Callable) -> CheckResult:
    """``student_fn(hypotheses, references)`` -> ``(exact_match, bleu)``, both in percent.

    BLEU is sacrebleu's corpus BLEU of the detokenized strings (default 13a tokenizer).
    """
    import sacrebleu

    def body():
        refs = [numbers.to_words(n, "fr") for n in (971_625, 123_456, 800_080, 461_072, 35_297)]
        cases = [
            (list(refs), refs),  # all right
            (["cent mille", *refs[1:]], refs),  # one very wrong
            ([r.replace("soixante et onze", "soixante-onze").replace("vingt-dix", "vingt-quinze")
              .replace("cent vingt", "cent trente") for r in refs], refs),  # near misses
        ]
        for hypotheses, references in cases:
            inputs = f"hypotheses={hypotheses}"
            got = call(student_fn, list(hypotheses), list(references))
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise Failure(f"expected a tuple (exact_match, bleu) for {inputs}, got {got!r:.80}")
            exact, bleu = got
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in got):
                kinds = f"{type(exact).__name__} and {type(bleu).__name__}"
                raise Failure(f"expected two numbers, got {kinds} (use .score of "
                              "sacrebleu's result)")
            want_exact, want_bleu = _scores(hypotheses, references)
            if abs(exact - want_exact) > 1e-6:
                fraction = abs(100 * exact - want_exact) < 1e-6
                hint = ": give it in percent, like BLEU" if fraction else ""
                raise Failure(f"exact match: expected {want_exact:.2f}, got {exact:.4g} "
                              f"for {inputs}{hint}")
            if abs(bleu - want_bleu) > 1e-6:
                pairs = list(zip(hypotheses, references))
                spaced = [" ".join(numbers.tokenize(text)) for text in hypotheses + references]
                tokenized_bleu = sacrebleu.corpus_bleu(spaced[: len(pairs)], [spaced[len(pairs) :]])
                hints = {
                    "that is the mean of sentence BLEU scores; corpus BLEU adds up the n-gram "
                    "counts of all sentences first (sacrebleu.corpus_bleu)":
                        sum(sacrebleu.sentence_bleu(h, [r]).score for h, r in pairs) / len(pairs),
                    "hypotheses and references are swapped":
                        sacrebleu.corpus_bleu(references, [hypotheses]).score,
                    "you scored tokenized text (hyphens as words): give sacrebleu the plain "
                    "strings": tokenized_bleu.score,
                    "BLEU must be in percent (sacrebleu's .score), not a fraction": want_bleu / 100,
                }
                for hint, wrong in hints.items():
                    if abs(bleu - wrong) < 1e-6 and abs(wrong - want_bleu) > 1e-6:
                        raise Failure(f"BLEU: expected {want_bleu:.2f}, got {bleu:.2f}: {hint}")
                raise Failure(f"BLEU: expected {want_bleu:.2f}, got {bleu:.4g} for {inputs}")

    return run("exact match and BLEU", body)


def check_hard_alignment(student_fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """``student_fn(weights (H, T, S))`` -> ``(T,)`` long: for each target position, the source
    position with the largest attention weight averaged over the H heads."""

    def body():
        generator = torch.Generator().manual_seed(8)
        for n_heads, length, source_length in [(1, 3, 4), (4, 6, 5), (4, 9, 12)]:
            scores = torch.randn(n_heads, length, source_length, generator=generator) * 3
            weights = scores.softmax(dim=-1)  # (H, T, S)
            got = call(student_fn, weights.clone())
            expected = weights.mean(dim=0).argmax(dim=-1)  # (T,)
            inputs = {"weights": weights}
            if not isinstance(got, torch.Tensor):
                raise Failure(f"expected a torch.Tensor of shape ({length},), "
                              f"got {type(got).__name__}")
            if got.dim() == 1 and got.shape[0] == source_length != length:
                raise Failure("you gave one answer per SOURCE position: take the argmax over the "
                              "source axis (dim=-1), one answer per target position")
            if got.shape == expected.shape and got.is_floating_point():
                raise Failure(f"expected integer positions (argmax), got dtype {got.dtype}")
            if got.shape == expected.shape and n_heads > 1 and not torch.equal(got, expected):
                if torch.equal(got, weights[0].argmax(dim=-1)):
                    raise Failure("you read only the first head: average the weights over the "
                                  "H heads")
                if torch.equal(got, weights.max(dim=0).values.argmax(dim=-1)):
                    raise Failure("you took the largest weight of any head: average over the heads")
            compare(got.float() if got.shape == expected.shape else got, expected.float(), inputs)

    return run("hard alignment", body)
