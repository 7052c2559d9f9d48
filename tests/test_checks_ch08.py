"""Chapter 8's exercise checks accept right answers and explain the typical wrong ones."""

import math
import random
from collections import Counter

import numpy as np
import sacrebleu
import torch

from transformer_lib import checks
from transformer_lib.checks import ch08
from transformer_lib.data import number_words


def right_split(examples, n_val, n_test, seed):
    distinct = sorted(set(examples))
    random.Random(seed).shuffle(distinct)
    return distinct[n_val + n_test :], distinct[:n_val], distinct[n_val : n_val + n_test]


def split_the_list(examples, n_val, n_test, seed):
    """The leak: the list holds duplicates, so a number lands in two splits."""
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    return shuffled[n_val + n_test :], shuffled[:n_val], shuffled[n_val : n_val + n_test]


def unseeded_split(examples, n_val, n_test, seed):
    distinct = sorted(set(examples))
    random.shuffle(distinct)  # the global stream: another split on every call
    return distinct[n_val + n_test :], distinct[:n_val], distinct[n_val : n_val + n_test]


def seed_ignored(examples, n_val, n_test, seed):
    return right_split(examples, n_val, n_test, 0)


def shuffles_in_place(examples, n_val, n_test, seed):
    random.Random(seed).shuffle(examples)
    return right_split(examples, n_val, n_test, seed)


def train_forgotten(examples, n_val, n_test, seed):
    train, val, test = right_split(examples, n_val, n_test, seed)
    return train[:-1], val, test


def split_as_numpy_and_tensors(examples, n_val, n_test, seed):
    """Another right answer: NumPy integers and 0-dim integer tensors are ints too."""
    train, val, test = right_split(examples, n_val, n_test, seed)
    return list(np.array(train)), [torch.tensor(n) for n in val], test


def right_bleu(hypotheses, references):
    """Corpus BLEU by hand: clipped n-gram counts over the whole corpus, then one score."""
    matched, total, c, r = [0] * 4, [0] * 4, 0, 0
    for hyp, ref in zip(hypotheses, references):
        hyp, ref = hyp.split(), ref.split()
        c, r = c + len(hyp), r + len(ref)
        for n in range(1, 5):
            h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
            f = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
            matched[n - 1] += sum(min(k, f[g]) for g, k in h.items())
            total[n - 1] += sum(h.values())
    log_mean = sum(math.log(m / t) for m, t in zip(matched, total)) / 4
    return 100 * math.exp(log_mean) * min(1.0, math.exp(1 - r / c))


def bleu_with(**changes):
    """A wrong BLEU: the check's reference computation with one mistake switched on."""
    return lambda h, r: ch08._bleu(h, r, **changes)


def sentence_mean_bleu_no_crash(hypotheses, references):
    scores = []
    for h, r in zip(hypotheses, references):
        try:
            scores.append(right_bleu([h], [r]))
        except (ValueError, ZeroDivisionError):  # no 4-gram match, or no 4-gram at all
            scores.append(0.0)
    return sum(scores) / len(scores)


def right_sweep(translate, sources, references, alphas):
    table = {}
    for alpha in alphas:
        outputs = translate(sources, alpha)
        exact = sum(o == r for o, r in zip(outputs, references)) / len(references)
        size = sum(len(number_words.tokenize(o)) for o in outputs)
        table[alpha] = (100 * exact, size / sum(len(number_words.tokenize(r))
                                                for r in references))
    return table


def sweep_one_alpha(translate, sources, references, alphas):
    return right_sweep(lambda s, a: translate(s, 0.0), sources, references, alphas)


def sweep_mean_ratio(translate, sources, references, alphas):
    table = {}
    for alpha in alphas:
        outputs = translate(sources, alpha)
        exact = 100 * sum(o == r for o, r in zip(outputs, references)) / len(references)
        ratios = [len(number_words.tokenize(o)) / len(number_words.tokenize(r))
                  for o, r in zip(outputs, references)]
        table[alpha] = (exact, sum(ratios) / len(ratios))
    return table


def right_diagonal(target_length, source_length):
    return torch.arange(target_length) * source_length // target_length


