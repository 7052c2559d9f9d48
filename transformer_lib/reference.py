"""PyTorch's own modules holding the same weights as ours, for equivalence checks.

Used by the tests and by the chapters, so both prove the same thing the same way.
"""

from __future__ import annotations

import torch
from torch import nn

from transformer_lib.attention import MultiHeadAttention


@torch.no_grad()
def torch_multihead_attention(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """An ``nn.MultiheadAttention(batch_first=True)`` with the weights of ``ours`` copied in.

    PyTorch packs the three input projections into one ``in_proj_weight`` of shape ``(3D, D)``:
    rows ``[0, D)`` are W^Q, ``[D, 2D)`` W^K and ``[2D, 3D)`` W^V. Remember its boolean masks
    mean "blocked" where ours mean "may attend": pass a ``(T, S)`` mask as ``attn_mask=~mask``,
    and a ``(B, 1, S)`` padding mask as ``key_padding_mask=~mask.squeeze(1)`` (its 3-D
    ``attn_mask`` wants one ``(T, S)`` mask per batch element and head, ``(B * H, T, S)``).
    """
    has_bias = ours.q_proj.bias is not None
    theirs = nn.MultiheadAttention(
        ours.d_model, ours.n_heads, dropout=ours.dropout, bias=has_bias, batch_first=True
    )
    theirs.in_proj_weight.copy_(
        torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight])
    )
    theirs.out_proj.weight.copy_(ours.out_proj.weight)
    if has_bias:
        theirs.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        theirs.out_proj.bias.copy_(ours.out_proj.bias)
    return theirs.to(ours.q_proj.weight.device).train(ours.training)
