"""Chapter 1: token embeddings and positional encodings.

See: notebooks/01_embeddings.ipynb
"""

from __future__ import annotations

import math

import torch
from torch import nn

from transformer_lib import _validate


class TokenEmbedding(nn.Module):
    """Look up a learned vector for each token id, scaled by sqrt(D) as in the paper (3.4).

    Args:
        vocab_size: V, the number of token ids.
        d_model: D, the width of each vector.
        padding_idx: an id whose vector stays zero and gets no gradient (optional).

    Shape:
        ids ``(B, T)`` integer -> ``(B, T, D)``.
    """

    def __init__(self, vocab_size: int, d_model: int, padding_idx: int | None = None):
        super().__init__()
        self.vocab_size = _validate.positive_int("vocab_size", vocab_size)
        self.d_model = _validate.positive_int("d_model", d_model)
        if padding_idx is not None and not 0 <= padding_idx < vocab_size:
            raise ValueError(f"padding_idx={padding_idx} must lie in [0, vocab_size={vocab_size})")
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=padding_idx)
        # std D^-0.5, so the sqrt(D)-scaled vectors have unit-variance entries, the same size as
        # the positional encodings; nn.Embedding's std 1 would make them sqrt(D) times larger.
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5)
        if padding_idx is not None:
            with torch.no_grad():
                self.embedding.weight[padding_idx].zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = _validate.token_ids("ids", ids, self.vocab_size)
        return self.embedding(ids) * math.sqrt(self.d_model)  # (B, T, D)


def sinusoidal_positional_encoding(
    max_len: int, d_model: int, base: float = 10000.0
) -> torch.Tensor:
    """The paper's fixed positional encodings (Vaswani et al. 2017, section 3.5).

    PE(pos, 2i) = sin(pos / base^(2i/D)),  PE(pos, 2i+1) = cos(pos / base^(2i/D)).

    Args:
        max_len: number of positions.
        d_model: D, must be even (sines and cosines come in pairs).
        base: the wavelength base, 10000 in the paper.

    Returns:
        ``(max_len, D)`` float32 tensor with values in [-1, 1].
    """
    _validate.positive_int("max_len", max_len)
    _validate.positive_int("d_model", d_model)
    if d_model % 2:
        raise ValueError(f"d_model={d_model} must be even: sines and cosines come in pairs")
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32)  # (D/2,)
    angle = position / base ** (two_i / d_model)  # (max_len, D/2)
    pe = torch.empty(max_len, d_model)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


class SinusoidalPositionalEncoding(nn.Module):
    """Add fixed sinusoidal position vectors to a batch of token vectors, then dropout.

    Args:
        d_model: D.
        max_len: the longest sequence this module accepts.
        dropout: dropout probability applied to the sum (0.1 in the paper).

    Shape:
        ``(B, T, D)`` -> ``(B, T, D)``, with T <= max_len.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0):
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(_validate.probability("dropout", dropout))
        # A buffer moves with .to(device) but is not trained; not persistent: rebuilt, not saved.
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_positions("x", x, self.max_len, self.pe.shape[1])
        return self.dropout(x + self.pe[: x.shape[1]].to(x.dtype))  # (B, T, D)


class LearnedPositionalEncoding(nn.Module):
    """Add a trained vector per position (as BERT and GPT do), then dropout.

    Shape:
        ``(B, T, D)`` -> ``(B, T, D)``, with T <= max_len.
    """

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0):
        super().__init__()
        self.max_len = _validate.positive_int("max_len", max_len)
        _validate.positive_int("d_model", d_model)
        self.position_embedding = nn.Embedding(max_len, d_model)
        self.dropout = nn.Dropout(_validate.probability("dropout", dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_positions("x", x, self.max_len, self.position_embedding.embedding_dim)
        positions = torch.arange(x.shape[1], device=x.device)  # (T,)
        return self.dropout(x + self.position_embedding(positions))  # (B, T, D)


class TransformerEmbedding(nn.Module):
    """Token ids to the vectors the first layer sees: scaled embedding plus positions, dropout.

    Args:
        vocab_size: V.
        d_model: D.
        max_len: the longest sequence accepted.
        dropout: dropout on the sum (0.1 in the paper).
        positional: ``"sinusoidal"`` (the paper) or ``"learned"``.
        padding_idx: id of the padding token (optional).

    Shape:
        ids ``(B, T)`` -> ``(B, T, D)``.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        max_len: int = 5000,
        dropout: float = 0.0,
        positional: str = "sinusoidal",
        padding_idx: int | None = None,
    ):
        super().__init__()
        self.token = TokenEmbedding(vocab_size, d_model, padding_idx)
        if positional == "sinusoidal":
            self.position = SinusoidalPositionalEncoding(d_model, max_len, dropout)
        elif positional == "learned":
            self.position = LearnedPositionalEncoding(d_model, max_len, dropout)
        else:
            raise ValueError(f"positional={positional!r}; expected 'sinusoidal' or 'learned'")

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.position(self.token(ids))  # (B, T, D)


def _check_positions(name: str, x: object, max_len: int, d_model: int) -> torch.Tensor:
    x = _validate.rank(name, x, (3,), "(B, T, D)")
    _validate.floating(name, x)
    _validate.last_dim(name, x, d_model, "d_model")
    if x.shape[1] > max_len:
        raise ValueError(
            f"{name} has sequence length T={x.shape[1]}, longer than the positional table "
            f"(max_len={max_len}); build the module with a larger max_len"
        )
    return x
