"""Whole models: the encoder-decoder Transformer and the decoder-only language model.

See: notebooks/06_decoder.ipynb
"""

from __future__ import annotations

import torch
from torch import nn

from transformer_lib.attention import causal_mask
from transformer_lib.config import TransformerConfig
from transformer_lib.decoder import Decoder
from transformer_lib.embeddings import TransformerEmbedding
from transformer_lib.encoder import Encoder, EncoderLayer
from transformer_lib.normalization import LayerNorm


class Transformer(nn.Module):
    """The encoder-decoder of Vaswani et al. (2017), from token ids to next-token logits.

    With ``cfg.share_embeddings`` (the paper, section 3.4) the source embedding, the target
    embedding and the output layer share one ``(V, D)`` matrix.

    Shape:
        src ``(B, S)``, tgt ``(B, T)`` integer ids; src_mask bool ``(B, 1, S)`` (default: from
        ``cfg.pad_id``), tgt_mask bool ``(T, T)`` or ``(B, T, T)`` (default: causal);
        returns logits ``(B, T, V)``.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.output = nn.Linear(cfg.d_model, cfg.target_vocab_size, bias=not cfg.share_embeddings)
        if cfg.share_embeddings:
            shared = self.encoder.embedding.token.embedding.weight
            self.decoder.embedding.token.embedding.weight = shared
            self.output.weight = shared

    def forward(self, src, tgt, src_mask=None, tgt_mask=None) -> torch.Tensor:
        src_mask = self.source_mask(src) if src_mask is None else src_mask
        memory = self.encode(src, src_mask)  # (B, S, D)
        return self.decode(tgt, memory, src_mask, tgt_mask)  # (B, T, V)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Source ids ``(B, S)`` to the memory ``(B, S, D)``."""
        return self.encoder(src, src_mask)

    def decode(self, tgt, memory, src_mask=None, tgt_mask=None) -> torch.Tensor:
        """Target ids ``(B, T)`` and memory ``(B, S, D)`` to logits ``(B, T, V)``."""
        return self.output(self.decoder(tgt, memory, tgt_mask, src_mask))

    def source_mask(self, src: torch.Tensor) -> torch.Tensor | None:
        """``(B, 1, S)`` True at real tokens, or None when the config has no padding id."""
        return None if self.cfg.pad_id is None else (src != self.cfg.pad_id).unsqueeze(1)


class DecoderOnlyLM(nn.Module):
    """A GPT-style language model: embeddings, N causal self-attention layers, output logits.

    Each layer is an ``EncoderLayer`` run under a causal mask: a decoder layer without the
    cross-attention, since there is no encoder to attend to. The output layer shares the token
    embedding's matrix when ``cfg.share_embeddings`` is set (as GPT-2 does).

    Shape:
        ids ``(B, T)``; returns logits ``(B, T, V)``.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = TransformerEmbedding(
            cfg.vocab_size, cfg.d_model, cfg.max_len, cfg.dropout, cfg.positional, cfg.pad_id
        )
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.final_norm = LayerNorm(cfg.d_model, cfg.layer_norm_eps) if cfg.norm_first else None
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size, bias=not cfg.share_embeddings)
        if cfg.share_embeddings:
            self.output.weight = self.embedding.token.embedding.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids)  # (B, T, D)
        mask = causal_mask(ids.shape[1], device=ids.device)  # (T, T)
        for layer in self.layers:
            x = layer(x, mask)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return self.output(x)  # (B, T, V)


class MaskedLanguageModel(nn.Module):
    """An encoder with an output layer over the vocabulary, trained BERT-style (chapter 7).

    Shape:
        ids ``(B, S)`` (some replaced by the mask token); returns logits ``(B, S, V)``.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size, bias=not cfg.share_embeddings)
        if cfg.share_embeddings:
            self.output.weight = self.encoder.embedding.token.embedding.weight

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(self.encoder(ids, mask))  # (B, S, V)
