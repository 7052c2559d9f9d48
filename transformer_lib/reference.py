"""PyTorch's own modules holding the same weights as ours, for equivalence checks.

Used by the tests and by the chapters, so both prove the same thing the same way. Each function
builds the ``torch.nn`` counterpart of one of our modules (``batch_first=True``) and copies every
weight into it; the result is in the same train/eval mode and on the same device as ours.

Mask translation: our boolean masks mean "may attend", PyTorch's mean "blocked". Pass a ``(T, S)``
mask as ``attn_mask=~mask`` (or ``mask=~mask`` / ``tgt_mask=~mask``), and a ``(B, 1, S)`` padding
mask as ``key_padding_mask=~mask.squeeze(1)`` (``src_key_padding_mask`` /
``memory_key_padding_mask`` on the layers and stacks).
"""

from __future__ import annotations

import torch
from torch import nn

from transformer_lib.attention import MultiHeadAttention
from transformer_lib.config import TransformerConfig
from transformer_lib.decoder import Decoder, DecoderLayer
from transformer_lib.encoder import Encoder, EncoderLayer
from transformer_lib.feed_forward import FeedForward
from transformer_lib.normalization import LayerNorm


@torch.no_grad()
def _copy_attention(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    # PyTorch packs W^Q, W^K, W^V into one (3D, D) in_proj_weight, in that order.
    theirs.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
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


def _like(theirs: nn.Module, ours: nn.Module) -> nn.Module:
    device = next(ours.parameters()).device
    return theirs.to(device).train(ours.training)


def torch_multihead_attention(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """An ``nn.MultiheadAttention(batch_first=True)`` with the weights of ``ours`` copied in."""
    theirs = nn.MultiheadAttention(
        ours.d_model, ours.n_heads, dropout=ours.dropout, bias=ours.q_proj.bias is not None,
        batch_first=True,
    )
    _copy_attention(ours, theirs)
    return _like(theirs, ours)


def torch_layer_norm(ours: LayerNorm) -> nn.LayerNorm:
    """An ``nn.LayerNorm`` with our gain, bias and eps."""
    theirs = nn.LayerNorm(ours.d_model, eps=ours.eps)
    _copy_norm(ours, theirs)
    return _like(theirs, ours)


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
    return _like(theirs, ours)


def torch_decoder_layer(ours: DecoderLayer, cfg: TransformerConfig) -> nn.TransformerDecoderLayer:
    """An ``nn.TransformerDecoderLayer`` with the weights of ``ours`` (built from ``cfg``)."""
    theirs = nn.TransformerDecoderLayer(**_layer_kwargs(cfg))
    _copy_attention(ours.self_attn, theirs.self_attn)
    _copy_attention(ours.cross_attn, theirs.multihead_attn)
    _copy_ffn(ours.ffn, theirs)
    _copy_norm(ours.self_attn_block.norm, theirs.norm1)
    _copy_norm(ours.cross_attn_block.norm, theirs.norm2)
    _copy_norm(ours.ffn_block.norm, theirs.norm3)
    return _like(theirs, ours)


def _final_norm(ours: LayerNorm | None) -> nn.LayerNorm | None:
    return None if ours is None else torch_layer_norm(ours)


def torch_encoder(ours: Encoder) -> nn.TransformerEncoder:
    """An ``nn.TransformerEncoder`` equal to ``ours.run_layers`` (the stack, without embeddings).

    ``enable_nested_tensor=False``: with nested tensors PyTorch returns zeros at padded positions,
    where ours (and the paper) compute ordinary vectors that later layers simply never look at.
    """
    cfg = ours.cfg
    theirs = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(**_layer_kwargs(cfg)), cfg.n_layers,
        norm=_final_norm(ours.final_norm), enable_nested_tensor=False,
    )
    theirs.layers = nn.ModuleList(torch_encoder_layer(layer, cfg) for layer in ours.layers)
    return _like(theirs, ours)


def torch_decoder(ours: Decoder, cfg: TransformerConfig) -> nn.TransformerDecoder:
    """An ``nn.TransformerDecoder`` equal to ``ours.run_layers`` (the stack, without embeddings)."""
    theirs = nn.TransformerDecoder(
        nn.TransformerDecoderLayer(**_layer_kwargs(cfg)), cfg.decoder_layers,
        norm=_final_norm(ours.final_norm),
    )
    theirs.layers = nn.ModuleList(torch_decoder_layer(layer, cfg) for layer in ours.layers)
    return _like(theirs, ours)


def torch_transformer(ours) -> nn.Transformer:
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
    theirs.decoder = torch_decoder(ours.decoder, cfg)
    return _like(theirs, ours)
