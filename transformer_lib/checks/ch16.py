"""Checks for the exercises of chapter 16 (from GPT-2 to today's decoders): the rotary position
embedding, grouped-query attention's key/value sharing and the size of a key-value cache."""

from collections.abc import Callable

import torch

from transformer_lib.checks._compare import compare, compare_count
from transformer_lib.checks._core import call, check


def _rotate(x: torch.Tensor, angles: torch.Tensor, interleaved: bool = False) -> torch.Tensor:
    """Rotate pairs of features of ``x (..., T, Dh)`` by ``angles (T, Dh/2)``: (i, i + Dh/2),
    or neighbours (2i, 2i + 1) with ``interleaved``."""
    if interleaved:
        first, second = x[..., 0::2], x[..., 1::2]
        cos, sin = angles.cos(), angles.sin()
        return torch.stack([first * cos - second * sin, second * cos + first * sin],
                           dim=-1).flatten(-2)
    first, second = x.chunk(2, dim=-1)
    cos, sin = angles.cos(), angles.sin()
    return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)


def _angles(length: int, head_dim: int, start: int, exponent: float = 2.0) -> torch.Tensor:
    """(T, Dh/2): position m times base^(-exponent i / Dh), base 10000, in float64."""
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    positions = torch.arange(start, start + length, dtype=torch.float64)
    return positions[:, None] * 10000.0 ** (-exponent * i / head_dim)[None, :]


@check("rotary position embedding", seed=16)
def check_rotary(student_fn: Callable, generator):
    """``student_fn(x (..., T, Dh), start)`` -> x with the pair (i, i + Dh/2) at position
    m = start + t rotated by the angle m * 10000^(-2i / Dh)."""
    for shape, start in [((6, 4), 0), ((2, 5, 8), 3), ((2, 3, 7, 16), 0), ((1, 2, 4, 6), 9)]:
        inputs = {"x": torch.randn(shape, generator=generator), "start": start}
        got = call(student_fn, *inputs.values())
        x = inputs["x"].double()
        length, head_dim = shape[-2], shape[-1]
        right = _angles(length, head_dim, start)
        compare(got, _rotate(x, right), inputs, atol=1e-4, mistakes={
            "you paired neighbours (2i, 2i + 1), as the RoFormer paper writes it; this book (and "
            "Llama's Hugging Face code) pairs feature i with feature i + Dh/2":
                _rotate(x, right, interleaved=True),
            "the positions must start at start: position m = start + t": _rotate(
                x, _angles(length, head_dim, 0)),
            "the rotation turns the wrong way: the first of a pair becomes "
            "x_i cos - x_(i+Dh/2) sin, the second x_(i+Dh/2) cos + x_i sin": _rotate(x, -right),
            "the frequency of pair i is 10000^(-2i / Dh), not 10000^(-i / Dh)": _rotate(
                x, _angles(length, head_dim, start, exponent=1.0)),
            "the first position is m = start, not start + 1": _rotate(
                x, _angles(length, head_dim, start + 1)),
        })


@check("grouped-query attention: sharing key/value heads", seed=16)
def check_share_kv(student_fn: Callable, generator):
    """``student_fn(kv (B, Hkv, S, Dh), n_heads)`` -> ``(B, n_heads, S, Dh)``: query head h
    reads key/value head h // (n_heads / Hkv)."""
    for shape, n_heads in [((1, 2, 3, 4), 4), ((2, 2, 5, 3), 6), ((2, 1, 4, 2), 3),
                           ((1, 4, 2, 2), 4)]:
        inputs = {"kv": torch.randn(shape, generator=generator), "n_heads": n_heads}
        got = call(student_fn, *inputs.values())
        kv, group = inputs["kv"], n_heads // shape[1]
        compare(got, kv.repeat_interleave(group, dim=1), inputs, mistakes={
            "repeat tiles the heads (0, 1, 0, 1, ...): query heads 0..g-1 must all read key/value "
            "head 0, so use repeat_interleave(g, dim=1)": kv.repeat(1, group, 1, 1),
        }, what="the shared keys (or values), one per query head")


@check("size of a key-value cache")
def check_kv_cache_bytes(student_fn: Callable):
    """``student_fn(n_layers, n_kv_heads, head_dim, context, batch, bytes_per_number)`` -> the
    bytes of a full key-value cache, a Python int."""
    for sizes in [(3, 4, 24, 64, 1, 4), (3, 1, 24, 64, 1, 4), (2, 2, 8, 10, 3, 2),
                  (32, 32, 128, 4096, 1, 2), (80, 8, 128, 4096, 1, 2)]:
        layers, kv_heads, head_dim, context, batch, size = sizes
        numbers = layers * kv_heads * head_dim * context * batch
        names = ("n_layers", "n_kv_heads", "head_dim", "context", "batch", "bytes_per_number")
        compare_count(student_fn, dict(zip(names, sizes)), 2 * numbers * size, {
            numbers * size: "a cache stores keys AND values: twice the numbers",
            2 * numbers: "that is the count of numbers; multiply by bytes_per_number for bytes",
            2 * numbers * size // layers: "every layer has its own cache: multiply by n_layers",
            2 * numbers * size // batch: "each sequence of the batch has its own cache",
        })
