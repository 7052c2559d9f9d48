"""Chapter 2: scaled dot-product attention, masks and multi-head attention.

Masks are boolean and ``True`` means "may attend", the same polarity as
``F.scaled_dot_product_attention``. ``nn.MultiheadAttention`` uses the opposite polarity for
boolean masks (``True`` means "blocked"), so pass it ``~mask``.

See: notebooks/02_attention.ipynb
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib import _validate


def causal_mask(
    size: int, device: torch.device | str | None = None, start: int = 0
) -> torch.Tensor:
    """Mask that lets position t attend to positions 0..t only (no peeking at the future).

    Args:
        size: T, the number of queries.
        device: where to build the mask.
        start: the position of the first query (chapter 9's cache: the ``start`` earlier
            positions are keys only); query t sits at position ``start + t``.

    Returns:
        ``(T, start + T)`` bool, ``True`` = may attend; lower triangular ``(T, T)`` for start=0.
    """
    _validate.positive_int("size", size)
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise ValueError(f"start={start!r} must be a non-negative integer position")
    return torch.ones(size, start + size, dtype=torch.bool, device=device).tril(start)


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Mask that hides the padding at the end of each sequence of a batch.

    Args:
        lengths: ``(B,)`` integer, the true length of each sequence (1 <= length <= max_len;
            checked on the CPU only, where reading the values back costs nothing).
        max_len: S, the padded length.

    Returns:
        ``(B, 1, S)`` bool, ``True`` at real tokens; it broadcasts over the T queries.
    """
    lengths = _validate.rank("lengths", lengths, (1,), "(B,)")
    _validate.positive_int("max_len", max_len)
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be an integer tensor, got dtype {lengths.dtype}")
    if lengths.device.type == "cpu" and lengths.numel() and (lengths.min() < 1
                                                            or lengths.max() > max_len):
        raise ValueError(
            f"lengths must lie in [1, max_len={max_len}], got values from "
            f"{int(lengths.min())} to {int(lengths.max())}"
        )
    positions = torch.arange(max_len, device=lengths.device)  # (S,)
    return (positions < lengths.unsqueeze(1)).unsqueeze(1)  # (B, 1, S)


