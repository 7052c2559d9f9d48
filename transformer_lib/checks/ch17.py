"""Checks for the exercises of chapter 17 (induction heads): the previous-token score, the
induction score, the loss increase when heads are removed and the attention by offset."""

from collections.abc import Callable

import torch

from transformer_lib import induction
from transformer_lib.attention import causal_mask
from transformer_lib.checks._compare import compare, python_number
from transformer_lib.checks._core import Failure, call, check


def _weights(shape: tuple[int, int, int], generator: torch.Generator) -> torch.Tensor:
    """Random causal attention weights ``(B, H, T, T)``: each row sums to 1 over keys 0..t."""
    batch, heads, length = shape
    scores = torch.randn(batch, heads, length, length, generator=generator) * 2
    return scores.masked_fill(~causal_mask(length), float("-inf")).softmax(-1)


def _stripe(weights: torch.Tensor, offset: int, first_row: int) -> torch.Tensor:
    """Mean over the batch and rows t >= first_row of weights[..., t, t + offset]: ``(H,)``."""
    rows = torch.arange(first_row, weights.shape[-1])
    return weights[..., rows, rows + offset].mean(dim=(0, 2))


def _shape_hint(got, batch: int, heads: int) -> None:
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (batch, heads):
        raise Failure(f"return one score per head, shape ({heads},): average over the batch too, "
                      f"not only over the positions (got shape {tuple(got.shape)})")


@check("previous-token scores", seed=17)
def check_previous_token_scores(student_fn: Callable, generator):
    """``student_fn(weights (B, H, T, T))`` -> ``(H,)``: the mean of ``weights[:, h, t, t - 1]``
    over the batch and the positions t = 1 .. T - 1."""
    for shape in [(2, 3, 6), (4, 2, 9), (1, 5, 4)]:
        weights = _weights(shape, generator)
        got = call(student_fn, weights)
        _shape_hint(got, shape[0], shape[1])
        length = shape[2]
        compare(got, _stripe(weights, -1, 1), {"weights": weights}, atol=1e-5, mistakes={
            "that is the attention of each position to itself (the main diagonal); the previous "
            "token of query t is key t - 1": _stripe(weights, 0, 0),
            "row 0 has no previous token: average over t = 1 .. T - 1 only, not over all T "
            "rows": _stripe(weights, -1, 1) * (length - 1) / length,
            "row 0 has no previous token (t - 1 = -1, or a clamped 0, is not one): average over "
            "t = 1 .. T - 1 only": (_stripe(weights, -1, 1) * (length - 1) + 1) / length,
            "weights[..., t, s] is what query t gives to key s: read weights[..., t, t - 1], "
            "below the diagonal, not weights[..., t - 1, t]": torch.zeros(shape[1]),
        })


@check("induction scores", seed=17)
def check_induction_scores(student_fn: Callable, generator):
    """``student_fn(weights (B, H, 2L, 2L), half)`` -> ``(H,)``: the mean of
    ``weights[:, h, t, t - L + 1]`` over the batch and t = L .. 2L - 1."""
    for batch, heads, half in [(2, 3, 5), (3, 2, 8), (1, 4, 3)]:
        weights = _weights((batch, heads, 2 * half), generator)
        got = call(student_fn, weights, half)
        _shape_hint(got, batch, heads)
        compare(got, _stripe(weights, 1 - half, half), {"weights": weights, "half": half},
                atol=1e-5, mistakes={
            "that scores the previous occurrence of the current token itself (key t - L): an "
            "induction head attends to the token *after* it, key t - L + 1":
                _stripe(weights, -half, half),
            "off by one the other way: the token after the previous occurrence of query t is "
            "key t - L + 1, not t - L + 2": _stripe(weights, 2 - half, half),
            "score the repeat only, queries t = L .. 2L - 1: query L - 1 is in the first half, "
            "where the token has not occurred before": _stripe(weights, 1 - half, half - 1),
        })


