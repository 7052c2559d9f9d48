"""Chapter 8's exercise checks accept right answers and explain the typical wrong ones."""

import random

import numpy as np
import sacrebleu
import torch

from transformer_lib import checks
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


def right_scores(hypotheses, references):
    exact = 100 * sum(h == r for h, r in zip(hypotheses, references)) / len(references)
    return exact, sacrebleu.corpus_bleu(hypotheses, [references]).score


def sentence_average(hypotheses, references):
    exact, _ = right_scores(hypotheses, references)
    bleus = [sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(hypotheses, references)]
    return exact, sum(bleus) / len(bleus)


def tokenized_bleu(hypotheses, references):
    def spaced(texts):
        return [" ".join(number_words.tokenize(t)) for t in texts]

    exact, _ = right_scores(hypotheses, references)
    return exact, sacrebleu.corpus_bleu(spaced(hypotheses), [spaced(references)]).score


def scores_in_float32(hypotheses, references):
    same = torch.tensor([h == r for h, r in zip(hypotheses, references)], dtype=torch.float32)
    return (100 * same.mean()).item(), sacrebleu.corpus_bleu(hypotheses, [references]).score


def right_alignment(weights):
    return weights.mean(dim=0).argmax(dim=-1)


RIGHT = [
    (checks.check_split_by_number, right_split),
    (checks.check_split_by_number, split_as_numpy_and_tensors),
    (checks.check_detokenize, number_words.detokenize),
    (checks.check_detokenize,
     lambda tokens: " ".join(tokens).replace(" - ", "-").replace(" ,", ",")),
    (checks.check_translation_scores, right_scores),
    (checks.check_translation_scores, scores_in_float32),
    (checks.check_hard_alignment, right_alignment),
    (checks.check_hard_alignment, lambda w: w.sum(dim=0).argmax(dim=-1)),
    (checks.check_hard_alignment, lambda w: w.double().mean(dim=0).argmax(dim=-1)),
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
    (checks.check_detokenize, lambda tokens: " ".join(tokens), "joins its neighbours"),
    (checks.check_detokenize, lambda tokens: " ".join(t for t in tokens if t != "-"),
     "hyphens were dropped"),
    (checks.check_detokenize, lambda tokens: " ".join(tokens).replace(" - ", "-"), "comma sticks"),
    (checks.check_detokenize, lambda tokens: tokens, "expected a str"),
    (checks.check_translation_scores, sentence_average, "mean of sentence BLEU"),
    (checks.check_translation_scores,
     lambda h, r: (right_scores(h, r)[0] / 100, right_scores(h, r)[1]),
     "in percent, like BLEU"),
    (checks.check_translation_scores, lambda h, r: (right_scores(h, r)[0], right_scores(r, h)[1]),
     "swapped"),
    (checks.check_translation_scores, tokenized_bleu, "tokenized text"),
    (checks.check_translation_scores,
     lambda h, r: (right_scores(h, r)[0], sacrebleu.corpus_bleu(h, [r])), "use .score"),
    (checks.check_hard_alignment, lambda w: w[0].argmax(dim=-1), "only the first head"),
    (checks.check_hard_alignment,
     lambda w: w.max(dim=0).values.argmax(dim=-1), "largest weight of any"),
    (checks.check_hard_alignment, lambda w: w.mean(dim=0).argmax(dim=0), "per SOURCE position"),
    (checks.check_hard_alignment, lambda w: w.mean(dim=0).max(dim=-1).values, "integer positions"),
    (checks.check_hard_alignment, lambda w: w.mean(dim=0), "wrong shape"),
    (checks.check_hard_alignment, lambda w: w.mean(dim=0).argmax(dim=-1).tolist(),
     "expected a torch.Tensor of shape (3,), got a list of 3 items (int)"),
]


def test_checks_leave_the_global_random_streams_alone():
    torch.manual_seed(0)
    random.seed(0)
    expected = torch.rand(3), random.random()
    torch.manual_seed(0)
    random.seed(0)
    checks.check_split_by_number(right_split)
    checks.check_hard_alignment(right_alignment)
    torch.testing.assert_close(torch.rand(3), expected[0])
    assert random.random() == expected[1]
