"""Chapter 6's exercise checks accept right answers and explain typical wrong ones."""

import math

import torch
import torch.nn.functional as F
from torch import nn

import transformer_lib as tl
from transformer_lib import checks
from transformer_lib.attention import causal_mask


# --- shift right --------------------------------------------------------------------------------
def right_shift(tgt, bos_id):
    bos = torch.full((tgt.shape[0], 1), bos_id, dtype=torch.long)
    return torch.cat([bos, tgt[:, :-1]], dim=1)


def shift_in_place(tgt, bos_id):
    tgt[:, 1:] = tgt[:, :-1].clone()
    tgt[:, 0] = bos_id
    return tgt


# --- cross-attention ----------------------------------------------------------------------------
def attend(q, k, v, mask, scale=True):
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1) @ v


def right_cross(x, memory, w_q, w_k, w_v, mask):
    return attend(x @ w_q, memory @ w_k, memory @ w_v, mask)


# --- decoder layer ------------------------------------------------------------------------------
def decoder_layer(layer, x, memory, tgt_mask, memory_mask, norm_first, post_ln_only=False,
                  own_causal=False, memory_masked=True, norm_memory=False, cross=True,
                  swapped=False):
    norms = (layer.self_attn_block.norm, layer.cross_attn_block.norm, layer.ffn_block.norm)
    source = norms[1](memory) if norm_memory else memory
    mask = memory_mask if memory_masked else None
    sublayers = (
        lambda h: layer.self_attn(h, mask=causal_mask(x.shape[1]) if own_causal else tgt_mask),
        lambda h: layer.cross_attn(source, h, h, mask) if swapped else layer.cross_attn(
            h, source, source, mask),
        layer.ffn,
    )
    pre = norm_first and not post_ln_only
    for index, (norm, sublayer) in enumerate(zip(norms, sublayers)):
        if index == 1 and not cross:
            continue
        x = x + sublayer(norm(x)) if pre else norm(x + sublayer(x))
    return x


# --- parameter count ----------------------------------------------------------------------------
def right_count(V, D, F_, H, N, *, biases=True, norms=True, shared_times=1, output_bias=False):
    attention = 4 * D * D + (4 * D if biases else 0)
    ffn = 2 * D * F_ + ((F_ + D) if biases else 0)
    norm = 2 * D if norms else 0
    encoder_layer = attention + ffn + 2 * norm
    decoder_layer_ = 2 * attention + ffn + 3 * norm
    return N * (encoder_layer + decoder_layer_) + shared_times * V * D + (V if output_bias else 0)


class DecoderLayer(nn.Module):
    """The build exercise's solution, from the library's parts; keywords make known mistakes."""

    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False, memory_mask=True,
                 causal=True):
        super().__init__()
        self.self_attn = tl.MultiHeadAttention(d_model, n_heads)
        self.cross_attn = tl.MultiHeadAttention(d_model, n_heads)
        self.ffn = tl.FeedForward(d_model, d_ff)
        self.self_attn_block = tl.ResidualConnection(d_model, dropout, norm_first)
        self.cross_attn_block = tl.ResidualConnection(d_model, dropout, norm_first)
        self.ffn_block = tl.ResidualConnection(d_model, dropout, norm_first)
        self.use_memory_mask, self.causal = memory_mask, causal

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        tgt_mask = tgt_mask if self.causal else None
        memory_mask = memory_mask if self.use_memory_mask else None
        x = self.self_attn_block(x, lambda h: self.self_attn(h, h, h, tgt_mask))
        x = self.cross_attn_block(x, lambda h: self.cross_attn(h, memory, memory, memory_mask))
        return self.ffn_block(x, self.ffn)


def decoder_with(**mistake):
    return lambda d, h, f, p, norm_first: DecoderLayer(d, h, f, p, norm_first, **mistake)


RIGHT = [
    (checks.check_decoder_layer_module, DecoderLayer),
    (checks.check_decoder_layer_module,  # the library's
     lambda d, h, f, p, norm_first: tl.DecoderLayer(tl.TransformerConfig(
         vocab_size=10, d_model=d, n_heads=h, d_ff=f, dropout=p, norm_first=norm_first))),
    (checks.check_shift_right, right_shift),
    (checks.check_cross_attention, right_cross),
    (checks.check_cross_attention,
     lambda x, m, wq, wk, wv, mask: F.scaled_dot_product_attention(x @ wq, m @ wk, m @ wv,
                                                                  attn_mask=mask)),
    (checks.check_decoder_layer, decoder_layer),
    (checks.check_decoder_layer,
     lambda layer, x, memory, tgt_mask, memory_mask, norm_first: layer(x, memory, tgt_mask,
                                                                       memory_mask)),
    (checks.check_transformer_parameter_count, right_count),
]