def _tiny_model(seed: int) -> induction.AttentionOnlyTransformer:
    with torch.random.fork_rng(devices=[]):  # the learner's random stream stays as it was
        torch.manual_seed(seed)
        return induction.AttentionOnlyTransformer(12, 16, 2, 2, 16).eval()


def _increase(model, ids, starts, heads, first_target: int = 1) -> float:
    """Repeat loss with ``heads`` removed minus without, over targets > start (+ shift)."""
    def repeat_loss(**kwargs):
        with torch.no_grad():
            losses = induction.token_losses(model, ids, **kwargs)  # (B, T - 1)
        target = torch.arange(1, ids.shape[1])
        return losses[target[None] >= starts[:, None] + first_target].mean().item()

    return repeat_loss(ablate=heads) - repeat_loss()


@check("the loss increase when heads are removed")
def check_repeat_loss_increase(student_fn: Callable):
    """``student_fn(model, ids (B, T), starts (B,), heads)`` -> float: the mean loss on the
    repeated tokens after the first (targets at positions t > starts) with ``heads`` removed,
    minus the same loss of the intact model."""
    for seed, heads in [(0, [(0, 1)]), (1, [(1, 0)]), (2, [(0, 0), (1, 1)])]:
        model = _tiny_model(seed)
        ids, starts = induction.repeated_sequences(6, 16, 12, seed=seed, min_segment=3)
        got = python_number(call(student_fn, model, ids, starts, heads), "the loss increase",
                            item=True)
        expected = _increase(model, ids, starts, heads)
        shown = f"the tiny model of seed {seed} with heads={heads} removed"
        close = abs(got - expected) <= 1e-4 + 1e-3 * abs(expected)
        if close:
            continue
        mistakes = {
            "the first repeated token (at starts) cannot be predicted: score the targets at "
            "positions t > starts only": _increase(model, ids, starts, heads, first_target=0),
            "return the increase: the loss with the heads removed minus the loss without":
                expected + _plain(model, ids, starts),
            "the increase is the loss with the heads removed minus the loss without, "
            "not the other way round": -expected,
        }
        for hint, value in mistakes.items():
            if abs(got - value) <= 1e-4 + 1e-3 * abs(value):
                raise Failure(f"{shown}: {hint}")
        raise Failure(f"{shown}: expected an increase of {expected:.5f}, got {got:.5f}. Pass "
                      f"ablate=heads to the model and average the loss over the repeat only")


def _plain(model, ids, starts) -> float:
    """The intact model's repeat loss (targets t > starts)."""
    return induction.split_losses(model, ids, starts)[1]


@check("attention by offset", seed=17)
def check_attention_by_offset(student_fn: Callable, generator):
    """``student_fn(weights (B, H, T, T))`` -> ``(H, T)``: entry ``[h, k]`` is the mean of
    ``weights[:, h, t, t - k]`` over the batch and the queries t = k .. T - 1."""
    for shape in [(2, 3, 6), (3, 2, 9), (1, 4, 5)]:
        weights = _weights(shape, generator)
        got = call(student_fn, weights)
        length = shape[2]
        expected = torch.stack([_stripe(weights, -k, k) for k in range(length)], dim=-1)
        if isinstance(got, torch.Tensor) and tuple(got.shape) == (length, shape[1]) != \
                (shape[1], length):
            raise Failure(f"return one row per head, shape (H, T) = ({shape[1]}, {length}), "
                          f"not (T, H)")
        rows = torch.arange(length, 0, -1, dtype=weights.dtype)  # T - k queries at offset k
        compare(got, expected, {"weights": weights}, atol=1e-5, mistakes={
            "average over the queries that have a key k places back, t = k .. T - 1 (there are "
            "T - k of them), not over all T rows": expected * rows / length,
            "weights[..., t, s] is what query t gives to key s: offset k is weights[..., t, "
            "t - k], below the diagonal": torch.cat([expected[:, :1], torch.zeros(
                shape[1], length - 1)], dim=-1),
        })
