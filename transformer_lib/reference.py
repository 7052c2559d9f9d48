"""PyTorch's own modules holding the same weights as ours, for equivalence checks.

Used by the tests, the benchmarks and the chapters, so all prove the same thing the same way.
Each function builds the ``torch.nn`` counterpart of one of our modules (``batch_first=True``)
and copies every weight into it; the result is in the same train/eval mode and on the same
device as ours.

Mask translation: our boolean masks mean "may attend", PyTorch's mean "blocked". Pass a ``(T, S)``
mask as ``attn_mask=~mask`` (or ``mask=~mask`` / ``tgt_mask=~mask``), and a ``(B, 1, S)`` padding
mask as ``key_padding_mask=~mask.squeeze(1)`` (``src_key_padding_mask`` /
``memory_key_padding_mask`` on the layers and stacks).

See: notebooks/02_attention.ipynb onwards, first used for MultiHeadAttention
"""

from __future__ import annotations

import math

import torch
from torch import nn

from transformer_lib.attention import MultiHeadAttention
from transformer_lib.config import TransformerConfig
from transformer_lib.decoder import Decoder, DecoderLayer
from transformer_lib.encoder import Encoder, EncoderLayer
from transformer_lib.feed_forward import FeedForward
from transformer_lib.models import DecoderOnlyLM, Transformer
from transformer_lib.normalization import LayerNorm

__all__ = [
    "TorchDecoderOnlyLM",
    "torch_decoder",
    "torch_decoder_layer",
    "torch_decoder_only_lm",
    "torch_encoder",
    "torch_encoder_layer",
    "torch_layer_norm",
    "torch_multihead_attention",
    "torch_transformer",
]


@torch.no_grad()
def _copy_attention(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    # PyTorch packs W^Q, W^K, W^V into one (3D, D) in_proj_weight, in that order.
    theirs.in_proj_weight.copy_(
        torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight])
    )
    theirs.out_proj.weight.copy_(ours.out_proj.weight)
    if ours.q_proj.bias is not None:
        theirs.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        theirs.out_proj.bias.copy_(ours.out_proj.bias)


@torch.no_grad()
def _copy_norm(ours: LayerNorm, theirs: nn.LayerNorm) -> None:
    theirs.weight.copy_(ours.weight)
    theirs.bias.copy_(ours.bias)


@torch.no_grad()
def _copy_ffn(ours: FeedForward, theirs: nn.Module) -> None:
    for name in ("linear1", "linear2"):
        getattr(theirs, name).weight.copy_(getattr(ours, name).weight)
        getattr(theirs, name).bias.copy_(getattr(ours, name).bias)


def _match_device_and_mode(theirs: nn.Module, ours: nn.Module) -> nn.Module:
    device = next(ours.parameters()).device
    return theirs.to(device).train(ours.training)


def torch_multihead_attention(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """An ``nn.MultiheadAttention(batch_first=True)`` with the weights of ``ours`` copied in."""
    theirs = nn.MultiheadAttention(
        ours.d_model, ours.n_heads, dropout=ours.dropout, bias=ours.q_proj.bias is not None,
        batch_first=True,
    )
    _copy_attention(ours, theirs)
    return _match_device_and_mode(theirs, ours)


def torch_layer_norm(ours: LayerNorm) -> nn.LayerNorm:
    """An ``nn.LayerNorm`` with our gain, bias and eps."""
    theirs = nn.LayerNorm(ours.d_model, eps=ours.eps)
    _copy_norm(ours, theirs)
    return _match_device_and_mode(theirs, ours)


def _layer_kwargs(cfg: TransformerConfig) -> dict:
    return dict(
        d_model=cfg.d_model, nhead=cfg.n_heads, dim_feedforward=cfg.d_ff, dropout=cfg.dropout,
        activation=cfg.activation, layer_norm_eps=cfg.layer_norm_eps, batch_first=True,
        norm_first=cfg.norm_first,
    )


def torch_encoder_layer(ours: EncoderLayer, cfg: TransformerConfig) -> nn.TransformerEncoderLayer:
    """An ``nn.TransformerEncoderLayer`` with the weights of ``ours`` (built from ``cfg``)."""
    theirs = nn.TransformerEncoderLayer(**_layer_kwargs(cfg))
    _copy_attention(ours.self_attn, theirs.self_attn)
    _copy_ffn(ours.ffn, theirs)
    _copy_norm(ours.attn_block.norm, theirs.norm1)
    _copy_norm(ours.ffn_block.norm, theirs.norm2)
    return _match_device_and_mode(theirs, ours)


def torch_decoder_layer(ours: DecoderLayer, cfg: TransformerConfig) -> nn.TransformerDecoderLayer:
    """An ``nn.TransformerDecoderLayer`` with the weights of ``ours`` (built from ``cfg``)."""
    theirs = nn.TransformerDecoderLayer(**_layer_kwargs(cfg))
    _copy_attention(ours.self_attn, theirs.self_attn)
    _copy_attention(ours.cross_attn, theirs.multihead_attn)
    _copy_ffn(ours.ffn, theirs)
    _copy_norm(ours.self_attn_block.norm, theirs.norm1)
    _copy_norm(ours.cross_attn_block.norm, theirs.norm2)
    _copy_norm(ours.ffn_block.norm, theirs.norm3)
    return _match_device_and_mode(theirs, ours)


def _final_norm(ours: LayerNorm | None) -> nn.LayerNorm | None:
    return None if ours is None else torch_layer_norm(ours)


def torch_encoder(ours: Encoder) -> nn.TransformerEncoder:
    """An ``nn.TransformerEncoder`` equal to ``ours.stack`` (the layers, without the embedding).

    ``enable_nested_tensor=False``: with nested tensors PyTorch returns zeros at padded positions,
    where ours (and the paper) compute ordinary vectors that later layers simply never look at.
    """
    cfg = ours.cfg
    theirs = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(**_layer_kwargs(cfg)), cfg.n_layers,
        norm=_final_norm(ours.stack.final_norm), enable_nested_tensor=False,
    )
    theirs.layers = nn.ModuleList(torch_encoder_layer(layer, cfg) for layer in ours.stack.layers)
    return _match_device_and_mode(theirs, ours)


