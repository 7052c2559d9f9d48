"""Chapter 18: a long-range dependency probe, recall the token seen k positions earlier.

Each sequence holds ``length`` tokens: random symbols ``0 .. n_symbols - 1``, then, at the last
position, a **query** token that names a distance ``k`` (one query id per distance: the query for
``distances[i]`` is the id ``n_symbols + i``). The answer, at the query, is the symbol ``k``
positions before it. The model does not know which ``k`` will be asked until the end, so a model
that reads left to right must keep the last ``max(distances)`` symbols in mind; attention can look
back at any position directly. Chance is ``1 / n_symbols``.

Targets are -100 (ignored by ``losses.lm_loss``) everywhere but the query position, so the probe
trains and evaluates with the same loss as a language model. Training, validation and test sets
come from separate seeds.

See: notebooks/18_transformers_vs_rnns.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from transformer_lib import _validate

__all__ = ["recall_batch", "RecallBatches", "recall_accuracy"]

IGNORE = -100  # the target of positions that are not scored (F.cross_entropy's ignore_index)


def recall_batch(batch_size: int, length: int, distances: Sequence[int], n_symbols: int = 16,
                 generator: torch.Generator | None = None, k: int | None = None):
    """A batch of probe sequences, each asking for a distance drawn uniformly from ``distances``
    (or, with ``k``, all asking for ``k``, which must be one of ``distances``).

    The vocabulary has ``n_symbols + len(distances)`` tokens: the symbols, then one query per
    distance.

    Returns:
        inputs ``(B, T)`` (T = length), targets ``(B, T)`` (-100 except the last position, which
        holds the answer) and the distance asked by each sequence ``(B,)``.
    """
    _validate.positive_int("batch_size", batch_size)
    _validate.positive_int("length", length)
    _validate.positive_int("n_symbols", n_symbols)
    distances = list(distances)
    if not distances or any(not isinstance(d, int) or not 1 <= d <= length - 1 for d in distances):
        raise ValueError(f"distances must be integers from 1 to length - 1 = {length - 1}, "
                         f"got {distances}")
    if k is not None and k not in distances:
        raise ValueError(f"k={k!r} must be one of distances={distances}: each distance has its "
                         "own query token")
    inputs = torch.randint(0, n_symbols, (batch_size, length), generator=generator)  # (B, T)
    if k is None:
        pick = torch.randint(0, len(distances), (batch_size,), generator=generator)  # (B,)
    else:
        pick = torch.full((batch_size,), distances.index(k))  # (B,)
    asked = torch.tensor(distances)[pick]  # (B,)
    inputs[:, -1] = n_symbols + pick  # the query names the distance
    targets = torch.full_like(inputs, IGNORE)  # (B, T)
    targets[:, -1] = inputs[torch.arange(batch_size), length - 1 - asked]  # k positions back
    return inputs, targets, asked


class RecallBatches:
    """``get_batch(step)`` for ``training.fit``: probe batches seeded by ``(seed, step)``.

    Shape: ``get_batch(step)`` returns inputs ``(B, T)`` and targets ``(B, T)``.
    """

    def __init__(self, batch_size: int, length: int, distances: Sequence[int],
                 n_symbols: int = 16, seed: int = 0):
        _validate.positive_int("batch_size", batch_size)
        recall_batch(1, length, distances, n_symbols)  # validates the other arguments
        self.batch_size, self.length, self.distances = batch_size, length, list(distances)
        self.n_symbols, self.seed = n_symbols, seed

    def __call__(self, step: int):
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step={step!r} must be a non-negative integer")
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        inputs, targets, _ = recall_batch(self.batch_size, self.length, self.distances,
                                          self.n_symbols, generator)
        return inputs, targets


@torch.no_grad()
def recall_accuracy(model: torch.nn.Module, length: int, distances: Sequence[int], k: int,
                    n: int, n_symbols: int = 16, seed: int = 0) -> int:
    """How many of ``n`` fresh probe sequences asking for distance ``k`` the model answers right.

    The sequences come from a generator seeded by ``seed`` (use a seed that training never used).
    """
    _validate.positive_int("n", n)
    generator = torch.Generator().manual_seed(seed)
    inputs, targets, _ = recall_batch(n, length, distances, n_symbols, generator, k=k)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    guess = model(inputs.to(device))[:, -1].argmax(-1).cpu()  # (n,)
    model.train(was_training)
    return int((guess == targets[:, -1]).sum())
