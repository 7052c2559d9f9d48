"""A key-value cache: generate with a ``DecoderOnlyLM`` without recomputing the past.

Under the causal mask, the keys and values of position t never change once t is written: later
tokens cannot reach back into them. ``decoding.generate`` still runs the whole sequence through the
model at every step. Here each layer keeps the keys and values it has already computed, and each
step runs only the newest token through the model's own modules (embedding, each layer's
projections, feed-forward network and residual blocks, the final norm and the output layer): the
same numbers, with one position of work per step instead of T.

See: notebooks/09_text_generation.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from transformer_lib import _validate
from transformer_lib.attention import MultiHeadAttention
from transformer_lib.decoding import sample_next_token
from transformer_lib.embeddings import LearnedPositionalEncoding
from transformer_lib.models import DecoderOnlyLM


@dataclass
class KVCache:
    """The keys and values each layer has computed so far, and how many positions they cover.

    Shape:
        ``keys[i]`` and ``values[i]`` ``(B, H, S, Dh)`` for layer i, S = ``length``.
    """

    keys: list[torch.Tensor | None] = field(default_factory=list)
    values: list[torch.Tensor | None] = field(default_factory=list)
    length: int = 0


def _check_model(model: object) -> None:
    if not isinstance(model, DecoderOnlyLM):
        raise TypeError(f"model must be a transformer_lib DecoderOnlyLM, got "
                        f"{type(model).__name__}")


def _positions(model: DecoderOnlyLM, x: torch.Tensor, start: int) -> torch.Tensor:
    """Add the position vectors of positions ``start .. start + T - 1`` (then dropout)."""
    position = model.embedding.position
    where = torch.arange(start, start + x.shape[1], device=x.device)  # (T,)
    if isinstance(position, LearnedPositionalEncoding):
        table = position.position_embedding(where)  # (T, D)
    else:
        table = position.pe[where].to(x.dtype)  # (T, D)
    return position.dropout(x + table)  # (B, T, D)


def _cached_attention(
    attn: MultiHeadAttention, h: torch.Tensor, past_k, past_v, start: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Self-attention of T new positions over the S = start past ones and themselves.

    Returns the output ``(B, T, D)`` and the keys and values of all positions ``(B, H, S + T, Dh)``.
    """
    batch, length, _ = h.shape

    def heads(x):
        return x.view(batch, length, attn.n_heads, attn.head_dim).transpose(1, 2)  # (B, H, T, Dh)

    q, k, v = heads(attn.q_proj(h)), heads(attn.k_proj(h)), heads(attn.v_proj(h))
    if past_k is not None:
        k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)  # (B, H, S + T, Dh)
    # New position start + t may attend to every key up to itself: the causal mask, shifted.
    mask = torch.ones(length, start + length, dtype=torch.bool, device=h.device).tril(start)
    dropout_p = attn.dropout if attn.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, mask if length > 1 else None, dropout_p)
    out = out.transpose(1, 2).reshape(batch, length, attn.d_model)  # (B, T, D)
    return attn.out_proj(out), k, v


def forward_with_cache(model: DecoderOnlyLM, ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Run the new tokens ``ids`` through ``model``, after the ``cache.length`` cached ones.

    Equal to ``model(all_ids)[:, -T:]`` where ``all_ids`` are the cached tokens followed by
    ``ids``. The cache is extended in place with the new positions' keys and values.

    Shape:
        ids ``(B, T)`` new tokens; returns logits ``(B, T, V)``.
    """
    _check_model(model)
    ids = _validate.rank("ids", ids, (2,), "(B, T)")
    start, max_len = cache.length, model.cfg.max_len
    if start + ids.shape[1] > max_len:
        raise ValueError(
            f"the cache holds {start} positions and ids adds {ids.shape[1]}: "
            f"{start + ids.shape[1]} is more than cfg.max_len={max_len}, the longest sequence "
            f"the model has positions for"
        )
    if not cache.keys:
        cache.keys, cache.values = [None] * len(model.layers), [None] * len(model.layers)
    x = _positions(model, model.embedding.token(ids), start)  # (B, T, D)
    for i, layer in enumerate(model.layers):

        def attend(h, i=i, attn=layer.self_attn):
            out, cache.keys[i], cache.values[i] = _cached_attention(
                attn, h, cache.keys[i], cache.values[i], start
            )
            return out  # (B, T, D)

        x = layer.attn_block(x, attend)  # (B, T, D); the block applies pre-LN or post-LN
        x = layer.ffn_block(x, layer.ffn)  # (B, T, D)
    cache.length = start + ids.shape[1]
    if model.final_norm is not None:
        x = model.final_norm(x)
    return model.output(x)  # (B, T, V)


@torch.no_grad()
def generate_with_cache(
    model: DecoderOnlyLM,
    ids: torch.Tensor,
    max_new_tokens: int,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``decoding.generate`` with a key-value cache: the same tokens, one position of work per step.

    The prompt is run through the model once; each new token then costs one position. Unlike
    ``generate``, the context cannot be cropped to the last ``cfg.max_len`` tokens (the cached keys
    would belong to other positions), so the whole sequence must fit in ``cfg.max_len``.

    Shape:
        ids ``(B, T)``; returns ``(B, T + max_new_tokens)``.
    """
    _check_model(model)
    ids = _validate.rank("ids", ids, (2,), "(B, T)")
    _validate.positive_int("max_new_tokens", max_new_tokens)
    needed = ids.shape[1] + max_new_tokens - 1  # the last new token is never fed back
    if needed > model.cfg.max_len:
        raise ValueError(
            f"the prompt (T={ids.shape[1]}) plus max_new_tokens={max_new_tokens} needs {needed} "
            f"positions, more than cfg.max_len={model.cfg.max_len}; a cache cannot crop the "
            f"context the way decoding.generate does: shorten the prompt or generate fewer tokens"
        )
    cache = KVCache()
    new = ids
    for _ in range(max_new_tokens):
        logits = forward_with_cache(model, new, cache)[:, -1]  # (B, V)
        if greedy:
            next_token = logits.argmax(dim=-1)
        else:
            next_token = sample_next_token(logits, temperature, top_k, top_p, generator)
        new = next_token[:, None]  # (B, 1): only the new token goes in next time
        ids = torch.cat([ids, new], dim=1)
    return ids


__all__ = ["KVCache", "forward_with_cache", "generate_with_cache"]
