"""Chapter 15's exercise checks accept right answers and explain the typical wrong ones
(tests/test_checks.py runs the RIGHT and WRONG tables)."""

import re
from collections import Counter

from rouge_score import rouge_scorer

from transformer_lib import checks
from transformer_lib.checks import ch15


def right_rouge(candidate, reference):
    c, r = ch15._words(candidate), ch15._words(reference)

    def f(hits):
        return 0.0 if hits == 0 else 2 * hits / (len(c) + len(r))

    return f(sum((Counter(c) & Counter(r)).values())), f(ch15._lcs(c, r))


def rouge_with(**mistake):
    return lambda candidate, reference: ch15._rouge(candidate, reference, **mistake)


def right_lead(text, k):
    return " ".join(re.split(r"(?<=[.!?])\s+", text.strip())[:k])


def split_at_every_dot(text, k):
    return " ".join([p.strip() for p in re.split(r"(?<=[.!?])", text) if p.strip()][:k])


def right_numbers(headline, report):
    found = set(re.findall(r"\d+", report))
    return [n for n in re.findall(r"\d+", headline) if n not in found]


def numbers_as_ints(headline, report):
    return [int(n) for n in right_numbers(headline, report)]


def _scores(sentences, reference, measure):
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [getattr(scorer.score(reference, s)["rougeL"], measure) for s in sentences]


def right_oracle(sentences, reference):
    scores = _scores(sentences, reference, "fmeasure")
    return scores.index(max(scores))


def oracle_by_recall(sentences, reference):
    scores = _scores(sentences, reference, "recall")
    return scores.index(max(scores))


RIGHT = [
    (checks.check_rouge_by_hand, right_rouge),
    (checks.check_rouge_by_hand, lambda c, r: list(right_rouge(c, r))),
    (checks.check_lead_k, right_lead),
    (checks.check_unsupported_numbers, right_numbers),
    (checks.check_unsupported_numbers, numbers_as_ints),
    (checks.check_oracle_sentence, right_oracle),
]

WRONG = [
    (checks.check_rouge_by_hand, rouge_with(measure="r"), "that is the recall"),
    (checks.check_rouge_by_hand, rouge_with(measure="p"), "that is the precision"),
    (checks.check_rouge_by_hand, rouge_with(words=str.split), "lowercase and keep letters"),
    (checks.check_rouge_by_hand, rouge_with(sets=True), "as often as it occurs in both"),
    (checks.check_rouge_by_hand, rouge_with(contiguous=True), "SUBSEQUENCE"),
    (checks.check_lead_k, split_at_every_dot, "a dot inside a number"),
    (checks.check_lead_k, lambda text, k: " ".join(re.split(r"(?<=\.)\s+", text)[:k]),
     "'?' and '!'"),
    (checks.check_lead_k, lambda text, k: right_lead(text, k + 1), "one sentence too many"),
    (checks.check_lead_k, lambda text, k: right_lead(text, k - 1), "one sentence too few"),
    (checks.check_lead_k, lambda text, k: " ".join(re.split(r"[.!?]\s+", text)[:k]),
     "final mark"),
    (checks.check_lead_k, lambda text, k: re.split(r"(?<=[.!?])\s+", text)[:k], "one string"),
    (checks.check_unsupported_numbers,
     lambda h, r: [n for n in re.findall(r"\d+", h) if n not in r], "not substrings"),
    (checks.check_unsupported_numbers,
     lambda h, r: [d for d in re.findall(r"\d", h) if d not in re.findall(r"\d", r)],
     "not single digits"),
    (checks.check_unsupported_numbers,
     lambda h, r: [n for n in re.findall(r"\d+", h) if n in re.findall(r"\d+", r)],
     "does NOT contain"),
    (checks.check_unsupported_numbers, lambda h, r: set(right_numbers(h, r)),
     "a list of strings"),
    (checks.check_oracle_sentence, oracle_by_recall, "best recall"),
    (checks.check_oracle_sentence, lambda s, r: s[right_oracle(s, r)], "index"),
    (checks.check_oracle_sentence, lambda s, r: 0, "fmeasure"),
]


def test_each_wrong_answer_gets_its_hint():  # also run by tests/test_checks.py
    for check, answer in RIGHT:
        assert check(answer), check(answer).message
    for check, answer, hint in WRONG:
        result = check(answer)
        assert not result and hint in result.message, (hint, result.message)


def test_a_crash_or_a_bad_result_is_feedback_not_a_traceback():
    for check in (checks.check_rouge_by_hand, checks.check_oracle_sentence):
        result = check(lambda *args: 1 / 0)
        assert not result and "ZeroDivisionError" in result.message
        result = check(lambda *args: object())
        assert not result and "Traceback" not in result.message
