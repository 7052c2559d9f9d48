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
        self.table = nn.Embedding(vocab_size, d_model, padding_idx=padding_idx)  # (V, D) weight
        # std D^-0.5, so the sqrt(D)-scaled vectors have unit-variance entries, the same size as
        # the positional encodings; nn.Embedding's std 1 would make them sqrt(D) times larger.
        nn.init.normal_(self.table.weight, std=d_model**-0.5)
        if padding_idx is not None:
            with torch.no_grad():
                self.table.weight[padding_idx].zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = _validate.token_ids("ids", ids, self.vocab_size)
        return self.table(ids) * math.sqrt(self.d_model)  # (B, T, D)


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
        ``(B, T, D)`` -> ``(B, T, D)``: the vectors of positions ``start .. start + T - 1``
        (``start > 0`` when earlier positions were already processed, as in chapter 9's cache),
        with start + T <= max_len.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0):
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(_validate.probability("dropout", dropout))
        # A buffer moves with .to(device) but is not trained; not persistent: rebuilt, not saved.
        self.register_buffer(
            "pe", sinusoidal_positional_encoding(max_len, d_model), persistent=False
        )

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        x = _check_positions("x", x, self.max_len, self.pe.shape[1], start)
        table = self.pe[start : start + x.shape[1]]  # (T, D)
        return self.dropout(x + table.to(x.dtype))  # (B, T, D)


class LearnedPositionalEncoding(nn.Module):
    """Add a trained vector per position (as BERT and GPT do), then dropout.

    Shape:
        ``(B, T, D)`` -> ``(B, T, D)``: positions ``start .. start + T - 1``, start + T <= max_len.
    """

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0):
        super().__init__()
        self.max_len = _validate.positive_int("max_len", max_len)
        _validate.positive_int("d_model", d_model)
        self.table = nn.Embedding(max_len, d_model)  # (max_len, D) weight, one row per position
        self.dropout = nn.Dropout(_validate.probability("dropout", dropout))

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        x = _check_positions("x", x, self.max_len, self.table.embedding_dim, start)
        positions = torch.arange(start, start + x.shape[1], device=x.device)  # (T,)
        return self.dropout(x + self.table(positions))  # (B, T, D)


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
        ids ``(B, T)`` -> ``(B, T, D)``; ``start`` is the position of the first token (default 0).
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

    def forward(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        return self.position(self.token(ids), start)  # (B, T, D)


def _check_positions(name: str, x: object, max_len: int, d_model: int, start: int) -> torch.Tensor:
    x = _validate.rank(name, x, (3,), "(B, T, D)")
    _validate.floating(name, x)
    _validate.last_dim(name, x, d_model, "d_model")
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise ValueError(f"start={start!r} must be a non-negative integer position")
    if start + x.shape[1] > max_len:
        where = (f"has sequence length T={x.shape[1]}" if start == 0 else
                 f"covers positions {start}..{start + x.shape[1] - 1} (start={start})")
        raise ValueError(
            f"{name} {where}, longer than the positional table (max_len={max_len}); "
            f"build the module with a larger max_len"
        )
    return x
