"""Checks for the exercises of chapter 1 (tokens, embeddings and positions)."""

from collections.abc import Callable

import torch
from torch.nn.utils.rnn import pad_sequence

from transformer_lib.checks._compare import compare, python_number, unpack
from transformer_lib.checks._core import Failure, call, check


def _encodings(max_len: int, d_model: int) -> torch.Tensor:
    """The paper's ``(max_len, D)`` sinusoidal encodings in float64, the truth float32 rounds."""
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    angle = position / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)  # sin, cos, sin, ...


@check("sinusoidal positional encoding")
def check_sinusoidal_encoding(student_fn: Callable[[int, int], torch.Tensor]):
    """``student_fn(max_len, d_model)`` must return the paper's ``(max_len, D)`` encodings."""
    for max_len, d_model in [(4, 2), (10, 8), (50, 16), (128, 64)]:
        got = call(student_fn, max_len, d_model)
        compare(got, _encodings(max_len, d_model), {"max_len": max_len, "d_model": d_model},
                atol=1e-4)  # float32 rounds angles up to 127 by about 1e-5


@check("pad a batch of token-id sequences", seed=0)
def check_pad_batch(student_fn: Callable, generator):
    """``student_fn(sequences, pad_id)`` -> ``(ids (B, T) long, lengths (B,) long)``."""
    cases = [([[5, 6, 7], [8]], 0), ([[1], [2], [3]], 9), ([[4, 4]], 0),
             ([[1, 2], [3], [4, 2, 6]], 2)]  # ragged, and the pad id is also a real token
    for _ in range(3):
        lengths = torch.randint(1, 8, (4,), generator=generator).tolist()
        cases.append(([torch.randint(1, 50, (n,), generator=generator).tolist()
                       for n in lengths], 0))
    for sequences, pad_id in cases:
        got = unpack(call(student_fn, sequences, pad_id), "ids, lengths")
        inputs = {"sequences": sequences, "pad_id": pad_id}
        rows = [torch.tensor(s) for s in sequences]
        ids = pad_sequence(rows, batch_first=True, padding_value=pad_id)  # (B, T)
        compare(got[0], ids, inputs, what="ids", long=True, mistakes={
            "pad with pad_id, not a hard-coded 0": pad_sequence(rows, batch_first=True)})
        compare(got[1], torch.tensor([len(s) for s in sequences]), inputs, what="lengths",
                long=True)


@check("relative position as a linear map")
def check_relative_position_matrix(student_fn: Callable[[int, int], torch.Tensor]):
    """``student_fn(offset, d_model)`` must return M ``(D, D)`` with PE[p + offset] = M @ PE[p]."""
    for offset, d_model in [(1, 2), (3, 8), (10, 16), (25, 64)]:
        got = call(student_fn, offset, d_model)
        inputs = {"offset": offset, "d_model": d_model}
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (d_model, d_model):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise Failure(f"expected a ({d_model}, {d_model}) tensor for {inputs}, got {shape}")
        pe = _encodings(200, d_model)
        shifted = pe[:-offset] @ got.detach().double().T  # rows: M @ PE[p]
        compare(shifted, pe[offset:], inputs, atol=1e-3, rtol=1e-3)


@check("whole-word fraction")
def check_whole_word_fraction(student_fn: Callable):
    """``student_fn(tokenizer, words)`` -> fraction of ``words`` encoded as exactly one token,
    for two small BPE tokenizers (``tokenizers`` package) trained on Python's help pages."""
    from pydoc_data.topics import topics

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    words = ["function", "the", "Transformer", "tokenization", "def", "xyzzy", "return", "a"]
    for vocab_size in (300, 3000):
        tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["[UNK]"],
                                      show_progress=False)
        tokenizer.train_from_iterator(list(topics.values())[::4], trainer)
        for sample in (words, words[:3], ["function"]):
            inputs = f"{len(sample)} words with a {vocab_size}-token BPE"
            got = python_number(call(student_fn, tokenizer, sample), inputs, (int, float))
            expected = sum(len(e.ids) == 1 for e in tokenizer.encode_batch(sample)) / len(sample)
            if abs(got - expected) > 1e-9:
                raise Failure(f"for {inputs} expected {expected:.3f}, got {got:.3f}")
