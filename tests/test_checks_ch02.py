"""Chapter 2's exercise checks accept right answers and explain the typical wrong ones."""

import math

import torch
from torch import nn

import transformer_lib as tl
from transformer_lib import checks


def entropy(w):  # the chapter's solution
    return torch.special.entr(w).sum(-1)


def prefix_mean(x):  # the chapter's solution: zero queries and keys give equal scores
    zeros = torch.zeros_like(x)
    return tl.scaled_dot_product_attention(zeros, zeros, x, tl.causal_mask(x.shape[-2]))[0]


def masked_softmax_mean(x, mask):
    scores = torch.zeros(x.shape[1], x.shape[1]).masked_fill(~mask, float("-inf"))
    return scores.softmax(-1) @ x


def cross_attention_parameters(d_model, n_heads, kdim, vdim):
    return 2 * d_model * d_model + d_model * (kdim + vdim) + 4 * d_model


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
    (checks.check_attention_entropy, entropy),
    (checks.check_attention_entropy,
     lambda w: -torch.where(w > 0, w * w.log(), torch.zeros_like(w)).sum(-1)),
    (checks.check_attention_entropy,
     lambda w: torch.distributions.Categorical(probs=w).entropy()),
    (checks.check_causal_mask, tl.causal_mask),
    (checks.check_prefix_mean, prefix_mean),
    (checks.check_prefix_mean,
     lambda x: x.cumsum(1) / torch.arange(1, x.shape[1] + 1).view(1, -1, 1)),
    (checks.check_cross_attention_parameters, cross_attention_parameters),
    (checks.check_cross_attention_parameters,  # counted on PyTorch's module
     lambda d, h, k, v: tl.count_parameters(nn.MultiheadAttention(d, h, kdim=k, vdim=v))),
    (checks.check_softmax_saturation, lambda d, s: mean_largest_weight(d, s)),
]

WRONG = [
    (checks.check_attention_entropy, lambda w: -(w * w.log()).sum(-1), "0 log 0 must count as 0"),
    (checks.check_attention_entropy, lambda w: torch.special.entr(w).sum(-1) / math.log(2),
     "natural logarithm"),
    (checks.check_attention_entropy, lambda w: -entropy(w), "minus sign is missing"),
    (checks.check_attention_entropy, lambda w: torch.special.entr(w).sum(-2),
     "sum over the keys (the last axis)"),
    (checks.check_attention_entropy, lambda w: torch.special.entr(w).mean(-1), "do not average"),
    (checks.check_causal_mask, lambda t: torch.ones(t, t, dtype=torch.bool).triu(), "inverted"),
    (checks.check_causal_mask, lambda t: ~tl.causal_mask(t), "inverted: it allows the future"),
    (checks.check_causal_mask,
     lambda t: torch.ones(t, t, dtype=torch.bool).tril(1), "leaks the future"),
    (checks.check_causal_mask, lambda t: torch.ones(t, t).tril(), "expected a bool tensor"),
    (checks.check_causal_mask, lambda t: torch.ones(t, t, dtype=torch.bool).tril(-1),
     "attend to itself"),
    (checks.check_prefix_mean, lambda x: x.mean(1, keepdim=True).expand_as(x),
     "mean of the whole sequence"),
    (checks.check_prefix_mean, lambda x: prefix_mean(x.flip(1)).flip(1), "averages the future"),
    (checks.check_prefix_mean, lambda x: x.cumsum(1), "running sum"),
    (checks.check_prefix_mean, lambda x: x.cumsum(1) / x.shape[1], "not by T"),
    (checks.check_prefix_mean,  # a strictly causal mask: position 0 sees nothing
     lambda x: masked_softmax_mean(x, tl.causal_mask(x.shape[1]).tril(-1)), "averages itself"),
    (checks.check_cross_attention_parameters, lambda d, h, k, v: 4 * d * d + 4 * d,
     "read kdim and vdim"),
    (checks.check_cross_attention_parameters,
     lambda d, h, k, v: h * cross_attention_parameters(d, h, k, v), "the heads share"),
    (checks.check_cross_attention_parameters,
     lambda d, h, k, v: cross_attention_parameters(d, h, k, v) - 4 * d, "has a bias"),
    (checks.check_cross_attention_parameters,
     lambda d, h, k, v: 2 * d * d + k * k + v * v + 2 * d + k + v, "maps into d_model"),
    (checks.check_cross_attention_parameters,
     lambda d, h, k, v: float(cross_attention_parameters(d, h, k, v)), "expected a Python int"),
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