RIGHT = [
    (checks.check_split_by_number, right_split),
    (checks.check_split_by_number, split_as_numpy_and_tensors),
    (checks.check_corpus_bleu, right_bleu),
    (checks.check_corpus_bleu, lambda h, r: sacrebleu.corpus_bleu(h, [r], tokenize="none").score),
    (checks.check_corpus_bleu, lambda h, r: torch.tensor(right_bleu(h, r))),
    (checks.check_length_sweep, right_sweep),
    (checks.check_length_sweep, lambda *args: {a: list(v) for a, v in right_sweep(*args).items()}),
    (checks.check_diagonal_alignment, right_diagonal),
    (checks.check_diagonal_alignment,
     lambda T, S: torch.tensor([t * S // T for t in range(T)])),
]

WRONG = [
    (checks.check_split_by_number, split_the_list, "split the DISTINCT numbers"),
    (checks.check_split_by_number, unseeded_split, "different splits"),
    (checks.check_split_by_number, seed_ignored, "the seed is ignored"),
    (checks.check_split_by_number, shuffles_in_place, "changed its input"),
    (checks.check_split_by_number, train_forgotten, "in no split"),
    (checks.check_split_by_number,
     lambda e, v, t, s: set(right_split(e, v, t, s)), "expected a tuple"),
    (checks.check_split_by_number, lambda e, v, t, s: tuple(map(set, right_split(e, v, t, s))),
     "expected three lists"),
    (checks.check_split_by_number, lambda e, v, t, s: ([[n] for n in set(e)], [None], []),
     "expected three lists of ints for 60 examples of 36 distinct numbers, n_val=5, n_test=5, "
     "got a list holding a list of 1 item (int)"),
    (checks.check_split_by_number, lambda e, v, t, s: ([None], [], []),
     "got a list holding None"),
    (checks.check_split_by_number, lambda e, v, t, s: ([1.5], [], []),
     "got a list holding a float"),
    (checks.check_split_by_number, lambda e, v, t, s: torch.tensor(3),
     "expected a tuple (train, val, test)"),
    (checks.check_corpus_bleu, bleu_with(clip=False), "clipped counts"),
    (checks.check_corpus_bleu, sentence_mean_bleu_no_crash, "mean of sentence scores"),
    (checks.check_corpus_bleu, bleu_with(bp=False), "brevity penalty is missing"),
    (checks.check_corpus_bleu, bleu_with(geometric=False), "not the arithmetic mean"),
    (checks.check_corpus_bleu, lambda h, r: right_bleu(h, r) / 100, "not a fraction"),
    (checks.check_corpus_bleu, lambda h, r: right_bleu(r, h), "swapped"),
    (checks.check_corpus_bleu, lambda h, r: sacrebleu.corpus_bleu(h, [r], tokenize="none"),
     "expected a number for the BLEU score, got BLEUScore"),
    (checks.check_corpus_bleu, lambda h, r: math.log(0), "your code raised ValueError"),
    (checks.check_length_sweep, sweep_one_alpha, "pass each alpha"),
    (checks.check_length_sweep, sweep_mean_ratio, "not the mean of the sentences' ratios"),
    (checks.check_length_sweep,
     lambda *args: {a: (e / 100, r) for a, (e, r) in right_sweep(*args).items()}, "in percent"),
    (checks.check_length_sweep,
     lambda *args: {a: (e, 1 / r) for a, (e, r) in right_sweep(*args).items()}, "upside down"),
    (checks.check_length_sweep, lambda *args: list(right_sweep(*args).values()),
     "expected a dict with the keys [0.0, 1.0, 2.0], got a list of 3 items"),
    (checks.check_length_sweep, lambda *args: {a: e for a, (e, _) in right_sweep(*args).items()},
     "expected a tuple (exact match, length ratio) for alpha=0.0"),
    (checks.check_diagonal_alignment, lambda T, S: torch.arange(T) * T // S, "upside down"),
    (checks.check_diagonal_alignment, lambda T, S: (torch.arange(T) * S / T).round().long(),
     "round down"),
    (checks.check_diagonal_alignment, lambda T, S: torch.arange(T) * S / T, "integer positions"),
    (checks.check_diagonal_alignment, lambda T, S: torch.arange(S) * T // S, "SOURCE position"),
    (checks.check_diagonal_alignment, lambda T, S: (torch.arange(T) * S // T).tolist(),
     "expected a torch.Tensor"),
]


def test_checks_leave_the_global_random_streams_alone():
    torch.manual_seed(0)
    random.seed(0)
    expected = torch.rand(3), random.random()
    torch.manual_seed(0)
    random.seed(0)
    checks.check_split_by_number(right_split)
    checks.check_diagonal_alignment(right_diagonal)
    torch.testing.assert_close(torch.rand(3), expected[0])
    assert random.random() == expected[1]
