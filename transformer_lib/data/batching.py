"""Turning lists of token ids into padded batches, and choosing which examples go in each batch.

See: notebooks/07_training.ipynb
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from transformer_lib import _validate


def pad_sequences(
    seqs: Sequence[Sequence[int]], pad_id: int = 0, length: int | None = None
) -> torch.Tensor:
    """Stack sequences of different lengths into one ``(B, L)`` tensor, padding on the right.

    Args:
        seqs: B lists of token ids.
        pad_id: the id written after the end of each shorter sequence.
        length: L; default the longest sequence's length. Longer sequences are an error.
    """
    if len(seqs) == 0:
        raise ValueError("seqs is empty; expected at least one sequence")
    longest = max(len(s) for s in seqs)
    length = longest if length is None else _validate.positive_int("length", length)
    if longest > length:
        raise ValueError(f"a sequence has {longest} tokens, more than length={length}")
    out = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    for row, seq in enumerate(seqs):
        out[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
    return out


@dataclass
class Seq2SeqBatch:
    """One batch for an encoder-decoder, ready for teacher forcing.

    ``tgt_in`` is the target shifted right (``<bos> y1 y2 ...``): what the decoder reads.
    ``tgt_out`` is the target itself (``y1 y2 ... <eos>``): what it must predict at each position.

    Shape:
        src ``(B, S)``, tgt_in ``(B, T)``, tgt_out ``(B, T)``, all padded with the pad id.
    """

    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor

    def to(self, device) -> Seq2SeqBatch:
        return Seq2SeqBatch(self.src.to(device), self.tgt_in.to(device), self.tgt_out.to(device))

    def __len__(self) -> int:
        return self.src.shape[0]


def make_seq2seq_batch(
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int, bos_id: int, eos_id: int
) -> Seq2SeqBatch:
    """Pad source-target pairs and build the shifted decoder input and its labels.

    Each target ``y`` becomes ``tgt_in = [bos] + y`` and ``tgt_out = y + [eos]``, both of length
    ``len(y) + 1``, so position t of ``tgt_in`` is asked to predict position t of ``tgt_out``.
    """
    if len(pairs) == 0:
        raise ValueError("pairs is empty; expected at least one (source, target) pair")
    src = pad_sequences([s for s, _ in pairs], pad_id)
    tgt_in = pad_sequences([[bos_id, *t] for _, t in pairs], pad_id)
    tgt_out = pad_sequences([[*t, eos_id] for _, t in pairs], pad_id)
    return Seq2SeqBatch(src, tgt_in, tgt_out)


class BatchSampler:
    """Which examples form the batch of training step ``step``, the same on every run.

    Each epoch visits every example once, in an order shuffled by ``(seed, epoch)``. Because the
    batch depends only on the step number, a run resumed from a checkpoint at step k sees exactly
    the batches the uninterrupted run saw from step k on.
    """

    def __init__(self, n_examples: int, batch_size: int, seed: int = 0, drop_last: bool = True):
        self.n_examples = _validate.positive_int("n_examples", n_examples)
        self.batch_size = _validate.positive_int("batch_size", batch_size)
        if batch_size > n_examples:
            raise ValueError(f"batch_size={batch_size} is larger than n_examples={n_examples}")
        self.seed = seed
        self.drop_last = drop_last
        self._order: tuple[int, list[int]] | None = None

    @property
    def batches_per_epoch(self) -> int:
        full, rest = divmod(self.n_examples, self.batch_size)
        return full + (0 if self.drop_last or rest == 0 else 1)

    def indices(self, step: int) -> list[int]:
        """The example indices of training step ``step`` (0-based)."""
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step={step!r} must be a non-negative integer")
        epoch, position = divmod(step, self.batches_per_epoch)
        if self._order is None or self._order[0] != epoch:
            order = list(range(self.n_examples))
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
            self._order = (epoch, order)
        start = position * self.batch_size
        return self._order[1][start : start + self.batch_size]
