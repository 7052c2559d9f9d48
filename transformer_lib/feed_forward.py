"""Chapter 3: the position-wise feed-forward network.

See: notebooks/03_feed_forward.ipynb
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib import _validate

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2  (Vaswani et al. 2017, eq. 2).

    Two linear maps with a non-linearity between them, applied to every position separately and
    identically: ``linear2(dropout(activation(linear1(x))))``, the same order as PyTorch's
    ``nn.TransformerEncoderLayer``.

    Args:
        d_model: D.
        d_ff: F, the hidden width; 4 * D when not given (2048 for D = 512, as in the paper).
        dropout: dropout on the hidden activations.
        activation: ``"relu"`` (the paper) or ``"gelu"`` (BERT, GPT).

    Shape:
        ``(..., D)`` -> ``(..., D)``; usually ``(B, T, D)``.
    """

    def __init__(
        self, d_model: int, d_ff: int | None = None, dropout: float = 0.0, activation: str = "relu"
    ):
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        _validate.positive_int("d_model", d_model)
        _validate.positive_int("d_ff", d_ff)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r}; expected one of {sorted(ACTIVATIONS)}")
        self.d_model, self.d_ff, self.activation_name = d_model, d_ff, activation
        self.activation = ACTIVATIONS[activation]
        self.check_inputs = True  # a LayerStack turns this off: its model checks inputs once
        self.linear1 = nn.Linear(d_model, d_ff)
        self.dropout = nn.Dropout(_validate.probability("dropout", dropout))
        self.linear2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.check_inputs:
            _validate.features("x", x, self.d_model)
        hidden = self.dropout(self.activation(self.linear1(x)))  # (..., F)
        return self.linear2(hidden)  # (..., D)
