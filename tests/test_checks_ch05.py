"""Chapter 5's exercise checks accept right answers and explain the typical wrong ones."""

import torch
from torch import nn

import transformer_lib as tl
from transformer_lib import checks


def right_layer(x, mask, self_attn, ffn, norm1, norm2, norm_first):
    if norm_first:
        x = x + self_attn(norm1(x), mask=mask)
        return x + ffn(norm2(x))
    x = norm1(x + self_attn(x, mask=mask))
    return norm2(x + ffn(x))


def layer_with_residual_module(x, mask, self_attn, ffn, norm1, norm2, norm_first):
    """Another right answer: through tl.ResidualConnection with the given norms."""
    blocks = []
    for norm in (norm1, norm2):
        block = tl.ResidualConnection(norm.d_model, norm_first=norm_first, eps=norm.eps)
        block.norm = norm
        blocks.append(block)
    x = blocks[0](x, lambda h: self_attn(h, mask=mask))
    return blocks[1](x, ffn)


def always_post_ln(x, mask, self_attn, ffn, norm1, norm2, norm_first):
    return right_layer(x, mask, self_attn, ffn, norm1, norm2, False)


def always_pre_ln(x, mask, self_attn, ffn, norm1, norm2, norm_first):
    return right_layer(x, mask, self_attn, ffn, norm1, norm2, True)


def no_residual(x, mask, self_attn, ffn, norm1, norm2, norm_first):
    if norm_first:
        return ffn(norm2(self_attn(norm1(x), mask=mask)))
    return norm2(ffn(norm1(self_attn(x, mask=mask))))


def right_mask(ids, pad_id):
    return (ids != pad_id).unsqueeze(1)


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
    (checks.check_encoder_layer, right_layer),
    (checks.check_encoder_layer, layer_with_residual_module),
    (checks.check_padding_mask_from_ids, right_mask),
    (checks.check_encoder_parameter_count, right_count),
    (checks.check_masked_mean_pooling, right_pooling),
]

WRONG = [
    (checks.check_encoder_layer, always_post_ln, "asks for pre-LN, but your layer is post-LN"),
    (checks.check_encoder_layer, always_pre_ln, "asks for post-LN, but your layer is pre-LN"),
    (checks.check_encoder_layer,
     lambda x, m, a, f, n1, n2, nf: right_layer(x, None, a, f, n1, n2, nf), "mask is ignored"),
    (checks.check_encoder_layer,
     lambda x, m, a, f, n1, n2, nf: right_layer(x, ~m, a, f, n1, n2, nf), "polarity is inverted"),
    (checks.check_encoder_layer, no_residual, "residual connections are missing"),
    (checks.check_encoder_layer,
     lambda x, m, a, f, n1, n2, nf: right_layer(x, m, a, f, n2, n1, nf), "swapped"),
    (checks.check_encoder_layer,
     lambda x, m, a, f, n1, n2, nf: n1(x + a(x, mask=m)), "feed-forward sublayer is missing"),
    (checks.check_encoder_layer, lambda x, *rest: x[:, 0], "wrong shape"),
    (checks.check_padding_mask_from_ids, lambda ids, p: (ids == p).unsqueeze(1),
     "polarity is inverted"),
    (checks.check_padding_mask_from_ids, lambda ids, p: ids != p, "add the query axis"),
    (checks.check_padding_mask_from_ids, lambda ids, p: (ids != p).unsqueeze(2),
     "goes in the middle"),
    (checks.check_padding_mask_from_ids, lambda ids, p: (ids != 0).unsqueeze(1), "hard-coded 0"),
    (checks.check_padding_mask_from_ids, lambda ids, p: (ids != p).unsqueeze(1).long(),
     "expected a bool tensor"),
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
    checks.check_encoder_layer(right_layer)
    checks.check_encoder_parameter_count(right_count)
    torch.testing.assert_close(torch.rand(3), expected)
