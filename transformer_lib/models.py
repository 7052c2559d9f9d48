"""Whole models: the encoder-decoder Transformer (chapter 6), the decoder-only language model
(chapter 6, generating in chapter 9) and the masked language model (chapter 7).

See: notebooks/06_decoder.ipynb, notebooks/07_training.ipynb
"""

from __future__ import annotations

import torch
from torch import nn

from transformer_lib import _validate
from transformer_lib.attention import causal_mask, padding_mask_from_ids
from transformer_lib.config import TransformerConfig
from transformer_lib.decoder import Decoder
from transformer_lib.encoder import Encoder, EncoderLayer, LayerStack, transformer_embedding

__all__ = ["DecoderOnlyLM", "MaskedLanguageModel", "Transformer"]


class Transformer(nn.Module):
    """The encoder-decoder of Vaswani et al. (2017), from token ids to next-token logits.

    With ``cfg.share_embeddings`` (the paper, section 3.4) the source embedding, the target
    embedding and the output layer share one ``(V, D)`` matrix.

    Args:
        cfg: the sizes and switches.
        encoder, decoder: default ``Encoder(cfg)`` and ``Decoder(cfg)``; chapter 7 passes ones
            built from the learner's own layers.

    Shape:
        src ``(B, S)``, tgt ``(B, T)`` integer ids; src_mask bool ``(B, 1, S)`` (default: from
        ``cfg.pad_id``), tgt_mask bool ``(T, T)`` or ``(B, T, T)`` (default: causal);
        returns logits ``(B, T, V)``.
    """

    def __init__(self, cfg: TransformerConfig, encoder: Encoder | None = None,
                 decoder: Decoder | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg) if encoder is None else encoder
        self.decoder = Decoder(cfg) if decoder is None else decoder
        self.output = nn.Linear(cfg.d_model, cfg.target_vocab_size, bias=not cfg.share_embeddings)
        if cfg.share_embeddings:
            shared = self.encoder.embedding.token.table.weight  # (V, D)
            self.decoder.embedding.token.table.weight = shared
            self.output.weight = shared

    def forward(
        self,
        src: torch.Tensor,
        tgt: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        tgt_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        src_mask = self.source_mask(src) if src_mask is None else src_mask
        memory = self.encode(src, src_mask)  # (B, S, D)
        return self.decode(tgt, memory, tgt_mask, src_mask)  # (B, T, V)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Source ids ``(B, S)`` to the memory ``(B, S, D)``."""
        return self.encoder(src, src_mask)

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Target ids ``(B, T)`` and memory ``(B, S, D)`` to logits ``(B, T, V)``.

        The masks come in ``Decoder.forward``'s order; ``memory_mask`` is the source mask.
        """
        return self.output(self.decoder(tgt, memory, tgt_mask, memory_mask))

    def source_mask(self, src: torch.Tensor) -> torch.Tensor | None:
        """``(B, 1, S)`` True at real tokens, or None when the config has no padding id."""
        return padding_mask_from_ids(src, self.cfg.pad_id)


class DecoderOnlyLM(nn.Module):
    """A GPT-style language model: embeddings, N causal self-attention layers, output logits.

    Each layer is an ``EncoderLayer`` run under a causal mask: a decoder layer without the
    cross-attention, since there is no encoder to attend to. The output layer shares the token
    embedding's matrix when ``cfg.share_embeddings`` is set (as GPT-2 does).

    Shape:
        ids ``(B, T)``; returns logits ``(B, T, V)``. With a ``cache`` (chapter 9's
        ``kv_cache.KVCache``), ids are the T tokens that follow the ``cache.length`` tokens
        already seen, and the cache keeps their keys and values too.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = transformer_embedding(cfg)
        self.stack = LayerStack((EncoderLayer(cfg) for _ in range(cfg.n_layers)), cfg)
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size, bias=not cfg.share_embeddings)
        if cfg.share_embeddings:
            self.output.weight = self.embedding.token.table.weight  # (V, D)

    def forward(self, ids: torch.Tensor, cache=None) -> torch.Tensor:
        ids = _validate.rank("ids", ids, (2,), "(B, T)")
        start = 0 if cache is None else cache.length  # the position of ids[:, 0]
        x = self.embedding(ids, start)  # (B, T, D)
        mask = causal_mask(ids.shape[1], ids.device, start)  # (T, start + T)
        return self.output(self.stack(x, mask, cache=cache))  # (B, T, V)


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
            self.output.weight = self.encoder.embedding.token.table.weight  # (V, D)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(self.encoder(ids, mask))  # (B, S, V)
