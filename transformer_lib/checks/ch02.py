"""Checks for the exercises of chapter 2 (attention)."""

import math
from collections.abc import Callable

import torch

from transformer_lib.attention import causal_mask, scaled_dot_product_attention
from transformer_lib.checks._core import (Case, Failure, call, check, compare, diagnose,
                                          python_number)


@check("attention weights", seed=1)
def check_attention_weights(student_fn: Callable, generator):
    """``student_fn(q (..., T, Dh), k (..., S, Dh))`` -> ``(..., T, S)``, the attention weights
    softmax(q k^T / sqrt(Dh))."""
    for shape_q, shape_k in [((3, 4), (5, 4)), ((2, 6, 16), (2, 7, 16)),
                             ((2, 3, 4, 64), (2, 3, 4, 64))]:
        q = torch.randn(shape_q, generator=generator) * 2
        k = torch.randn(shape_k, generator=generator) * 2
        got = call(student_fn, q.clone(), k.clone())
        scores = q @ k.transpose(-2, -1)
        scaled = scores / math.sqrt(q.shape[-1])
        compare(got, scaled.softmax(-1), {"q": q, "k": k}, mistakes={
            "you forgot to divide the scores by sqrt(d_k)": scores.softmax(-1),
            "you forgot the softmax (rows must sum to 1)": scaled,
            "the softmax runs over the wrong dimension: each query's row over the keys "
            "must sum to 1 (use dim=-1)": scaled.softmax(-2),
        })


@check("causal mask")
def check_causal_mask(student_fn: Callable[[int], torch.Tensor]):
    """``student_fn(T)`` -> ``(T, T)`` bool, True where query t may attend to key s (s <= t)."""
    for size in (1, 2, 5, 12):
        got = call(student_fn, size)
        expected = causal_mask(size)
        if isinstance(got, torch.Tensor) and got.dtype == torch.bool and got.shape == (size, size):
            if (got & ~expected).any():
                t, s = (got & ~expected).nonzero()[0].tolist()
                raise Failure(f"the mask leaks the future: for T={size}, query {t} may attend to "
                              f"key {s}")
            if not got.diagonal().all():
                raise Failure("each position must be allowed to attend to itself (diagonal True)")
        compare(got, expected, {"T": size})


@check("split into heads", seed=2)
def check_split_heads(student_fn: Callable[[torch.Tensor, int], torch.Tensor], generator):
    """``student_fn(x (B, T, D), n_heads)`` -> ``(B, H, T, Dh)``, head h holding features h*Dh.."""
    for batch, length, d_model, n_heads in [(1, 3, 4, 2), (2, 5, 12, 3), (3, 7, 64, 8)]:
        x = torch.randn(batch, length, d_model, generator=generator)
        got = call(student_fn, x.clone(), n_heads)
        expected = x.view(batch, length, n_heads, d_model // n_heads).transpose(1, 2)
        compare(got, expected, {"x": x, "n_heads": n_heads}, mistakes={
            "the shape is right but heads mix up positions: reshape to (B, T, H, Dh) first, "
            "then swap the T and H axes": x.view(batch, n_heads, length, d_model // n_heads),
        })


@check("masked attention", seed=3)
def check_masked_attention(student_fn: Callable, generator):
    """``student_fn(q, k, v, mask)`` -> attention output ``(..., T, Dv)`` with a bool mask."""
    for batch, length, dim in [(1, 4, 8), (2, 6, 16)]:
        q, k, v = (torch.randn(batch, length, dim, generator=generator) for _ in range(3))
        mask = causal_mask(length)
        got = call(student_fn, q, k, v, mask)
        expected, _ = scaled_dot_product_attention(q, k, v, mask)
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            v_changed = v.clone()
            v_changed[:, -1] += 100.0  # the last position is in every query's future but its own
            again = call(student_fn, q, k, v_changed, mask)
            if isinstance(again, torch.Tensor) and not torch.allclose(
                    again[:, :-1], got[:, :-1], atol=1e-5):  # equal up to float rounding
                raise Failure("the mask leaks the future: changing the last value changed "
                              "the outputs at earlier positions")
        compare(got, expected, {"q": q, "k": k, "v": v, "mask": mask})


def _mean_largest_weight(d_k: int, scaled: bool) -> float:
    """Mean over 200 x 8 rows of the largest attention weight; q, k unit-variance of width d_k."""
    generator = torch.Generator().manual_seed(1234)
    q, k = (torch.randn(200, 8, d_k, generator=generator) for _ in range(2))  # (N, T or S, Dh)
    scores = q @ k.transpose(-2, -1) / (math.sqrt(d_k) if scaled else 1.0)  # (N, T, S)
    return scores.softmax(-1).max(-1).values.mean().item()


@check("softmax saturation experiment")
def check_softmax_saturation(student_fn: Callable[[int, bool], float]):
    """``student_fn(d_k, scaled)`` -> mean largest attention weight of rows of 8 unit-variance
    queries and keys of width d_k (200 sets), within 0.05: random draws differ."""
    for d_k in (4, 64, 1024):
        for scaled in (False, True):
            inputs = f"d_k={d_k}, scaled={scaled}"
            got = python_number(call(student_fn, d_k, scaled), inputs)
            expected = _mean_largest_weight(d_k, scaled)
            mistake = ("it looks like the scores were not divided by sqrt(d_k)" if scaled
                       else "it looks like the scores were scaled although scaled=False")
            mistakes = {mistake: _mean_largest_weight(d_k, not scaled)}
            shown = f"for {inputs} expected about {expected:.2f}, got {got:.3f}"
            diagnose([Case(got, expected, mistakes, shown)], atol=0.05, rtol=0)
