"""Checks for the exercises of chapter 15 (abstractive summarization): ROUGE-1 and ROUGE-L by
hand, the lead-k baseline, the numbers a headline makes up, and the best single sentence."""

import re
from collections import Counter
from collections.abc import Callable

from transformer_lib.checks._compare import Case, diagnose, python_number, unpack
from transformer_lib.checks._core import Failure, call, check, describe


def _words(text: str) -> list[str]:
    """rouge-score's tokenizer without stemming: lowercase, letters and digits only."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def _lcs(a: list[str], b: list[str], contiguous: bool = False) -> int:
    """Longest common subsequence (or, with contiguous, substring) of two token lists."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            if x == y:
                table[i + 1][j + 1] = table[i][j] + 1
            elif not contiguous:
                table[i + 1][j + 1] = max(table[i][j + 1], table[i + 1][j])
    return max(map(max, table)) if contiguous else table[-1][-1]


def _rouge(candidate: str, reference: str, measure: str = "f", words=_words, sets=False,
           contiguous=False) -> tuple[float, float]:
    """(ROUGE-1, ROUGE-L) of candidate against reference, or one of the classic mistakes."""
    c, r = words(candidate), words(reference)
    if sets:
        overlap = len(set(c) & set(r))
    else:
        overlap = sum((Counter(c) & Counter(r)).values())
    out = []
    for hits in (overlap, _lcs(c, r, contiguous)):
        p, rec = (hits / len(c) if c else 0.0), (hits / len(r) if r else 0.0)
        out.append({"f": 2 * p * rec / (p + rec) if p + rec else 0.0, "p": p, "r": rec}[measure])
    return tuple(out)


_PAIRS = [  # (candidate, reference): case, punctuation, repeats, order, no overlap
    ("Holt Group buys Marsh Foods for $19 billion",
     "Holt Group to buy Marsh Foods in $19 billion deal"),
    ("storm storm cuts power to 7700 homes", "Storm leaves 7700 homes without power in Ayersville"),
    ("Rovers beat United 2-1", "United lost 1-2 to the Rovers"),
    ("a storm after a storm hits Leeton", "Leeton hit by a storm after a storm"),
    ("Finance minister Ann Lee resigns", "Ann Lee quits as finance minister"),
    ("No injuries", "Acme recalls 500 kettles"),
]


