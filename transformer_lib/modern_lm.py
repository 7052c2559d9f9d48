"""Chapter 16: a decoder-only language model with a switch for each change since GPT-2.

``ModernLM(cfg, DecoderSwitches())`` is chapter 9's ``DecoderOnlyLM`` (the same parameters and the
same numbers); ``ModernLM(cfg, LLAMA)`` is a Llama-style decoder: RMSNorm, rotary positions,
SwiGLU, no biases, grouped-query attention. Each switch changes one thing.

See: notebooks/16_modern_decoders.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from transformer_lib import _validate
from transformer_lib.attention import causal_mask
from transformer_lib.config import TransformerConfig
from transformer_lib.embeddings import (
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    TokenEmbedding,
)
from transformer_lib.feed_forward import FeedForward
from transformer_lib.modern import GroupedQueryAttention, RMSNorm, SwiGLU, drop_biases, swiglu_width
from transformer_lib.normalization import LayerNorm

__all__ = ["GPT2", "LLAMA", "SINUSOIDAL_MAX_LEN", "DecoderSwitches", "ModernBlock", "ModernLM"]

SINUSOIDAL_MAX_LEN = 4096  # fixed encodings cost nothing to tabulate far past cfg.max_len

_CHOICES = {"norm": ("layer", "rms"), "positions": ("learned", "sinusoidal", "rope"),
            "ffn": ("gelu", "swiglu")}


@dataclass(frozen=True)
class DecoderSwitches:
    """What differs from GPT-2. The defaults are GPT-2's; ``LLAMA`` flips every switch.

    norm: ``"layer"`` (LayerNorm) or ``"rms"`` (RMSNorm).
    positions: ``"learned"`` (a table of cfg.max_len vectors), ``"sinusoidal"`` (the 2017 paper's,
        tabulated up to ``SINUSOIDAL_MAX_LEN``) or ``"rope"`` (rotary, inside attention).
    ffn: ``"gelu"`` (two matrices of width cfg.d_ff) or ``"swiglu"`` (three of width
        ``swiglu_width(cfg.d_ff)``: the same parameters).
    bias: whether the linear layers (attention and feed-forward) have biases.
    n_kv_heads: key/value heads of grouped-query attention; None means cfg.n_heads.
    """

    norm: str = "layer"
    positions: str = "learned"
    ffn: str = "gelu"
    bias: bool = True
    n_kv_heads: int | None = None

    def __post_init__(self):
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; expected one of {allowed}")
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias={self.bias!r} must be True or False")
        if self.n_kv_heads is not None:
            _validate.positive_int("n_kv_heads", self.n_kv_heads)


GPT2 = DecoderSwitches()
LLAMA = DecoderSwitches(norm="rms", positions="rope", ffn="swiglu", bias=False, n_kv_heads=2)


def _norm(cfg: TransformerConfig, switches: DecoderSwitches) -> nn.Module:
    if switches.norm == "rms":
        return RMSNorm(cfg.d_model, cfg.layer_norm_eps)
    return LayerNorm(cfg.d_model, cfg.layer_norm_eps)


class ModernBlock(nn.Module):
    """A pre-norm decoder layer: ``x + attn(norm1(x))``, then ``x + ffn(norm2(x))``.

    Shape:
        x ``(B, T, D)``, mask bool ``(T, S)``; returns ``(B, T, D)``.
    """

    def __init__(self, cfg: TransformerConfig, switches: DecoderSwitches):
        super().__init__()
        self.attn = GroupedQueryAttention(cfg.d_model, cfg.n_heads, switches.n_kv_heads,
                                          bias=switches.bias, rope=switches.positions == "rope")
        if switches.ffn == "swiglu":
            self.ffn = SwiGLU(cfg.d_model, swiglu_width(cfg.d_ff))  # has no biases
        else:
            self.ffn = FeedForward(cfg.d_model, cfg.d_ff, activation="gelu")
            if not switches.bias:
                drop_biases(self.ffn)
        self.norm1, self.norm2 = _norm(cfg, switches), _norm(cfg, switches)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cache=None,
                start: int = 0) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask, cache, start)  # (B, T, D)
        return x + self.ffn(self.norm2(x))  # (B, T, D)


class ModernLM(nn.Module):
    """A decoder-only LM (pre-norm, tied output layer, scaled token embedding as chapter 9's),
    with each change since GPT-2 behind a switch.

    Args:
        cfg: the sizes (``vocab_size``, ``d_model``, ``n_heads``, ``d_ff``, ``n_layers``,
            ``max_len`` for learned positions, ``layer_norm_eps``); dropout is not used.
        switches: what to change; default GPT-2's (then this is ``DecoderOnlyLM(cfg)``).

    Shape:
        ids ``(B, T)``; returns logits ``(B, T, V)``. With a ``cache`` (chapter 9's
        ``kv_cache.KVCache``) ids are the tokens after the ``cache.length`` cached ones.
    """

    def __init__(self, cfg: TransformerConfig, switches: DecoderSwitches = GPT2):
        super().__init__()
        if not isinstance(cfg, TransformerConfig):
            raise TypeError(f"cfg must be a TransformerConfig, got {type(cfg).__name__}")
        if not isinstance(switches, DecoderSwitches):
            raise TypeError(f"switches must be a DecoderSwitches, got {type(switches).__name__}")
        if cfg.dropout:
            raise ValueError(f"cfg.dropout={cfg.dropout}: ModernLM has no dropout; pass 0.0")
        n_kv = cfg.n_heads if switches.n_kv_heads is None else switches.n_kv_heads
        if cfg.n_heads % n_kv:
            raise ValueError(f"switches.n_kv_heads={n_kv} must divide cfg.n_heads={cfg.n_heads}")
        self.cfg, self.switches = cfg, switches
        self.token = TokenEmbedding(cfg.vocab_size, cfg.d_model)
        if switches.positions == "learned":
            self.position = LearnedPositionalEncoding(cfg.d_model, cfg.max_len)
        elif switches.positions == "sinusoidal":
            self.position = SinusoidalPositionalEncoding(cfg.d_model, SINUSOIDAL_MAX_LEN)
        else:
            self.position = None  # rotary: the positions enter inside each attention
        self.layers = nn.ModuleList(ModernBlock(cfg, switches) for _ in range(cfg.n_layers))
        self.final_norm = _norm(cfg, switches)
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.output.weight = self.token.table.weight  # tied, as GPT-2 and chapter 9
        _validate.skip_input_checks(self.layers)  # the ids are checked once, in forward
        _validate.skip_input_checks(self.final_norm)

    def forward(self, ids: torch.Tensor, cache=None) -> torch.Tensor:
        ids = _validate.rank("ids", ids, (2,), "(B, T)")
        start = 0 if cache is None else cache.length  # the position of ids[:, 0]
        x = self.token(ids)  # (B, T, D)
        if self.position is not None:
            x = self.position(x, start)  # learned positions raise past cfg.max_len
        mask = causal_mask(ids.shape[1], ids.device, start)  # (T, start + T)
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, None if cache is None else cache.layer(i), start)
        return self.output(self.final_norm(x))  # (B, T, V)
