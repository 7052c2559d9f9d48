"""Chapter 1's exercise checks accept right answers and explain the typical wrong ones."""

import math

import torch

import transformer_lib as tl
from transformer_lib import checks


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


RIGHT = [
    (checks.check_sinusoidal_encoding, tl.sinusoidal_positional_encoding),
    (checks.check_pad_batch, right_pad_batch),
    (checks.check_relative_position_matrix, right_relative_matrix),
    (checks.check_whole_word_fraction,
     lambda tok, words: sum(len(tok.encode(w).ids) == 1 for w in words) / len(words)),
]

WRONG = [
    (checks.check_sinusoidal_encoding, lambda n, d: tl.sinusoidal_positional_encoding(n, d).T,
     "wrong shape"),
    (checks.check_sinusoidal_encoding,
     lambda n, d: tl.sinusoidal_positional_encoding(n, d, base=100),
     "wrong values"),
    (checks.check_pad_batch, lambda s, p: right_pad_batch(s, p)[0], "expected a tuple"),
    (checks.check_pad_batch,
     lambda s, p: (right_pad_batch(s, p)[0].float(), right_pad_batch(s, p)[1]),
     "must have dtype torch.long"),
    (checks.check_pad_batch, lambda s, p: right_pad_batch(s, 0), "not a hard-coded 0"),
    (checks.check_relative_position_matrix, lambda k, d: torch.eye(d), "wrong values"),
    (checks.check_relative_position_matrix,
     lambda k, d: right_relative_matrix(k, d).T, "wrong values"),
    (checks.check_relative_position_matrix, lambda k, d: torch.eye(d + 1), "expected a ("),
    (checks.check_whole_word_fraction, lambda tok, words: 1 / len(words), "expected"),
    (checks.check_whole_word_fraction,
     lambda tok, words: sum(len(tok.encode(w).ids) == 1 for w in words), "expected"),
    (checks.check_whole_word_fraction, lambda tok, words: len(words) > 0, "expected a number"),
]