@check("ROUGE-1 and ROUGE-L by hand")
def check_rouge_by_hand(student_fn: Callable):
    """``student_fn(candidate, reference)`` -> ``(ROUGE-1 F, ROUGE-L F)``, as
    ``rouge_scorer.RougeScorer(["rouge1", "rougeL"]).score(reference, candidate)`` gives them."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    cases = []
    for candidate, reference in _PAIRS:
        got = unpack(call(student_fn, candidate, reference), "rouge1, rougeL",
                     f"for {candidate!r}")
        got = tuple(python_number(g, "each score", (int, float), item=True) for g in got)
        score = scorer.score(reference, candidate)
        want = (score["rouge1"].fmeasure, score["rougeL"].fmeasure)
        cases.append(Case(got, want, {
            "that is the recall (overlap / reference length); ROUGE F is the harmonic mean of "
            "precision and recall": _rouge(candidate, reference, "r"),
            "that is the precision (overlap / candidate length); ROUGE F is the harmonic mean of "
            "precision and recall": _rouge(candidate, reference, "p"),
            "lowercase and keep letters and digits only before splitting, as rouge-score does "
            "('$19' is the word '19', 'Storm' is 'storm')":
                _rouge(candidate, reference, words=str.split),
            "count a word as often as it occurs in both (min of the two counts), not once per "
            "distinct word": _rouge(candidate, reference, sets=True),
            "ROUGE-L uses the longest common SUBSEQUENCE (words in order, gaps allowed), not the "
            "longest common run of adjacent words": _rouge(candidate, reference,
                                                             contiguous=True),
        }, f"for candidate {candidate!r} and reference {reference!r} expected "
           f"({want[0]:.4f}, {want[1]:.4f}), got ({got[0]:.4f}, {got[1]:.4f})"))
    diagnose(cases, atol=1e-6, rtol=1e-6)


_TEXTS = [
    'Shares rose 2.5 percent on Monday. "It is a good day," said Ann Lee. Will it last? Nobody '
    "knows.",
    "A storm hit Ayersville. 7700 homes lost power! Schools are closed.",
]


def _lead(text: str, k: int, pattern: str = r"(?<=[.!?])\s+", shift: int = 0) -> str:
    sentences = [s for s in re.split(pattern, text) if s]
    return " ".join(sentences[: max(k + shift, 0)])


@check("the lead-k baseline")
def check_lead_k(student_fn: Callable):
    """``student_fn(text, k)`` -> the first ``k`` sentences of ``text`` as one string; a sentence
    ends with ``.``, ``?`` or ``!`` followed by a space (or the end); all of text if k is larger."""
    cases = []
    for text in _TEXTS:
        n = len(re.split(r"(?<=[.!?])\s+", text))
        for k in (1, 2, n + 2):
            got = call(student_fn, text, k)
            if not isinstance(got, str):
                raise Failure(f"expected one string (the sentences joined by a space), got "
                              f"{describe(got)} for k={k}")
            want = _lead(text, k)
            cases.append(Case(got, want, {
                "a dot inside a number ('2.5') does not end a sentence: split where '.', '?' or "
                "'!' is followed by whitespace": " ".join(
                    [p.strip() for p in re.split(r"(?<=[.!?])", text) if p.strip()][:k]),
                "'?' and '!' end a sentence too": _lead(text, k, r"(?<=\.)\s+"),
                "that is one sentence too many: k=1 is the first sentence alone":
                    _lead(text, k, shift=1),
                "that is one sentence too few": _lead(text, k, shift=-1),
                "keep each sentence's final mark: split after it, not on it":
                    " ".join(re.split(r"[.!?]\s+", text)[:k]),
            }, f"for k={k} and text {text[:40]!r}... expected {want!r}, got {got!r}"))
    diagnose(cases)


_NUMBER_CASES = [  # (headline, report, numbers of the headline missing from the report)
    ("Acme recalls 700 kettles", "Acme is recalling 7700 kettles. It has 700 staff.", []),
    ("Storm leaves 7700 homes without power", "A storm left 77000 homes without power.", ["7700"]),
    ("Rovers beat United 3-1", "United lost 1-0 to Rovers on Monday.", ["3"]),
    ("Lee Bank sold for $47 billion", "Holt Group paid 74 billion dollars for Lee Bank.", ["47"]),
    ("Holt Group buys Lee Bank for $47 billion", "Holt Group will pay 74 billion dollars for Lee "
     "Bank, which employs 4700 people.", ["47"]),
    ("Ann Lee resigns", "Ann Lee resigned on Monday after 9 years.", []),
]


@check("numbers a headline makes up")
def check_unsupported_numbers(student_fn: Callable):
    """``student_fn(headline, report)`` -> the numbers (strings of digits) of ``headline``, in
    order, that are not among the numbers of ``report``."""
    cases = []
    for headline, report, want in _NUMBER_CASES:
        got = call(student_fn, headline, report)
        if not isinstance(got, (list, tuple)):
            raise Failure(f"expected a list of strings, got {describe(got)} for {headline!r}")
        got = [str(item) for item in got]
        numbers = re.findall(r"\d+", headline)
        cases.append(Case(got, want, {
            "'700' is not a number of a report that says 7700: compare whole numbers (e.g. "
            "re.findall(r'\\d+', ...)), not substrings":
                [n for n in numbers if n not in report],
            "find whole numbers (r'\\d+'), not single digits":
                [d for d in re.findall(r"\d", headline) if d not in re.findall(r"\d", report)],
            "return only the numbers the report does NOT contain": [n for n in numbers
                                                                    if n not in want],
        }, f"for headline {headline!r} and report {report!r} expected {want}, got {got}"))
    diagnose(cases)


_SENTENCES = [
    "Shares of Holt Group jumped on Monday.",
    "Holt Group said on Monday that it would buy Lee Bank in a deal worth 19 billion dollars, "
    "the biggest deal the bank has seen in its long history of deals.",
    "Holt Group buys Lee Bank.",
    "Lee Bank employs 4700 people.",
]
_REFERENCES = ["Holt Group buys Lee Bank for $19 billion", "Lee Bank jobs: 4700 people",
               "Holt Group shares jump"]


@check("the best single sentence")
def check_oracle_sentence(student_fn: Callable):
    """``student_fn(sentences, reference)`` -> the index of the sentence whose ROUGE-L F against
    ``reference`` (rouge-score, stemmer on) is highest; the first one on a tie."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    for reference in _REFERENCES:
        scores = [scorer.score(reference, s)["rougeL"] for s in _SENTENCES]
        want = max(range(len(scores)), key=lambda i: (scores[i].fmeasure, -i))
        got = call(student_fn, list(_SENTENCES), reference)
        if isinstance(got, str):
            raise Failure("expected the sentence's index (an int), not the sentence")
        got = python_number(got, "the index", int, item=True)
        if got != want:
            by_recall = max(range(len(scores)), key=lambda i: (scores[i].recall, -i))
            hint = ("that sentence has the best recall, since long sentences hold more words; "
                    "take the F measure" if got == by_recall else
                    "compare each sentence's rougeL fmeasure, scorer.score(reference, sentence)")
            raise Failure(f"for reference {reference!r} expected sentence {want}, got {got}: "
                          f"{hint}")
