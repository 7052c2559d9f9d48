"""Checks for the exercises of chapter 2 (attention)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from transformer_lib.attention import causal_mask, scaled_dot_product_attention
from transformer_lib.checks._core import CheckResult, Failure, call, compare, run

__all__ = [
    "check_attention_weights",
    "check_causal_mask",
    "check_split_heads",
    "check_masked_attention",
    "check_softmax_saturation",
]


def check_attention_weights(student_fn: Callable) -> CheckResult:
    """``student_fn(q (..., T, Dh), k (..., S, Dh))`` -> softmax(q k^T / sqrt(Dh)) ``(..., T, S)``."""

    def body():
        generator = torch.Generator().manual_seed(1)
        for shape_q, shape_k in [((3, 4), (5, 4)), ((2, 6, 16), (2, 7, 16)), ((2, 3, 4, 64), (2, 3, 4, 64))]:
            q = torch.randn(shape_q, generator=generator) * 2
            k = torch.randn(shape_k, generator=generator) * 2
            got = call(student_fn, q.clone(), k.clone())
            scores = q @ k.transpose(-2, -1)
            expected = (scores / math.sqrt(q.shape[-1])).softmax(-1)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape:
                hints = {
                    "you forgot to divide the scores by sqrt(d_k)": scores.softmax(-1),
                    "you forgot the softmax (rows must sum to 1)": scores / math.sqrt(q.shape[-1]),
                    "the softmax runs over the wrong dimension: each query's row over the keys "
                    "must sum to 1 (use dim=-1)": (scores / math.sqrt(q.shape[-1])).softmax(-2),
                }
                for hint, wrong in hints.items():
                    if torch.allclose(got.detach().float(), wrong, atol=1e-5):
                        raise Failure(hint)
            compare(got, expected, {"q": q, "k": k})

    return run("attention weights", body)


def check_causal_mask(student_fn: Callable[[int], torch.Tensor]) -> CheckResult:
    """``student_fn(T)`` -> ``(T, T)`` bool, True where query t may attend to key s (s <= t)."""

    def body():
        for size in (1, 2, 5, 12):
            got = call(student_fn, size)
            expected = causal_mask(size)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == torch.bool:
                if (got & ~expected).any():
                    t, s = (got & ~expected).nonzero()[0].tolist()
                    raise Failure(
                        f"the mask leaks the future: for T={size}, query {t} may attend to key {s}"
                    )
                if not got.diagonal().all():
                    raise Failure("each position must be allowed to attend to itself (diagonal True)")
            compare(got, expected, {"T": size})

    return run("causal mask", body)


def check_split_heads(student_fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """``student_fn(x (B, T, D), n_heads)`` -> ``(B, H, T, Dh)``, head h holding features h*Dh.."""

    def body():
        generator = torch.Generator().manual_seed(2)
        for batch, length, d_model, n_heads in [(1, 3, 4, 2), (2, 5, 12, 3), (3, 7, 64, 8)]:
            x = torch.randn(batch, length, d_model, generator=generator)
            got = call(student_fn, x.clone(), n_heads)
            expected = x.view(batch, length, n_heads, d_model // n_heads).transpose(1, 2)
            wrong = x.view(batch, n_heads, length, d_model // n_heads)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape:
                if torch.equal(got, wrong) and n_heads > 1:
                    raise Failure(
                        "the shape is right but heads mix up positions: reshape to "
                        "(B, T, H, Dh) first, then swap the T and H axes"
                    )
            compare(got, expected, {"x": x, "n_heads": n_heads})

    return run("split into heads", body)


def check_masked_attention(student_fn: Callable) -> CheckResult:
    """``student_fn(q, k, v, mask)`` -> attention output ``(..., T, Dv)`` with a bool mask."""

    def body():
        generator = torch.Generator().manual_seed(3)
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

    return run("masked attention", body)


def check_softmax_saturation(student_fn: Callable[[int, bool], float]) -> CheckResult:
    """``student_fn(d_k, scaled)`` -> mean over random rows of the largest attention weight.

    Rows come from 200 sets of 8 unit-variance queries and keys of width d_k; the student's
    random draws differ from ours, so values are compared within 0.05.
    """

    def reference(d_k, scaled):
        generator = torch.Generator().manual_seed(1234)
        q = torch.randn(200, 8, d_k, generator=generator)  # (N, T, Dh)
        k = torch.randn(200, 8, d_k, generator=generator)  # (N, S, Dh)
        scores = q @ k.transpose(-2, -1) / (math.sqrt(d_k) if scaled else 1.0)  # (N, T, S)
        return scores.softmax(-1).max(-1).values.mean().item()

    def body():
        for d_k in (4, 64, 1024):
            for scaled in (False, True):
                got = call(student_fn, d_k, scaled)
                inputs = f"d_k={d_k}, scaled={scaled}"
                if not isinstance(got, float):
                    raise Failure(f"expected a Python float for {inputs}, got "
                                   f"{type(got).__name__} (use .item())")
                expected = reference(d_k, scaled)
                if abs(got - expected) > 0.05:
                    hint = ""
                    if scaled and abs(got - reference(d_k, False)) <= 0.05:
                        hint = ": it looks like the scores were not divided by sqrt(d_k)"
                    elif not scaled and abs(got - reference(d_k, True)) <= 0.05:
                        hint = ": it looks like the scores were scaled although scaled=False"
                    raise Failure(f"for {inputs} expected about {expected:.2f}, got {got:.3f}{hint}")

    return run("softmax saturation experiment", body)
