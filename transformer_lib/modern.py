"""Chapter 16: the parts that turned GPT-2 into today's decoders (Llama and its kin).

RMSNorm (Zhang & Sennrich 2019), rotary position embeddings (RoPE, Su et al. 2021), the SwiGLU
feed-forward network (Shazeer 2020) and grouped-query attention (GQA, Ainslie et al. 2023), each
small enough to read. ``modern_lm.ModernLM`` assembles them behind switches.

See: notebooks/16_modern_decoders.ipynb
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib import _validate

__all__ = ["GroupedQueryAttention", "RMSNorm", "SwiGLU", "apply_rope", "drop_biases",
           "rope_angles", "share_kv_heads", "swiglu_width"]


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * gain: layer norm without the mean and without a bias.

    The same numbers as ``nn.RMSNorm(d_model, eps)`` (chapter 4's exercise wrote the formula).

    Shape:
        ``(..., D)`` -> ``(..., D)``.
    """

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.d_model = _validate.positive_int("d_model", d_model)
        self.eps = _validate.positive("eps", eps)
        self.weight = nn.Parameter(torch.ones(d_model))  # (D,) the gain
        self.check_inputs = True  # a ModernLM turns this off: it checks its ids once

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.check_inputs:
            _validate.features("x", x, self.d_model)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_angles(length: int, head_dim: int, start: int = 0, base: float = 10000.0,
                device: torch.device | str | None = None) -> torch.Tensor:
    """The rotation angles of RoPE: position m turns pair i by m * base^(-2i / Dh).

    Returns:
        ``(T, Dh / 2)`` angles for positions ``start .. start + T - 1``.
    """
    _validate.positive_int("length", length)
    _validate.positive_int("head_dim", head_dim)
    if head_dim % 2:
        raise ValueError(f"head_dim={head_dim} must be even: RoPE rotates pairs of features")
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise ValueError(f"start={start!r} must be a non-negative integer position")
    frequencies = base ** (-torch.arange(0, head_dim, 2, device=device) / head_dim)  # (Dh/2,)
    positions = torch.arange(start, start + length, device=device)  # (T,)
    return positions[:, None].float() * frequencies[None, :]  # (T, Dh/2)


def apply_rope(x: torch.Tensor, start: int = 0, base: float = 10000.0) -> torch.Tensor:
    """Rotate each pair of features (i, i + Dh/2) of the vector at position m by m * theta_i.

    The half-split pairing of GPT-NeoX and Hugging Face's Llama; the RoFormer paper pairs
    neighbours (2i, 2i + 1). Either works, as long as queries and keys use the same one.

    Shape:
        x ``(..., T, Dh)`` (queries or keys, e.g. ``(B, H, T, Dh)``), at positions
        ``start .. start + T - 1``; returns the same shape.
    """
    x = _validate.rank("x", x, (2, 3, 4), "(..., T, Dh)")
    _validate.floating("x", x)
    angles = rope_angles(x.shape[-2], x.shape[-1], start, base, x.device)  # (T, Dh/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    first, second = x.chunk(2, dim=-1)  # (..., T, Dh/2) each: the two halves of every pair
    return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)


def swiglu_width(d_ff: int, multiple_of: int = 16) -> int:
    """The hidden width that gives SwiGLU's three matrices GELU's two matrices' parameters:
    2/3 of ``d_ff``, rounded up to a multiple of ``multiple_of`` (Llama rounds to 256)."""
    _validate.positive_int("d_ff", d_ff)
    _validate.positive_int("multiple_of", multiple_of)
    width = 2 * d_ff // 3
    return -(-width // multiple_of) * multiple_of


class SwiGLU(nn.Module):
    """FFN(x) = W_down (SiLU(W_gate x) * W_up x), without biases (as Llama).

    Shape:
        ``(..., D)`` -> ``(..., D)``; the hidden width is F.
    """

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.d_model = _validate.positive_int("d_model", d_model)
        _validate.positive_int("d_ff", d_ff)
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)
        self.check_inputs = True  # a ModernLM turns this off: it checks its ids once

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.check_inputs:
            _validate.features("x", x, self.d_model)
        return self.down(F.silu(self.gate(x)) * self.up(x))  # (..., D)


def share_kv_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Give each of the ``n_heads`` query heads its group's key (or value) head.

    With g = n_heads / Hkv, query heads 0..g-1 read head 0, heads g..2g-1 head 1, and so on:
    ``repeat_interleave``, not ``repeat`` (which would give heads 0, 1, .., 0, 1, ..).

    Shape:
        x ``(B, Hkv, S, Dh)`` -> ``(B, n_heads, S, Dh)``.
    """
    return x.repeat_interleave(n_heads // x.shape[1], dim=1)


def drop_biases(module: nn.Module) -> nn.Module:
    """Remove the bias of every ``nn.Linear`` inside ``module`` (in place); returns it."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            layer.register_parameter("bias", None)
    return module


class GroupedQueryAttention(nn.Module):
    """Causal self-attention in which groups of query heads share one key head and one value head.

    ``n_kv_heads = n_heads`` is multi-head attention; ``n_kv_heads = 1`` is multi-query attention
    (Shazeer 2019). Query head h reads key/value head ``h // (n_heads // n_kv_heads)``. With
    ``rope``, queries and keys are rotated by their positions before the cache stores the keys.

    Shape:
        x ``(B, T, D)``, mask bool ``(T, S)`` (True = may attend); ``cache`` (chapter 9's
        ``LayerCache``) keeps keys and values ``(B, n_kv_heads, S, Dh)``; ``start`` is the
        position of ``x[:, 0]``. Returns ``(B, T, D)``.
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int | None = None,
                 bias: bool = True, rope: bool = False, rope_base: float = 10000.0):
        super().__init__()
        _validate.positive_int("d_model", d_model)
        _validate.positive_int("n_heads", n_heads)
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        _validate.positive_int("n_kv_heads", n_kv_heads)
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if n_heads % n_kv_heads:
            raise ValueError(f"n_kv_heads={n_kv_heads} must divide n_heads={n_heads}: each "
                             f"key/value head serves a whole group of query heads")
        self.d_model, self.n_heads, self.n_kv_heads = d_model, n_heads, n_kv_heads
        self.head_dim = d_model // n_heads
        if rope and self.head_dim % 2:
            raise ValueError(f"rope needs an even head_dim, got {self.head_dim}")
        self.rope, self.rope_base = rope, rope_base
        kv_width = n_kv_heads * self.head_dim
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, kv_width, bias=bias)
        self.v_proj = nn.Linear(d_model, kv_width, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.check_inputs = True  # a ModernLM turns this off: it checks its ids once

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, cache=None,
                start: int = 0) -> torch.Tensor:
        if self.check_inputs:
            x = _validate.rank("x", x, (3,), "(B, T, D)")
            _validate.last_dim("x", x, self.d_model, "d_model")
        batch, length, _ = x.shape
        q = self.q_proj(x).view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if self.rope:  # (B, H, T, Dh) and (B, Hkv, T, Dh), rotated by positions start..
            q, k = apply_rope(q, start, self.rope_base), apply_rope(k, start, self.rope_base)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, Hkv, S, Dh): only the shared heads are stored
        k, v = share_kv_heads(k, self.n_heads), share_kv_heads(v, self.n_heads)  # (B, H, S, Dh)
        if mask is not None and mask.shape[-1] != k.shape[2]:
            raise ValueError(f"mask covers {mask.shape[-1]} keys but there are {k.shape[2]}")
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, Dh)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, self.d_model))