def torch_decoder(ours: Decoder) -> nn.TransformerDecoder:
    """An ``nn.TransformerDecoder`` equal to ``ours.stack`` (the layers, without the embedding)."""
    cfg = ours.cfg
    theirs = nn.TransformerDecoder(
        nn.TransformerDecoderLayer(**_layer_kwargs(cfg)), cfg.decoder_layers,
        norm=_final_norm(ours.stack.final_norm),
    )
    theirs.layers = nn.ModuleList(torch_decoder_layer(layer, cfg) for layer in ours.stack.layers)
    return _match_device_and_mode(theirs, ours)


def torch_transformer(ours: Transformer) -> nn.Transformer:
    """An ``nn.Transformer`` with the weights of our ``Transformer``'s two stacks.

    ``nn.Transformer`` has no embeddings and no output layer: feed it our embedded source and
    target (``ours.encoder.embedding(src)``, ``ours.decoder.embedding(tgt)``) and compare with
    our decoder's output before ``ours.output``. It always ends each stack with a LayerNorm;
    for the paper's post-LN model, which has none, those norms are removed here.
    """
    cfg = ours.cfg
    theirs = nn.Transformer(
        d_model=cfg.d_model, nhead=cfg.n_heads, dim_feedforward=cfg.d_ff, dropout=cfg.dropout,
        batch_first=True, custom_encoder=nn.Identity(), custom_decoder=nn.Identity(),
    )
    # set after construction: nn.Transformer re-initializes every matrix it holds when built
    theirs.encoder = torch_encoder(ours.encoder)
    theirs.decoder = torch_decoder(ours.decoder)
    return _match_device_and_mode(theirs, ours)


class TorchDecoderOnlyLM(nn.Module):
    """A GPT built from PyTorch's modules: ``nn.Embedding`` for tokens (times sqrt(D)) and
    positions, ``nn.TransformerEncoder`` under a causal mask, a final ``nn.LayerNorm`` (pre-LN),
    an output layer tied to the token table. ``torch_decoder_only_lm`` fills it with our weights.

    Shape:
        ids ``(B, T)``; returns logits ``(B, T, V)``.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        if cfg.positional != "learned" or not cfg.norm_first or not cfg.share_embeddings:
            raise ValueError("TorchDecoderOnlyLM mirrors a GPT: it needs positional='learned', "
                             "norm_first=True and share_embeddings=True")
        self.scale = math.sqrt(cfg.d_model)  # as TokenEmbedding (the paper, 3.4)
        self.token = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.position = nn.Embedding(cfg.max_len, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(**_layer_kwargs(cfg))
        self.stack = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.output.weight = self.token.weight
        blocked = ~torch.ones(cfg.max_len, cfg.max_len, dtype=torch.bool).tril()  # True = blocked
        self.register_buffer("blocked", blocked, persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        positions = torch.arange(T, device=ids.device)  # (T,)
        x = self.dropout(self.token(ids) * self.scale + self.position(positions))  # (B, T, D)
        x = self.stack(x, mask=self.blocked[:T, :T], is_causal=True)  # (B, T, D)
        return self.output(self.final_norm(x))  # (B, T, V)


def torch_decoder_only_lm(ours: DecoderOnlyLM) -> TorchDecoderOnlyLM:
    """A ``TorchDecoderOnlyLM`` holding the weights of ``ours`` (learned positions, pre-LN)."""
    cfg = ours.cfg
    theirs = TorchDecoderOnlyLM(cfg)
    with torch.no_grad():
        theirs.token.weight.copy_(ours.embedding.token.table.weight)
        theirs.position.weight.copy_(ours.embedding.position.table.weight)
    theirs.stack.layers = nn.ModuleList(
        torch_encoder_layer(layer, cfg) for layer in ours.stack.layers)
    theirs.final_norm = torch_layer_norm(ours.stack.final_norm)
    return _match_device_and_mode(theirs, ours)