def padding_mask_from_ids(ids: torch.Tensor, pad_id: int | None) -> torch.Tensor | None:
    """The padding mask of a batch of token ids: ``True`` wherever the id is not ``pad_id``.

    Returns:
        ``(B, 1, S)`` bool for ids ``(B, S)``, or None when ``pad_id`` is None (no padding).
    """
    if pad_id is None:
        return None
    return (ids != pad_id).unsqueeze(1)  # (B, 1, S)


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V  (Vaswani et al. 2017, eq. 1).

    The explicit computation, kept readable for teaching. A query whose keys are all masked gets
    zero weights and a zero output, as in ``F.scaled_dot_product_attention``.

    Args:
        query: ``(..., T, Dh)``.
        key: ``(..., S, Dh)``.
        value: ``(..., S, Dv)``.
        mask: bool, broadcastable to ``(..., T, S)``; ``True`` = may attend.
        dropout_p: dropout on the attention weights (pass 0.0 at evaluation).

    Returns:
        output ``(..., T, Dv)`` and weights ``(..., T, S)`` (each row sums to 1).
    """
    _check_qkv(query, key, value)
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])  # (..., T, S)
    if mask is not None:
        _check_mask(mask, scores.shape)
        # The most negative finite number, not -inf: a fully masked row then stays finite.
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)  # (..., T, S)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ value, weights  # (..., T, Dv), (..., T, S)


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017, section 3.2.2).

    MultiHead(Q, K, V) = Concat(head_1, ..., head_H) W^O,
    head_h = Attention(Q W_h^Q, K W_h^K, V W_h^V).

    The H heads' projections are stored together in ``q_proj``, ``k_proj`` and ``v_proj``
    (each ``D -> D``), then split into ``(B, H, T, Dh)``.

    Args:
        d_model: D.
        n_heads: H; must divide D.
        dropout: dropout on the attention weights.
        bias: whether the four projections have biases.

    Shape:
        query ``(B, T, D)``, key and value ``(B, S, D)`` (default: the query, i.e. self-attention),
        mask bool ``(T, S)``, ``(B, T, S)`` or ``(B, 1, S)``; output ``(B, T, D)``, and with
        ``return_weights=True`` also the weights ``(B, H, T, S)``.

    ``cache`` is for chapter 9's key-value cache: an object whose ``update(k, v)`` returns the
    keys and values of the positions seen before followed by ``k`` and ``v`` (``S`` then counts
    them all).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        _validate.positive_int("d_model", d_model)
        _validate.positive_int("n_heads", n_heads)
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.dropout = _validate.probability("dropout", dropout)
        self.check_inputs = True  # a LayerStack turns this off: its model checks inputs once
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        return_weights: bool = False,
        cache=None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        key = query if key is None else key
        value = key if value is None else value
        if self.check_inputs:
            self._check_inputs(query, key, value)
        q = self.split_heads(self.q_proj(query))  # (B, H, T, Dh)
        k = self.split_heads(self.k_proj(key))  # (B, H, S, Dh)
        v = self.split_heads(self.v_proj(value))  # (B, H, S, Dh)
        if cache is not None:  # chapter 9: the keys and values of earlier positions come first
            k, v = cache.update(k, v)  # (B, H, S, Dh), S counting the cached positions too
        if mask is not None:
            if self.check_inputs:
                check_mask(mask, (query.shape[0], query.shape[1], k.shape[2]))
            mask = mask.unsqueeze(-3) if mask.dim() == 3 else mask  # (B, 1, T|1, S) over heads
        dropout_p = self.dropout if self.training else 0.0
        if return_weights:
            out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p)
        else:  # same result, PyTorch's fused kernel: faster and lighter on memory
            out, weights = F.scaled_dot_product_attention(q, k, v, mask, dropout_p), None
            if mask is not None:  # some fused GPU kernels give NaN where every key is masked
                out = out.masked_fill(~mask.any(-1, keepdim=True), 0.0)
        out = self.out_proj(self.merge_heads(out))  # (B, T, D)
        return (out, weights) if return_weights else out

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, D) -> (B, H, T, Dh)``: head h gets features ``h*Dh .. (h+1)*Dh - 1``."""
        batch, length, _ = x.shape
        x = x.view(batch, length, self.n_heads, self.head_dim)  # (B, T, H, Dh)
        return x.transpose(1, 2)  # (B, H, T, Dh)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, T, Dh) -> (B, T, D)``, the inverse of ``split_heads``."""
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, self.d_model)  # (B, T, D)

    def _check_inputs(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
        for name, x in (("query", query), ("key", key), ("value", value)):
            _validate.rank(name, x, (3,), "(B, T, D)")
            _validate.floating(name, x)
            _validate.last_dim(name, x, self.d_model, "d_model")
            if x.shape[1] == 0:
                raise ValueError(f"{name} has length 0 (shape {tuple(x.shape)}); expected >= 1")
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(
                f"query, key and value must share the batch size B, got "
                f"{query.shape[0]}, {key.shape[0]} and {value.shape[0]}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value must have the same length S, got "
                f"{key.shape[1]} and {value.shape[1]}"
            )


def _check_qkv(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
    for name, x in (("query", query), ("key", key), ("value", value)):
        _validate.tensor(name, x)
        if x.dim() < 2:
            raise ValueError(f"{name} must have shape (..., length, dim), got {tuple(x.shape)}")
        _validate.floating(name, x)
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(
            f"query and key must have the same last dimension d_k, got "
            f"{query.shape[-1]} and {key.shape[-1]}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"key and value must have the same length S, got {key.shape[-2]} and {value.shape[-2]}"
        )


def check_mask(mask: object, scores_shape: tuple[int, int, int]) -> None:
    """Raise a clear error unless ``mask`` is a bool ``(T, S)``, ``(B, T, S)`` or ``(B, 1, S)``
    mask that broadcasts to attention scores of shape ``scores_shape = (B, T, S)``."""
    _check_mask(mask, scores_shape, ranks=(2, 3), scores_doc="(B, T, S)")


def _check_mask(
    mask: object,
    scores_shape: tuple[int, ...],
    ranks: tuple[int, ...] | None = None,
    scores_doc: str = "(..., T, S)",
):
    """The mask must be bool and broadcast to the (..., T, S) scores."""
    mask = _validate.tensor("mask", mask)
    if mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a bool tensor with True = may attend, got dtype {mask.dtype}; "
            f"for a 0/1 mask use mask.bool()"
        )
    target = tuple(scores_shape)
    if ranks is not None and mask.dim() not in ranks:
        raise ValueError(
            f"mask must have shape (T, S), (B, T, S) or (B, 1, S) with T={target[-2]}, "
            f"S={target[-1]}, got shape {tuple(mask.shape)}"
        )
    ok = mask.dim() <= len(target) and all(
        m in (1, t) for m, t in zip(reversed(mask.shape), reversed(target))
    )
    if not ok or mask.shape[-1] != target[-1]:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores "
            f"{target} {scores_doc}; its last dimension must be S={target[-1]}"
        )
