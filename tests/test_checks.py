"""Exercise checks accept right answers and explain wrong ones without raising.

This file holds the cases of chapters 1-2 and runs the same three tests over every chapter's
RIGHT and WRONG tables (tests/test_checks_chNN.py hold the cases of later chapters).
"""

import collections
import importlib
import math
from pathlib import Path

import pytest
import torch

import transformer_lib as tl
from transformer_lib import checks


def not_implemented(*args):
    raise NotImplementedError


def crashes(*args):
    return {}["missing"]


def right_pad_batch(sequences, pad_id):
    ids = torch.full((len(sequences), max(map(len, sequences))), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq)
    return ids, torch.tensor([len(s) for s in sequences])


def right_relative_matrix(offset, d_model):
    matrix = torch.zeros(d_model, d_model)
    for i in range(d_model // 2):
        angle = offset / 10000 ** (2 * i / d_model)
        c, s = math.cos(angle), math.sin(angle)
        matrix[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, s], [-s, c]])
    return matrix


def right_split_heads(x, n_heads):
    batch, length, d_model = x.shape
    return x.view(batch, length, n_heads, d_model // n_heads).transpose(1, 2)


def mean_largest_weight(d_k, scaled, seed=7):
    generator = torch.Generator().manual_seed(seed)
    q, k = torch.randn(200, 8, d_k, generator=generator), torch.randn(200, 8, d_k, generator=generator)
    scores = q @ k.transpose(-2, -1) / (math.sqrt(d_k) if scaled else 1.0)
    return scores.softmax(-1).max(-1).values.mean().item()


RIGHT_CH01_02 = [
    (checks.check_sinusoidal_encoding, tl.sinusoidal_positional_encoding),
    (checks.check_pad_batch, right_pad_batch),
    (checks.check_relative_position_matrix, right_relative_matrix),
    (checks.check_attention_weights,
     lambda q, k: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)),
    (checks.check_causal_mask, tl.causal_mask),
    (checks.check_split_heads, right_split_heads),
    (checks.check_masked_attention, lambda q, k, v, m: tl.scaled_dot_product_attention(q, k, v, m)[0]),
    (checks.check_softmax_saturation, lambda d, s: mean_largest_weight(d, s)),
    (checks.check_whole_word_fraction,
     lambda tok, words: sum(len(tok.encode(w).ids) == 1 for w in words) / len(words)),
]

WRONG_CH01_02 = [
    (checks.check_sinusoidal_encoding, lambda n, d: tl.sinusoidal_positional_encoding(n, d).T,
     "wrong shape"),
    (checks.check_sinusoidal_encoding, lambda n, d: tl.sinusoidal_positional_encoding(n, d, base=100),
     "wrong values"),
    (checks.check_pad_batch, lambda s, p: right_pad_batch(s, p)[0], "expected a tuple"),
    (checks.check_pad_batch, lambda s, p: (right_pad_batch(s, p)[0].float(), right_pad_batch(s, p)[1]),
     "must have dtype torch.long"),
    (checks.check_relative_position_matrix, lambda k, d: torch.eye(d), "wrong values"),
    (checks.check_relative_position_matrix, lambda k, d: right_relative_matrix(k, d).T, "wrong values"),
    (checks.check_relative_position_matrix, lambda k, d: torch.eye(d + 1), "expected a ("),
    (checks.check_attention_weights, lambda q, k: (q @ k.transpose(-2, -1)).softmax(-1),
     "forgot to divide the scores by sqrt(d_k)"),
    (checks.check_attention_weights, lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]),
     "forgot the softmax"),
    (checks.check_attention_weights,
     lambda q, k: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-2), "wrong dimension"),
    (checks.check_attention_weights, lambda q, k: q @ k, "your code raised RuntimeError"),
    (checks.check_causal_mask, lambda t: torch.ones(t, t, dtype=torch.bool).triu(), "leaks the future"),
    (checks.check_causal_mask, lambda t: torch.ones(t, t).tril(), "expected a bool tensor"),
    (checks.check_causal_mask, lambda t: torch.ones(t, t, dtype=torch.bool).tril(-1),
     "attend to itself"),
    (checks.check_split_heads,
     lambda x, h: x.view(x.shape[0], h, x.shape[1], x.shape[2] // h), "heads mix up positions"),
    (checks.check_split_heads, lambda x, h: x.view(x.shape[0], x.shape[1], h, -1), "wrong shape"),
    (checks.check_masked_attention, lambda q, k, v, m: tl.scaled_dot_product_attention(q, k, v)[0],
     "leaks the future"),
    (checks.check_masked_attention, lambda q, k, v, m: q, "wrong values"),
    (checks.check_softmax_saturation, lambda d, s: mean_largest_weight(d, False),
     "not divided by sqrt(d_k)"),
    (checks.check_softmax_saturation, lambda d, s: torch.tensor(mean_largest_weight(d, s)),
     "use .item()"),
    (checks.check_whole_word_fraction, lambda tok, words: 1 / len(words), "expected"),
    (checks.check_whole_word_fraction,
     lambda tok, words: sum(len(tok.encode(w).ids) == 1 for w in words), "expected"),
    (checks.check_whole_word_fraction, lambda tok, words: len(words) > 0, "expected a number"),
]


CHAPTER_FILES = sorted(Path(__file__).parent.glob("test_checks_ch[0-9][0-9].py"))
CHAPTERS = [importlib.import_module(path.stem) for path in CHAPTER_FILES]
RIGHT = RIGHT_CH01_02 + [case for chapter in CHAPTERS for case in chapter.RIGHT]
WRONG = WRONG_CH01_02 + [case for chapter in CHAPTERS for case in chapter.WRONG]
CHECKS = sorted({check for check, _ in RIGHT}, key=lambda check: check.__name__)


def case_id(check, answer):
    return f"{check.__name__}-{getattr(answer, '__name__', 'answer')}"


def test_every_exported_check_is_tested_with_two_wrong_answers():
    assert {c.__name__ for c in CHECKS} == {n for n in dir(checks) if n.startswith("check_")}
    wrong = collections.Counter(check.__name__ for check, _, _ in WRONG)
    assert all(wrong[check.__name__] >= 2 for check in CHECKS), wrong


@pytest.mark.parametrize("check, answer", RIGHT, ids=[case_id(*case) for case in RIGHT])
def test_right_answers_pass(check, answer, capsys):
    result = check(answer)
    assert result and result.passed, result.message
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("check, answer, hint", WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_wrong_answers_get_a_hint(check, answer, hint, capsys):
    result = check(answer)
    assert not result
    assert hint in result.message, result.message
    assert "NOT YET" in capsys.readouterr().out


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_stubs_and_crashes_are_feedback_not_tracebacks(check):
    assert "not implemented yet" in check(not_implemented).message
    assert "your code raised KeyError" in check(crashes).message
    assert '{}["missing"]' in check(crashes).message
    assert "expected" in check(lambda *args: "a string").message
