"""Chapter 17: an attention-only transformer, repeated random sequences and head scores.

- ``AttentionOnlyTransformer``: token embedding, ``n_layers`` layers of multi-head attention only
  (no feed-forward block, no layer norm), each added to the residual stream, then a linear
  unembedding. With no layer norm, every head's output enters the stream as a plain sum, which is
  what lets us remove one head and read the effect (Elhage et al. 2021). Sinusoidal positions are
  added to the input of every layer's queries and keys (Press et al. 2021's Shortformer), or once
  to the stream (``positions="residual"``, as GPT does).
- ``repeated_sequences``: random tokens in which a random segment is repeated.
- ``previous_token_scores`` and ``induction_scores``: how much of each head's attention goes to
  the token before, or to the token after the previous occurrence of the current token.

See: notebooks/17_induction_heads.ipynb
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib import _validate
from transformer_lib.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from transformer_lib.embeddings import SinusoidalPositionalEncoding, TokenEmbedding

Head = tuple[int, int]  # (layer, head)


class AttentionOnlyTransformer(nn.Module):
    """A decoder-only language model whose layers are attention and nothing else.

    Args:
        vocab_size: V.
        d_model: D.
        n_heads: H per layer; must divide D.
        n_layers: the number of attention layers.
        max_len: the longest sequence accepted.
        dropout: dropout on the attention weights (only in train mode).
        positions: ``"attention"``: sinusoidal positions added to the input of the queries and
            keys of every layer, never to the stream or the values; ``"residual"``: added once to
            the token vectors, at the bottom of the stream.

    Shape:
        ids ``(B, T)`` -> logits ``(B, T, V)``; with ``return_weights=True`` also a list of
        ``n_layers`` attention weights ``(B, H, T, T)``.

    ``ablate`` lists ``(layer, head)`` pairs whose output is set to zero (zero ablation: the head
    writes nothing to the stream). ``key_ablate`` lists heads whose output is removed only from
    the input of the *key* projections of later layers (queries and values still see it).
    """

    def __init__(self, vocab_size: int, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                 max_len: int = 64, dropout: float = 0.0, positions: str = "attention"):
        super().__init__()
        _validate.positive_int("n_layers", n_layers)
        if positions not in ("attention", "residual"):
            raise ValueError(f"positions={positions!r}; expected 'attention' or 'residual'")
        self.n_layers, self.n_heads, self.positions = n_layers, n_heads, positions
        self.token = TokenEmbedding(vocab_size, d_model)
        self.position = SinusoidalPositionalEncoding(d_model, max_len)
        self.layers = nn.ModuleList(MultiHeadAttention(d_model, n_heads, dropout)
                                    for _ in range(n_layers))
        self.unembed = nn.Linear(d_model, vocab_size)

    def forward(self, ids: torch.Tensor, ablate=(), key_ablate=(), return_weights: bool = False):
        ablate, key_ablate = self._heads("ablate", ablate), self._heads("key_ablate", key_ablate)
        x = self.token(ids)  # (B, T, D)
        if self.positions == "residual":
            x = self.position(x)  # (B, T, D)
        mask = causal_mask(ids.shape[1], device=ids.device)  # (T, T)
        removed_from_keys = torch.zeros_like(x)  # (B, T, D): what key_ablate heads wrote
        all_weights = []
        for index, attn in enumerate(self.layers):
            per_head, weights = self.head_outputs(attn, x, x - removed_from_keys, mask)
            for layer, h in ablate:
                if layer == index:
                    per_head = per_head.index_fill(1, torch.tensor([h], device=x.device), 0.0)
            for layer, h in key_ablate:
                if layer == index:
                    removed_from_keys = removed_from_keys + per_head[:, h]
            x = x + per_head.sum(1) + attn.out_proj.bias  # (B, T, D)
            all_weights.append(weights)
        logits = self.unembed(x)  # (B, T, V)
        return (logits, all_weights) if return_weights else logits

    def head_outputs(self, attn: MultiHeadAttention, x, key_input, mask):
        """One layer's heads, kept apart: what each head adds to the stream, and its weights.

        ``attn`` is the layer's ``MultiHeadAttention`` (its projections are used, its forward is
        not); ``x`` ``(B, T, D)`` is the stream, read by the queries and values; ``key_input``
        ``(B, T, D)`` is what the keys read (``x`` unless heads are removed from the keys).
        Returns ``(B, H, T, D)`` contributions, whose sum over heads plus the output bias is the
        layer's output, and the weights ``(B, H, T, T)``.
        """
        value_input = x
        if self.positions == "attention":  # positions enter the queries and keys only
            x, key_input = self.position(x), self.position(key_input)  # (B, T, D)
        q = attn.split_heads(attn.q_proj(x))  # (B, H, T, Dh)
        k = attn.split_heads(attn.k_proj(key_input))  # (B, H, T, Dh)
        v = attn.split_heads(attn.v_proj(value_input))  # (B, H, T, Dh)
        dropout_p = attn.dropout if self.training else 0.0
        out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p)  # (B, H, T, Dh)
        w_out = attn.out_proj.weight.T.view(attn.n_heads, attn.head_dim, -1)  # (H, Dh, D)
        return torch.einsum("bhtd,hde->bhte", out, w_out), weights  # (B, H, T, D)

    def _heads(self, name: str, heads) -> list[Head]:
        heads = list(heads)
        for pair in heads:
            if (not isinstance(pair, tuple) or len(pair) != 2
                    or not 0 <= pair[0] < self.n_layers or not 0 <= pair[1] < self.n_heads):
                raise ValueError(f"{name} must list (layer, head) pairs with layer < "
                                 f"{self.n_layers} and head < {self.n_heads}; got {pair!r}")
        return heads


def repeated_sequences(n: int, length: int, vocab_size: int, seed: int,
                       min_segment: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random tokens that end with a random segment written twice: prefix, segment, segment.

    Each sequence draws its segment length L uniformly from ``min_segment .. length // 2``
    (default: always ``length // 2``, no prefix); the prefix fills the rest with random tokens.
    All tokens are uniform over the vocabulary and drawn from ``torch.Generator`` seeded with
    ``seed``, so different seeds give independent sets (training, validation, test).

    Returns:
        ids ``(n, length)`` and starts ``(n,)``: the position where the repeat begins, so
        ``ids[i, t] == ids[i, t - L]`` for ``t >= starts[i]``, with ``L = length - starts[i]``.
    """
    for name, value in (("n", n), ("length", length), ("vocab_size", vocab_size)):
        _validate.positive_int(name, value)
    half = length // 2
    min_segment = half if min_segment is None else min_segment
    if not 2 <= min_segment <= half:
        raise ValueError(f"min_segment={min_segment} must lie in [2, length // 2 = {half}]")
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(vocab_size, (n, length), generator=gen)  # (n, T)
    segment = torch.randint(min_segment, half + 1, (n,), generator=gen)  # (n,)
    starts = length - segment  # (n,)
    positions = torch.arange(length)  # (T,)
    source = torch.where(positions >= starts[:, None], positions - segment[:, None], positions)
    return ids.gather(1, source), starts  # (n, T), (n,)


