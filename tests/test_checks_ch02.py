"""Chapter 2's exercise checks accept right answers and explain the typical wrong ones."""

import math

import torch

import transformer_lib as tl
from transformer_lib import checks


def right_split_heads(x, n_heads):
    batch, length, d_model = x.shape
    return x.view(batch, length, n_heads, d_model // n_heads).transpose(1, 2)


def masked_attention(q, k, v, mask):  # the chapter's solution
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v  # (..., T, Dv)


def mean_largest_weight(d_k, scaled, seed=7):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(200, 8, d_k, generator=generator)
    k = torch.randn(200, 8, d_k, generator=generator)
    scores = q @ k.transpose(-2, -1) / (math.sqrt(d_k) if scaled else 1.0)
    return scores.softmax(-1).max(-1).values.mean().item()


RIGHT = [
    (checks.check_attention_weights,
     lambda q, k: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)),
    (checks.check_causal_mask, tl.causal_mask),
    (checks.check_split_heads, right_split_heads),
    (checks.check_masked_attention,
     lambda q, k, v, m: tl.scaled_dot_product_attention(q, k, v, m)[0]),
    (checks.check_masked_attention, masked_attention),
    (checks.check_masked_attention,
     lambda q, k, v, m: masked_attention(q.double(), k.double(), v.double(), m)),
    (checks.check_softmax_saturation, lambda d, s: mean_largest_weight(d, s)),
]

WRONG = [
    (checks.check_attention_weights, lambda q, k: (q @ k.transpose(-2, -1)).softmax(-1),
     "forgot to divide the scores by sqrt(d_k)"),
    (checks.check_attention_weights, lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]),
     "forgot the softmax"),
    (checks.check_attention_weights,
     lambda q, k: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-2),
     "wrong dimension"),
    (checks.check_attention_weights, lambda q, k: q @ k, "your code raised RuntimeError"),
    (checks.check_causal_mask, lambda t: torch.ones(t, t, dtype=torch.bool).triu(), "inverted"),
    (checks.check_causal_mask, lambda t: ~tl.causal_mask(t), "inverted: it allows the future"),
    (checks.check_causal_mask,
     lambda t: torch.ones(t, t, dtype=torch.bool).tril(1), "leaks the future"),
    (checks.check_causal_mask, lambda t: torch.ones(t, t).tril(), "expected a bool tensor"),
    (checks.check_causal_mask, lambda t: torch.ones(t, t, dtype=torch.bool).tril(-1),
     "attend to itself"),
    (checks.check_split_heads,
     lambda x, h: x.view(x.shape[0], h, x.shape[1], x.shape[2] // h), "heads mix up positions"),
    (checks.check_split_heads, lambda x, h: x.view(x.shape[0], x.shape[1], h, -1), "wrong shape"),
    (checks.check_masked_attention, lambda q, k, v, m: tl.scaled_dot_product_attention(q, k, v)[0],
     "the mask is ignored"),
    (checks.check_masked_attention,  # ignores mask: right on causal masks only
     lambda q, k, v, m: masked_attention(q, k, v, tl.causal_mask(q.shape[-2])),
     "causal mask of your own"),
    (checks.check_masked_attention, lambda q, k, v, m: masked_attention(q, k, v, ~m), "inverted"),
    (checks.check_masked_attention,
     lambda q, k, v, m: masked_attention(q, k, v, m.transpose(-2, -1)), "leaks the future"),
    (checks.check_masked_attention, lambda q, k, v, m: q, "wrong values"),
    (checks.check_softmax_saturation, lambda d, s: mean_largest_weight(d, False),
     "not divided by sqrt(d_k)"),
    (checks.check_softmax_saturation, lambda d, s: torch.tensor(mean_largest_weight(d, s)),
     "use .item()"),
]
