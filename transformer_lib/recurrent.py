"""Chapter 18: an LSTM language model with the interface of ``DecoderOnlyLM``.

``LSTMLanguageModel`` maps token ids ``(B, T)`` to next-token logits ``(B, T, V)``, like
``tl.DecoderOnlyLM``, so ``training.fit``, ``losses.lm_loss`` and a chapter's evaluation run
unchanged on both. It is PyTorch's ``nn.LSTM`` (Hochreiter & Schmidhuber 1997) between a token
embedding and an output layer. Each window starts from a zero state: windows drawn at random
places in a text are unrelated, so no state is carried from one batch to the next.

``lstm_hidden_for`` sizes the LSTM to a parameter count, to compare it with a Transformer of the
same size.

See: notebooks/18_transformers_vs_rnns.ipynb
"""

from __future__ import annotations

import math

import torch
from torch import nn

from transformer_lib import _validate

__all__ = ["LSTMLanguageModel", "lstm_layer_parameters", "lstm_hidden_for"]


def lstm_layer_parameters(input_size: int, hidden_size: int) -> int:
    """Parameters of one ``nn.LSTM`` layer: 4 gates, each ``W_i (H, I)``, ``W_h (H, H)`` and
    two bias vectors (PyTorch keeps ``b_ih`` and ``b_hh`` apart): ``4 (H I + H^2 + 2 H)``."""
    _validate.positive_int("input_size", input_size)
    _validate.positive_int("hidden_size", hidden_size)
    return 4 * (hidden_size * input_size + hidden_size * hidden_size + 2 * hidden_size)


class LSTMLanguageModel(nn.Module):
    """Embedding ``(V, D)``, ``n_layers`` LSTM layers of ``hidden_size``, output layer to ``V``.

    With ``hidden_size != d_model`` a linear projection ``(hidden_size -> d_model)`` comes before
    the output layer, so that the output layer can share the embedding's matrix (``tie=True``,
    as ``DecoderOnlyLM`` does with ``share_embeddings``).

    Args:
        vocab_size: V, the number of tokens.
        d_model: D, the size of the token embedding.
        hidden_size: the LSTM's state size.
        n_layers: stacked LSTM layers.
        tie: share the output layer's matrix with the embedding.

    Shape:
        ids ``(B, T)``; returns logits ``(B, T, V)``. ``forward(ids, state)`` also accepts the
        ``(h, c)`` state of an earlier call, each ``(n_layers, B, hidden_size)``, and
        ``forward_with_state`` returns the new state too.
    """

    def __init__(self, vocab_size: int, d_model: int, hidden_size: int, n_layers: int = 1,
                 tie: bool = True):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("d_model", d_model),
                            ("hidden_size", hidden_size), ("n_layers", n_layers)):
            _validate.positive_int(name, value)
        self.vocab_size, self.n_layers = vocab_size, n_layers
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.lstm = nn.LSTM(d_model, hidden_size, num_layers=n_layers, batch_first=True)
        self.projection = (nn.Identity() if hidden_size == d_model
                           else nn.Linear(hidden_size, d_model))
        self.output = nn.Linear(d_model, vocab_size, bias=not tie)
        if tie:
            self.output.weight = self.embedding.weight  # (V, D)

    def forward_with_state(self, ids: torch.Tensor, state=None):
        """Logits ``(B, T, V)`` and the final ``(h, c)`` state, each ``(n_layers, B, H)``."""
        ids = _validate.rank("ids", ids, (2,), "(B, T)")
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"ids must hold integer token ids, got dtype {ids.dtype}")
        if not ids.is_cuda and ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size}), got values from "
                             f"{ids.min().item()} to {ids.max().item()}")
        x = self.embedding(ids)  # (B, T, D)
        x, state = self.lstm(x, state)  # (B, T, H): T sequential steps inside
        return self.output(self.projection(x)), state  # (B, T, V)

    def forward(self, ids: torch.Tensor, state=None) -> torch.Tensor:
        return self.forward_with_state(ids, state)[0]  # (B, T, V)


def _model_parameters(vocab_size: int, d_model: int, hidden_size: int, n_layers: int,
                      tie: bool) -> int:
    lstm = lstm_layer_parameters(d_model, hidden_size)
    lstm += (n_layers - 1) * lstm_layer_parameters(hidden_size, hidden_size)
    projection = 0 if hidden_size == d_model else hidden_size * d_model + d_model
    output = 0 if tie else vocab_size * d_model + vocab_size  # tied: the embedding's matrix
    return vocab_size * d_model + lstm + projection + output


def lstm_hidden_for(target: int, vocab_size: int, d_model: int, n_layers: int = 1,
                    tie: bool = True) -> int:
    """The ``hidden_size`` whose ``LSTMLanguageModel`` has the parameter count nearest ``target``.

    Raises a ValueError when even ``hidden_size=1`` gives more than ``target`` parameters.
    """
    _validate.positive_int("target", target)
    count = lambda h: _model_parameters(vocab_size, d_model, h, n_layers, tie)  # noqa: E731
    if count(1) > target:
        raise ValueError(f"target={target:,} parameters is fewer than the embedding alone needs "
                         f"({count(1):,} with hidden_size=1)")
    low, high = 1, max(2, int(math.isqrt(target)) + 1)
    while count(high) < target:
        high *= 2
    while high - low > 1:  # count grows with h: bisect
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) <= target else (low, middle)
    return min((low, high), key=lambda h: abs(count(h) - target))
