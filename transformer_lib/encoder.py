"""Chapter 5: the encoder, a stack of N identical layers over embedded tokens.

See: notebooks/05_encoder.ipynb
"""

from __future__ import annotations

import torch
from torch import nn

from transformer_lib.attention import MultiHeadAttention
from transformer_lib.config import TransformerConfig
from transformer_lib.embeddings import TransformerEmbedding
from transformer_lib.feed_forward import FeedForward
from transformer_lib.normalization import LayerNorm, ResidualConnection


class EncoderLayer(nn.Module):
    """Self-attention then a feed-forward network, each inside a residual connection.

    Post-LN (the paper): ``x = norm1(x + attn(x)); x = norm2(x + ffn(x))``.
    Pre-LN (``cfg.norm_first``): ``x = x + attn(norm1(x)); x = x + ffn(norm2(x))``.

    Shape:
        x ``(B, S, D)``, mask bool ``(B, 1, S)`` (padding) or ``(S, S)``; returns ``(B, S, D)``.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.ffn = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout, cfg.activation)
        self.attn_block = ResidualConnection(cfg.d_model, cfg.dropout, cfg.norm_first, cfg.layer_norm_eps)
        self.ffn_block = ResidualConnection(cfg.d_model, cfg.dropout, cfg.norm_first, cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attn_block(x, lambda h: self.self_attn(h, mask=mask))  # (B, S, D)
        return self.ffn_block(x, self.ffn)  # (B, S, D)


class Encoder(nn.Module):
    """Token ids to contextual vectors: embedding + positions, then N ``EncoderLayer``.

    A pre-LN stack ends with one more ``LayerNorm`` (its residual stream is never normalized
    otherwise); the paper's post-LN stack does not need one.

    Shape:
        ids ``(B, S)`` integer, mask bool ``(B, 1, S)`` (True at real tokens; default: built from
        ``cfg.pad_id``); returns ``(B, S, D)``.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = TransformerEmbedding(
            cfg.vocab_size, cfg.d_model, cfg.max_len, cfg.dropout, cfg.positional, cfg.pad_id
        )
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.final_norm = LayerNorm(cfg.d_model, cfg.layer_norm_eps) if cfg.norm_first else None

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None and self.cfg.pad_id is not None:
            mask = (ids != self.cfg.pad_id).unsqueeze(1)  # (B, 1, S)
        return self.run_layers(self.embedding(ids), mask)

    def run_layers(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The stack alone, on vectors that are already embedded: ``(B, S, D) -> (B, S, D)``."""
        for layer in self.layers:
            x = layer(x, mask)
        return x if self.final_norm is None else self.final_norm(x)
