"""Chapter 5: the encoder, a stack of N identical layers over embedded tokens.

See: notebooks/05_encoder.ipynb
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from transformer_lib import _validate
from transformer_lib.attention import MultiHeadAttention, padding_mask_from_ids
from transformer_lib.config import TransformerConfig
from transformer_lib.embeddings import TransformerEmbedding
from transformer_lib.feed_forward import FeedForward
from transformer_lib.normalization import LayerNorm, ResidualConnection

__all__ = ["Encoder", "EncoderLayer", "LayerStack", "transformer_embedding"]


class EncoderLayer(nn.Module):
    """Self-attention then a feed-forward network, each inside a residual connection.

    Post-LN (the paper): ``x = norm1(x + attn(x)); x = norm2(x + ffn(x))``.
    Pre-LN (``cfg.norm_first``): ``x = x + attn(norm1(x)); x = x + ffn(norm2(x))``.

    Shape:
        x ``(B, S, D)``, mask bool ``(B, 1, S)`` (padding) or ``(S, S)``; returns ``(B, S, D)``.
        ``cache`` goes to the self-attention (chapter 9's key-value cache).
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.ffn = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout, cfg.activation)
        self.attn_block = ResidualConnection(cfg.d_model, cfg.dropout, cfg.norm_first,
                                             cfg.layer_norm_eps)
        self.ffn_block = ResidualConnection(cfg.d_model, cfg.dropout, cfg.norm_first,
                                            cfg.layer_norm_eps)

    @classmethod
    def sized(cls, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
              norm_first: bool = False) -> "EncoderLayer":
        """A layer made from its sizes, with the arguments of the exercises' layers (chapters
        5 to 7), so that ``parts.load`` can fall back on it."""
        return cls(TransformerConfig(vocab_size=1, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                                     dropout=dropout, norm_first=norm_first, pad_id=None))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                cache=None) -> torch.Tensor:
        x = self.attn_block(x, lambda h: self.self_attn(h, mask=mask, cache=cache))  # (B, S, D)
        return self.ffn_block(x, self.ffn)  # (B, S, D)


class LayerStack(nn.Module):
    """N layers applied one after the other; a pre-LN stack then ends with one more LayerNorm.

    The residual stream of a pre-LN stack is never normalized inside a layer, so its output
    gets a final ``LayerNorm``; the paper's post-LN layers end with a norm already. This is
    what PyTorch calls ``nn.TransformerEncoder`` (or ``nn.TransformerDecoder``): the layers
    without the embeddings. ``Encoder``, ``Decoder`` and ``DecoderOnlyLM`` each hold one.

    Inputs are checked once, by the first layer: the later layers receive what it returned,
    and the same masks it checked, so their modules skip their own checks.

    Args:
        layers: the N layers, each mapping ``(B, T, D)`` (and its other inputs) to ``(B, T, D)``.
        cfg: ``d_model``, ``norm_first`` and ``layer_norm_eps`` of the final norm.

    Shape:
        x ``(B, T, D)``, then what every layer takes after x (a mask; a ``DecoderLayer`` also
        takes the memory); returns ``(B, T, D)``. ``cache`` (chapter 9) gives layer i the
        cache ``cache.layer(i)``.
    """

    def __init__(self, layers: Iterable[nn.Module], cfg: TransformerConfig):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        for later in self.layers[1:]:
            _validate.skip_input_checks(later)
        self.final_norm = LayerNorm(cfg.d_model, cfg.layer_norm_eps) if cfg.norm_first else None

    def forward(self, x: torch.Tensor, *layer_inputs, cache=None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            if cache is None:
                x = layer(x, *layer_inputs)  # (B, T, D)
            else:
                x = layer(x, *layer_inputs, cache=cache.layer(i))  # (B, T, D)
        return x if self.final_norm is None else self.final_norm(x)


def transformer_embedding(
    cfg: TransformerConfig, vocab_size: int | None = None
) -> TransformerEmbedding:
    """The paper's input layer for ``cfg`` (scaled token embedding + positions, then dropout).

    ``vocab_size`` defaults to ``cfg.vocab_size`` (a decoder passes ``cfg.target_vocab_size``).
    """
    vocab_size = cfg.vocab_size if vocab_size is None else vocab_size
    return TransformerEmbedding(vocab_size, cfg.d_model, cfg.max_len, cfg.dropout,
                                cfg.positional, cfg.pad_id)


class Encoder(nn.Module):
    """Token ids to contextual vectors: an embedding, then a ``LayerStack`` of N ``EncoderLayer``.

    Args:
        cfg: the sizes and switches.
        embedding: the input layer, a module mapping ids ``(B, S)`` to ``(B, S, D)``; default:
            ``transformer_embedding(cfg)``, the paper's. Chapter 11 injects one that adds word
            features, chapter 12 BERT's.
        layers: the N layers, each called as ``layer(x, mask)``; default: ``cfg.n_layers`` of
            ``EncoderLayer(cfg)``. Chapter 7 builds the encoder from the learner's own layers.

    Shape:
        ids ``(B, S)`` integer, mask bool ``(B, 1, S)`` (True at real tokens; default: built from
        ``cfg.pad_id``); returns ``(B, S, D)``. Extra keyword inputs go to the embedding (e.g.
        BERT's ``token_type_ids``).
    """

    def __init__(self, cfg: TransformerConfig, embedding: nn.Module | None = None,
                 layers: Iterable[nn.Module] | None = None):
        super().__init__()
        self.cfg = cfg
        self.embedding = transformer_embedding(cfg) if embedding is None else embedding
        if layers is None:
            layers = (EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.stack = LayerStack(layers, cfg)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None,
                **embedding_inputs) -> torch.Tensor:
        ids = _validate.rank("ids", ids, (2,), "(B, S)")
        if mask is None:
            mask = padding_mask_from_ids(ids, self.cfg.pad_id)  # (B, 1, S), or None: no padding
        return self.stack(self.embedding(ids, **embedding_inputs), mask)  # (B, S, D)
