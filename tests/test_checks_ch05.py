"""Chapter 5's exercise checks accept right answers and explain the typical wrong ones."""

import math

import torch
from torch import nn

import transformer_lib as tl
from transformer_lib import checks


def right_share(weights, seqs):
    same = seqs[:, None, :, None] == seqs[:, None, None, :]  # (B, 1, S, S)
    return torch.where(same, weights, 0.0).sum(-1)


def share_by_loops(weights, seqs):
    """Another right answer: one query at a time."""
    out = torch.zeros(weights.shape[:3])
    for b in range(seqs.shape[0]):
        for t in range(seqs.shape[1]):
            out[b, :, t] = weights[b, :, t, seqs[b] == seqs[b, t]].sum(-1)
    return out


def right_share_for_count(p1, k, n):
    ratio = p1 * (n - 1) / (1 - p1)
    return k * ratio / (k * ratio + n - k)


def share_through_logs(p1, k, n):
    """Another right answer: the scores' difference a - b, then the softmax itself."""
    a_minus_b = math.log(p1 / (1 - p1) * (n - 1))
    return float(torch.tensor([a_minus_b] * k + [0.0] * (n - k)).softmax(0)[:k].sum())


def right_count(d_model, d_ff, n_layers):
    attention = 4 * d_model * d_model + 4 * d_model
    ffn = 2 * d_model * d_ff + d_ff + d_model
    norms = 2 * 2 * d_model
    return n_layers * (attention + ffn + norms)


def right_pooling(h, mask):
    keep = mask.transpose(1, 2).float()  # (B, S, 1)
    return (h * keep).sum(1) / keep.sum(1)


class EncoderLayer(nn.Module):
    """The build exercise's solution, from the library's parts; keywords make known mistakes."""

    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False, mask=True,
                 swap=False, names=True):
        super().__init__()
        self.self_attn = tl.MultiHeadAttention(d_model, n_heads)
        self.ffn = tl.FeedForward(d_model, d_ff)
        self.attn_block = tl.ResidualConnection(d_model, dropout, norm_first != swap)
        self.ffn_block = tl.ResidualConnection(d_model, dropout, norm_first != swap)
        self.mask = mask
        if not names:
            self.feed_forward = self.ffn
            del self.ffn

    def forward(self, x, mask=None):
        mask = mask if self.mask else None
        x = self.attn_block(x, lambda h: self.self_attn(h, h, h, mask))
        return self.ffn_block(x, self.ffn)


def layer_with(**mistake):
    return lambda d, h, f, p, norm_first: EncoderLayer(d, h, f, p, norm_first, **mistake)


RIGHT = [
    (checks.check_encoder_layer_module, EncoderLayer),
    (checks.check_encoder_layer_module,  # the library's
     lambda d, h, f, p, norm_first: tl.EncoderLayer(tl.TransformerConfig(
         vocab_size=10, d_model=d, n_heads=h, d_ff=f, dropout=p, norm_first=norm_first))),
    (checks.check_own_symbol_share, right_share),
    (checks.check_own_symbol_share, share_by_loops),
    (checks.check_share_for_count, right_share_for_count),
    (checks.check_share_for_count, share_through_logs),
    (checks.check_encoder_parameter_count, right_count),
    (checks.check_masked_mean_pooling, right_pooling),
]

WRONG = [
    (checks.check_own_symbol_share, lambda w, s: right_share(w.transpose(-2, -1), s),
     "sum over the keys"),
    (checks.check_own_symbol_share,
     lambda w, s: right_share(w * (1 - torch.eye(w.shape[-1])), s), "own position"),
    (checks.check_own_symbol_share,
     lambda w, s: (s[:, None, :, None] == s[:, None, None, :]).sum(-1), "counts the matching"),
    (checks.check_own_symbol_share, lambda w, s: right_share(w, s) / w.shape[-1],
     "do not average"),
    (checks.check_own_symbol_share, lambda w, s: 1 - right_share(w, s), "other symbols"),
    (checks.check_own_symbol_share, lambda w, s: right_share(w, s)[:, 0], "wrong shape"),
    (checks.check_share_for_count, lambda p1, k, n: p1 * k, "not proportional to k"),
    (checks.check_share_for_count, lambda p1, k, n: k / n, "use p1"),
    (checks.check_share_for_count,
     lambda p1, k, n: k * p1 * n / (1 - p1) / (k * p1 * n / (1 - p1) + n - k), "n - 1, not n"),
    (checks.check_share_for_count,
     lambda p1, k, n: k * p1 * (n - 1) / (1 - p1) / (k * p1 * (n - 1) / (1 - p1) + n),
     "n - k, not n"),
    (checks.check_share_for_count, lambda p1, k, n: torch.tensor([0.5, 0.5]), "got a tensor"),
    (checks.check_encoder_parameter_count,
     lambda d, f, n: n * (4 * d * d + 2 * d * f + 4 * d), "forgot the biases"),
    (checks.check_encoder_parameter_count,
     lambda d, f, n: n * (4 * d * d + 2 * d * f), "forgot the biases and the layer norms"),
    (checks.check_encoder_parameter_count,
     lambda d, f, n: n * (4 * d * d + 4 * d + 2 * d * f + f + d), "two layer norms"),
    (checks.check_encoder_parameter_count, lambda d, f, n: right_count(d, f, 1), "one layer"),
    (checks.check_encoder_parameter_count,
     lambda d, f, n: n * (3 * d * d + 3 * d + 2 * d * f + f + d + 4 * d), "four projections"),
    (checks.check_encoder_parameter_count, lambda d, f, n: right_count(d, 4 * d, n),
     "not 4 * d_model"),
    (checks.check_encoder_parameter_count, lambda d, f, n: float(right_count(d, f, n)), "use //"),
    (checks.check_encoder_parameter_count, lambda d, f, n: torch.tensor(right_count(d, f, n)),
     "got a tensor"),
    (checks.check_masked_mean_pooling, lambda h, m: h.mean(1), "averaged over the padding"),
    (checks.check_masked_mean_pooling,
     lambda h, m: (h * m.transpose(1, 2)).sum(1) / h.shape[1], "not by S"),
    (checks.check_masked_mean_pooling, lambda h, m: (h * m.transpose(1, 2)).sum(1), "divide it"),
    (checks.check_masked_mean_pooling, lambda h, m: h.mean(2), "wrong shape"),
    (checks.check_encoder_layer_module, layer_with(mask=False), "the padding mask is ignored"),
    (checks.check_encoder_layer_module, layer_with(swap=True), "asks for post-LN"),
    (checks.check_encoder_layer_module, layer_with(names=False), "has no parameter ffn."),
]


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_own_symbol_share(right_share)
    checks.check_encoder_layer_module(EncoderLayer)
    checks.check_encoder_parameter_count(right_count)
    torch.testing.assert_close(torch.rand(3), expected)
