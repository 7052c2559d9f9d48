"""Chapter 2's exercise checks accept right answers and explain the typical wrong ones."""

import math

import torch
from torch import nn

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


class MultiHeadAttention(nn.Module):
    """The build exercise's solution; the keyword arguments make the known mistakes."""

    def __init__(self, d_model, n_heads, scale_by="head", heads="right", merge="right",
                 project=True, mask_axis=True, softmax_axis=-1, mask="right"):
        super().__init__()
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.q_proj, self.k_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.v_proj, self.out_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.scale_by, self.heads, self.merge, self.project = scale_by, heads, merge, project
        self.mask_axis, self.softmax_axis, self.mask = mask_axis, softmax_axis, mask

    def split(self, x):  # (B, L, D) -> (B, H, L, Dh)
        batch, length, _ = x.shape
        if self.heads == "view":
            return x.reshape(batch, self.n_heads, length, self.head_dim)
        return x.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, query, key, value, mask=None):
        q = self.split(self.q_proj(query))
        k, v = self.split(self.k_proj(key)), self.split(self.v_proj(value))
        scale = {"head": self.head_dim, "model": self.d_model, "none": 1}[self.scale_by]
        scores = q @ k.transpose(-2, -1) / math.sqrt(scale)  # (B, H, T, S)
        if mask is not None and self.mask != "ignored":
            if mask.dim() == 3 and self.mask_axis:
                mask = mask.unsqueeze(1)  # (B, 1, T|1, S)
            scores = scores.masked_fill(mask if self.mask == "inverted" else ~mask, float("-inf"))
        out = scores.softmax(self.softmax_axis) @ v  # (B, H, T, Dh)
        batch, _, length, _ = out.shape
        if self.merge == "right":
            out = out.transpose(1, 2).reshape(batch, length, self.d_model)
        else:
            out = out.reshape(batch, length, self.d_model)
        return self.out_proj(out) if self.project else out


def mha_with(**mistake):
    return lambda d_model, n_heads: MultiHeadAttention(d_model, n_heads, **mistake)


class WrongNames(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)


RIGHT = [
    (checks.check_multi_head_attention, MultiHeadAttention),
    (checks.check_multi_head_attention, tl.MultiHeadAttention),  # the library's
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
    (checks.check_multi_head_attention, mha_with(scale_by="model"), "not by 1/sqrt(d_model)"),
    (checks.check_multi_head_attention, mha_with(scale_by="none"),
     "divide the scores by sqrt(Dh)"),
    (checks.check_multi_head_attention, mha_with(heads="view"), "the heads mix up positions"),
    (checks.check_multi_head_attention, mha_with(merge="wrong"), "swap H and T back"),
    (checks.check_multi_head_attention, mha_with(project=False), "out_proj is missing"),
    (checks.check_multi_head_attention, mha_with(softmax_axis=-2), "over the keys"),
    (checks.check_multi_head_attention, mha_with(mask="ignored"), "the mask is ignored"),
    (checks.check_multi_head_attention, mha_with(mask="inverted"), "the mask is inverted"),
    (checks.check_multi_head_attention, mha_with(mask_axis=False), "needs a head axis"),
    (checks.check_multi_head_attention, WrongNames, "has no parameter q_proj.weight"),
    (checks.check_multi_head_attention, lambda d, h: torch.zeros(d), "to make an nn.Module"),
]
