"""Chapter 6: the decoder, which attends to its own past and to the encoder's output.

See: notebooks/06_decoder.ipynb
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from transformer_lib import _validate
from transformer_lib.attention import MultiHeadAttention, causal_mask
from transformer_lib.config import TransformerConfig
from transformer_lib.encoder import LayerStack, transformer_embedding
from transformer_lib.feed_forward import FeedForward
from transformer_lib.normalization import ResidualConnection

__all__ = ["Decoder", "DecoderLayer"]


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder's output, then a feed-forward network.

    Each of the three sublayers sits inside a residual connection (post-LN or pre-LN, as
    ``cfg.norm_first`` says). The queries of the cross-attention come from the decoder, its keys
    and values from the encoder's output (the "memory").

    Shape:
        x ``(B, T, D)``, memory ``(B, S, D)``, tgt_mask bool ``(T, T)`` or ``(B, T, T)``
        (default: causal), memory_mask bool ``(B, 1, S)`` or None; returns ``(B, T, D)``.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.cross_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.ffn = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout, cfg.activation)
        blocks = [
            ResidualConnection(cfg.d_model, cfg.dropout, cfg.norm_first, cfg.layer_norm_eps)
            for _ in range(3)
        ]
        self.self_attn_block, self.cross_attn_block, self.ffn_block = blocks

    @classmethod
    def sized(cls, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
              norm_first: bool = False) -> "DecoderLayer":
        """A layer made from its sizes, with the arguments of the exercises' layers (chapters
        5 to 7), so that ``parts.load`` can fall back on it."""
        return cls(TransformerConfig(vocab_size=1, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                                     dropout=dropout, norm_first=norm_first, pad_id=None))

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if tgt_mask is None:
            tgt_mask = causal_mask(x.shape[1], device=x.device)  # (T, T)
        x = self.self_attn_block(x, lambda h: self.self_attn(h, mask=tgt_mask))  # (B, T, D)
        x = self.cross_attn_block(x, lambda h: self.cross_attn(h, memory, memory, memory_mask))
        return self.ffn_block(x, self.ffn)  # (B, T, D)


class Decoder(nn.Module):
    """Target ids and the encoder's output to vectors: an embedding, then N ``DecoderLayer``.

    Args:
        cfg: the sizes and switches (the target vocabulary is ``cfg.target_vocab_size``).
        embedding: the input layer, ids ``(B, T)`` to ``(B, T, D)``; default: the paper's.
        layers: the N layers, each called as ``layer(x, memory, tgt_mask, memory_mask)``;
            default: ``cfg.decoder_layers`` of ``DecoderLayer(cfg)``.

    Shape:
        ids ``(B, T)``, memory ``(B, S, D)``, masks as in ``DecoderLayer`` (tgt_mask default:
        causal, made here once for every layer); returns ``(B, T, D)``.
    """

    def __init__(self, cfg: TransformerConfig, embedding: nn.Module | None = None,
                 layers: Iterable[nn.Module] | None = None):
        super().__init__()
        self.cfg = cfg
        self.embedding = (transformer_embedding(cfg, cfg.target_vocab_size) if embedding is None
                          else embedding)
        if layers is None:
            layers = (DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        self.stack = LayerStack(layers, cfg)

    def forward(
        self,
        ids: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        ids = _validate.rank("ids", ids, (2,), "(B, T)")
        memory = _validate.rank("memory", memory, (3,), "(B, S, D)")
        if memory.shape[-1] != self.cfg.d_model or memory.shape[0] != ids.shape[0]:
            raise ValueError(
                f"memory must have shape (B={ids.shape[0]}, S, D={self.cfg.d_model}), "
                f"got {tuple(memory.shape)}"
            )
        if tgt_mask is None:
            tgt_mask = causal_mask(ids.shape[1], device=ids.device)  # (T, T)
        return self.stack(self.embedding(ids), memory, tgt_mask, memory_mask)  # (B, T, D)