WRONG = [
    (checks.check_shift_right,
     lambda t, b: torch.cat([torch.full((t.shape[0], 1), b), t], dim=1), "drop it"),
    (checks.check_shift_right, lambda t, b: t.clone(), "the target itself"),
    (checks.check_shift_right,
     lambda t, b: torch.cat([t[:, 1:], torch.full((t.shape[0], 1), b)], dim=1),
     "shifted to the left"),
    (checks.check_shift_right,
     lambda t, b: torch.cat([torch.full((t.shape[0], 1), b), t[:, 1:]], dim=1),
     "replaced the first"),
    (checks.check_shift_right, shift_in_place, "in place"),
    (checks.check_shift_right, lambda t, b: right_shift(t, b).float(), "dtype torch.long"),
    (checks.check_cross_attention,
     lambda x, m, wq, wk, wv, mask: attend(m @ wq, x @ wk, x @ wv, mask), "queries must come from"),
    (checks.check_cross_attention,
     lambda x, m, wq, wk, wv, mask: attend(m @ wq, x @ wk, x @ wv, None), "queries must come from"),
    (checks.check_cross_attention,
     lambda x, m, wq, wk, wv, mask: attend(x @ wq, m @ wk, x @ wv, mask), "values must come from"),
    (checks.check_cross_attention,
     lambda x, m, wq, wk, wv, mask: attend(x @ wq, m @ wk, m @ wv, None), "forgot the memory mask"),
    (checks.check_cross_attention,
     lambda x, m, wq, wk, wv, mask: attend(x @ wq, m @ wk, m @ wv, mask, scale=False), "sqrt(Dh)"),
    (checks.check_decoder_layer,
     lambda *a: decoder_layer(*a, post_ln_only=True), "each sublayer must be pre-LN"),
    (checks.check_decoder_layer, lambda *a: decoder_layer(*a[:5], True), "must be post-LN"),
    (checks.check_decoder_layer,
     lambda *a: decoder_layer(*a[:3], None, *a[4:]), "the future leaks"),
    (checks.check_decoder_layer,
     lambda *a: decoder_layer(*a, own_causal=True), "not a causal mask of your own"),
    (checks.check_decoder_layer,
     lambda *a: decoder_layer(*a, memory_masked=False), "forgot memory_mask"),
    (checks.check_decoder_layer,
     lambda *a: decoder_layer(*a, cross=False), "cross-attention sublayer is missing"),
    (checks.check_decoder_layer,
     lambda *a: decoder_layer(*a, norm_memory=True), "not norm(memory)"),
    (checks.check_decoder_layer, lambda *a: decoder_layer(*a, swapped=True), "not the other way"),
    (checks.check_decoder_layer,  # right where S = T, then swapped queries raise a shape error
     lambda *a: decoder_layer(*a, swapped=a[1].shape[1] != a[2].shape[1]), "your code raised"),
    (checks.check_transformer_parameter_count,
     lambda *a: right_count(*a, shared_times=3), "three times"),
    (checks.check_transformer_parameter_count,
     lambda *a: right_count(*a, output_bias=True), "no bias"),
    (checks.check_transformer_parameter_count,
     lambda *a: right_count(*a, shared_times=2), "matrix twice"),
    (checks.check_transformer_parameter_count,
     lambda *a: right_count(*a, norms=False, biases=False), "the biases and the layer norms"),
    (checks.check_transformer_parameter_count,
     lambda V, D, F_, H, N: right_count(V, D, F_, H, N) - N * (4 * D * D + 4 * D),
     "each decoder layer's cross-attention"),
    (checks.check_transformer_parameter_count,
     lambda V, D, F_, H, N: right_count(V, D, F_, H, N) - N * (4 * D * D + 6 * D),
     "cross-attention and its layer norm"),
    (checks.check_transformer_parameter_count,
     lambda V, D, F_, H, N: right_count(V, D, F_, H, N) - V * D, "left out the embedding matrix"),
    (checks.check_transformer_parameter_count,
     lambda *a: right_count(*a, shared_times=3, output_bias=True), "without sharing"),
    (checks.check_transformer_parameter_count,
     lambda *a: right_count(*a, norms=False), "layer norms"),
    (checks.check_transformer_parameter_count,
     lambda *a: right_count(*a, biases=False), "biases of the linear layers"),
    (checks.check_transformer_parameter_count,
     lambda *a: float(right_count(*a)), "Python int"),
    (checks.check_transformer_parameter_count,
     lambda *a: torch.tensor(right_count(*a)), "Python int"),
    (checks.check_transformer_parameter_count, lambda *a: right_count(*a) + 1, "difference +1"),
    (checks.check_decoder_layer_module, decoder_with(causal=False), "future"),
    (checks.check_decoder_layer_module, decoder_with(memory_mask=False), "memory"),
    (checks.check_decoder_layer_module, lambda d, h, f, p, norm_first: nn.Linear(d, d),
     "has no parameter self_attn.q_proj.weight"),
]


def test_decoder_layer_check_leaves_the_global_random_stream_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    checks.check_decoder_layer(decoder_layer)
    assert torch.equal(torch.rand(3), expected)


def test_parameter_count_check_leaves_the_global_random_stream_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    checks.check_transformer_parameter_count(right_count)
    assert torch.equal(torch.rand(3), expected)
