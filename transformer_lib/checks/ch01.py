"""Checks for the exercises of chapter 1 (tokens, embeddings and positions)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from transformer_lib.checks._core import CheckResult, Failure, call, compare, run

__all__ = [
    "check_sinusoidal_encoding",
    "check_pad_batch",
    "check_relative_position_matrix",
    "check_whole_word_fraction",
]

from transformer_lib.embeddings import sinusoidal_positional_encoding

def check_sinusoidal_encoding(student_fn: Callable[[int, int], torch.Tensor]) -> CheckResult:
    """``student_fn(max_len, d_model)`` must return the paper's ``(max_len, D)`` encodings."""

    def body():
        for max_len, d_model in [(4, 2), (10, 8), (50, 16), (128, 64)]:
            got = call(student_fn, max_len, d_model)
            expected = sinusoidal_positional_encoding(max_len, d_model)
            compare(got, expected, {"max_len": max_len, "d_model": d_model})

    return run("sinusoidal positional encoding", body)


def check_pad_batch(student_fn: Callable) -> CheckResult:
    """``student_fn(sequences, pad_id)`` -> ``(ids (B, T) long, lengths (B,) long)``."""

    def reference(sequences, pad_id):
        longest = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        return ids, torch.tensor([len(s) for s in sequences])

    def body():
        generator = torch.Generator().manual_seed(0)
        cases = [([[5, 6, 7], [8]], 0), ([[1], [2], [3]], 9), ([[4, 4]], 0)]
        for _ in range(3):
            lengths = torch.randint(1, 8, (4,), generator=generator).tolist()
            cases.append(([torch.randint(1, 50, (n,), generator=generator).tolist()
                           for n in lengths], 0))
        for sequences, pad_id in cases:
            got = call(student_fn, [list(s) for s in sequences], pad_id)
            if not (isinstance(got, tuple) and len(got) == 2):
                raise Failure(f"expected a tuple (ids, lengths), got {type(got).__name__}")
            ids, lengths = reference(sequences, pad_id)
            inputs = {"sequences": sequences, "pad_id": pad_id}
            for part, value, expected in (("ids", got[0], ids), ("lengths", got[1], lengths)):
                if isinstance(value, torch.Tensor) and value.dtype != torch.long:
                    raise Failure(f"{part} must have dtype torch.long, got {value.dtype}")
                try:
                    compare(value, expected, inputs)
                except Failure as failure:
                    raise Failure(f"{part}: {failure}") from None

    return run("pad a batch of token-id sequences", body)


def check_relative_position_matrix(student_fn: Callable[[int, int], torch.Tensor]) -> CheckResult:
    """``student_fn(offset, d_model)`` must return M ``(D, D)`` with PE[p + offset] = M @ PE[p]."""

    def body():
        for offset, d_model in [(1, 2), (3, 8), (10, 16), (25, 64)]:
            got = call(student_fn, offset, d_model)
            inputs = {"offset": offset, "d_model": d_model}
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != (d_model, d_model):
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                raise Failure(f"expected a ({d_model}, {d_model}) tensor for {inputs}, got {shape}")
            pe = sinusoidal_positional_encoding(200, d_model)
            shifted = pe[:-offset] @ got.detach().float().T  # rows: M @ PE[p]
            compare(shifted, pe[offset:], inputs, atol=1e-3, rtol=1e-3)

    return run("relative position as a linear map", body)


def check_whole_word_fraction(student_fn: Callable) -> CheckResult:
    """``student_fn(tokenizer, words)`` -> fraction of ``words`` encoded as exactly one token.

    Uses two small BPE tokenizers (``tokenizers`` package) trained on Python's help pages.
    """
    from pydoc_data.topics import topics
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    texts = list(topics.values())[::4]
    words = ["function", "the", "Transformer", "tokenization", "def", "xyzzy", "return", "a"]

    def train(vocab_size):
        tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["[UNK]"],
                                      show_progress=False)
        tokenizer.train_from_iterator(texts, trainer)
        return tokenizer

    def body():
        for vocab_size in (300, 3000):
            tokenizer = train(vocab_size)
            for sample in (words, words[:3], ["function"]):
                got = call(student_fn, tokenizer, list(sample))
                expected = sum(len(e.ids) == 1 for e in tokenizer.encode_batch(sample)) / len(sample)
                inputs = f"{len(sample)} words with a {vocab_size}-token BPE"
                if not isinstance(got, (float, int)) or isinstance(got, bool):
                    raise Failure(f"expected a number for {inputs}, got {type(got).__name__}")
                if abs(got - expected) > 1e-9:
                    raise Failure(f"for {inputs} expected {expected:.3f}, got {got:.3f}")

    return run("whole-word fraction", body)
