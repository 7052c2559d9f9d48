"""Chapter 4: layer normalization and the residual connection around each sublayer.

See: notebooks/04_layer_norm.ipynb
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib import _validate


def layer_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Layer normalization written out, the formula of chapter 4: ``(..., D)`` -> ``(..., D)``.

    ``weight`` and ``bias`` have shape ``(D,)``. :class:`LayerNorm` computes the same numbers with
    PyTorch's fused ``F.layer_norm`` (one pass over the tensor instead of eight); chapter 4 proves
    the two equal.
    """
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), biased: divide by D
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


class LayerNorm(nn.Module):
    """Layer normalization (Ba et al. 2016): normalize each vector over its D features.

    y = (x - mean(x)) / sqrt(var(x) + eps) * gain + bias, with the biased variance (divide by D)
    and eps inside the square root, exactly as ``nn.LayerNorm``: the formula is :func:`layer_norm`,
    run here by PyTorch's fused ``F.layer_norm``.

    Args:
        d_model: D, the size of the last dimension.
        eps: added to the variance for numerical safety.

    Shape:
        ``(..., D)`` -> ``(..., D)``.
    """

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.d_model = _validate.positive_int("d_model", d_model)
        self.eps = _validate.positive("eps", eps)
        self.check_inputs = True  # a LayerStack turns this off: its model checks inputs once
        self.weight = nn.Parameter(torch.ones(d_model))  # the gain
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.check_inputs:
            _validate.features("x", x, self.d_model)
        # The fused kernel computes layer_norm(x, self.weight, self.bias, self.eps) in one pass.
        return F.layer_norm(x, (self.d_model,), self.weight, self.bias, self.eps)


class ResidualConnection(nn.Module):
    """A sublayer wrapped with its residual connection, dropout and layer norm.

    Post-LN, the paper's "Add & Norm" (section 3.1): ``norm(x + dropout(sublayer(x)))``.
    Pre-LN (``norm_first=True``, used by GPT-2 and most later models):
    ``x + dropout(sublayer(norm(x)))``, which leaves the residual path untouched.

    Args:
        d_model: D.
        dropout: dropout on the sublayer's output (0.1 in the paper).
        norm_first: False for the paper's post-LN, True for pre-LN.
        eps: the layer norm's eps.

    Shape:
        ``(B, T, D)`` -> ``(B, T, D)``; the sublayer must map ``(B, T, D)`` to ``(B, T, D)``.
    """

    def __init__(self, d_model: int, dropout: float = 0.0, norm_first: bool = False, eps=1e-5):
        super().__init__()
        self.norm = LayerNorm(d_model, eps)
        self.dropout = nn.Dropout(_validate.probability("dropout", dropout))
        self.norm_first = norm_first

    def forward(self, x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor]):
        if self.norm_first:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))