def token_losses(model: nn.Module, ids: torch.Tensor, **kwargs) -> torch.Tensor:
    """The loss of predicting ``ids[:, t + 1]`` at each position t: ``(B, T - 1)``."""
    logits = model(ids[:, :-1], **kwargs)  # (B, T - 1, V)
    return F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")  # (B, T - 1)


def split_losses(model: nn.Module, ids: torch.Tensor, starts: torch.Tensor,
                 **kwargs) -> tuple[float, float]:
    """Mean loss on the first occurrence and on the repeat, in eval mode and without gradients.

    First occurrence: the predictions of tokens before the repeat. Repeat: the predictions of the
    repeated tokens that have one before them in the repeat (the first cannot be guessed).
    """
    was_training = model.training
    model.eval()
    with torch.no_grad():
        losses = token_losses(model, ids, **kwargs)  # (B, T - 1)
    model.train(was_training)
    target = torch.arange(1, ids.shape[1])  # (T - 1,) the position each loss predicts
    repeat = target[None, :] > starts[:, None]  # (B, T - 1)
    first = target[None, :] < starts[:, None]  # (B, T - 1)
    return losses[first].mean().item(), losses[repeat].mean().item()


def previous_token_scores(weights: torch.Tensor) -> torch.Tensor:
    """Mean attention from each position t >= 1 to t - 1: weights ``(B, H, T, T)`` -> ``(H,)``."""
    _validate.rank("weights", weights, (4,), "(B, H, T, T)")
    return weights.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, 2))  # (H,)


def induction_scores(weights: torch.Tensor, half: int) -> torch.Tensor:
    """Mean attention, on the repeat of ``[L tokens][the same L]``, to the token after the
    previous occurrence of the current token: from t to t - L + 1, for t >= L (L = ``half``).

    weights ``(B, H, 2L, 2L)`` -> ``(H,)``.
    """
    _validate.rank("weights", weights, (4,), "(B, H, T, T)")
    if weights.shape[-1] != 2 * half:
        raise ValueError(f"weights cover {weights.shape[-1]} positions; expected 2 * half = "
                         f"{2 * half} (sequences of one segment written twice)")
    stripe = weights.diagonal(offset=1 - half, dim1=-2, dim2=-1)  # (B, H, L + 1), from t = L - 1
    return stripe[..., 1:].mean(dim=(0, 2))  # (H,)


def head_scores(model: AttentionOnlyTransformer, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """Both scores of every head on ``[L tokens][the same L]`` ids: ``(n_layers, H)`` each."""
    model.eval()
    with torch.no_grad():
        _, weights = model(ids, return_weights=True)
    half = ids.shape[1] // 2
    return {"previous token": torch.stack([previous_token_scores(w) for w in weights]),
            "induction": torch.stack([induction_scores(w, half) for w in weights])}
