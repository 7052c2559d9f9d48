"""Chapter 9: a key-value cache, to generate with a ``DecoderOnlyLM`` without recomputing the past.

Under the causal mask, the keys and values of position t never change once t is written: later
tokens cannot reach back into them. ``decoding.generate`` still runs the whole sequence through the
model at every step. With a cache, each self-attention keeps the keys and values it has already
computed, and each step runs only the newest token through the model: the same numbers, with one
position of work per step instead of T. The model itself needs no second forward pass: its
``forward(ids, cache)`` starts the positions at ``cache.length``, and each ``MultiHeadAttention``
calls ``update`` on its layer's cache.

See: notebooks/09_text_generation.ipynb
"""

from __future__ import annotations

import torch

from transformer_lib import _validate
from transformer_lib.decoding import sample_next_token
from transformer_lib.models import DecoderOnlyLM

__all__ = ["KVCache", "LayerCache", "forward_with_cache", "generate_with_cache"]


class KVCache:
    """The keys and values each layer has computed so far, and how many positions they cover.

    Shape:
        ``keys[i]`` and ``values[i]`` ``(B, H, S, Dh)`` for layer i, S = ``length``.
    """

    def __init__(self):
        self.keys: list[torch.Tensor | None] = []
        self.values: list[torch.Tensor | None] = []

    @property
    def length(self) -> int:
        """S, the number of positions cached (0 before the first forward pass)."""
        return 0 if not self.keys or self.keys[0] is None else self.keys[0].shape[2]

    def layer(self, index: int) -> LayerCache:
        """The cache of layer ``index``, what its self-attention's ``cache`` argument takes."""
        while len(self.keys) <= index:
            self.keys.append(None)
            self.values.append(None)
        return LayerCache(self, index)


class LayerCache:
    """One layer's view of a ``KVCache``: ``update`` appends new keys and values and returns all."""

    def __init__(self, cache: KVCache, index: int):
        self.cache, self.index = cache, index

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``k``, ``v`` ``(B, H, T, Dh)`` of the new positions -> all ``(B, H, S + T, Dh)``."""
        keys, values, i = self.cache.keys, self.cache.values, self.index
        if keys[i] is not None:
            k, v = torch.cat([keys[i], k], dim=2), torch.cat([values[i], v], dim=2)
        keys[i], values[i] = k, v
        return k, v


def _check_model(model: object) -> None:
    if not isinstance(model, DecoderOnlyLM):
        raise TypeError(f"model must be a transformer_lib DecoderOnlyLM, got "
                        f"{type(model).__name__}")


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
    return model(ids, cache=cache)  # (B, T, V)


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
