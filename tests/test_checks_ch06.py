"""Chapter 6's exercise checks accept right answers and explain typical wrong ones."""

import math

import torch
import torch.nn.functional as F
from torch import nn

import transformer_lib as tl
from transformer_lib import checks


# --- cross-attention ----------------------------------------------------------------------------
def attend(q, k, v, mask, scale=True):
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1) @ v


def right_cross(x, memory, w_q, w_k, w_v, mask):
    return attend(x @ w_q, memory @ w_k, memory @ w_v, mask)


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



# --- GPT ----------------------------------------------------------------------------------------
def encoder_layer(d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
    return tl.EncoderLayer(tl.TransformerConfig(vocab_size=1, d_model=d_model, n_heads=n_heads,
                                                d_ff=d_ff, dropout=dropout,
                                                norm_first=norm_first, pad_id=None))


class GPT(nn.Module):
    """The build exercise's solution, from the library's layers; keywords make known mistakes."""

    def __init__(self, vocab_size, d_model, n_heads, d_ff, n_layers, max_len, causal=True,
                 positions="right", final_norm=True, norm_first=True, scaled=False, tied=False):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(max_len, d_model)
        self.layers = nn.ModuleList(encoder_layer(d_model, n_heads, d_ff, 0.0, norm_first)
                                    for _ in range(n_layers))
        self.final_norm = tl.LayerNorm(d_model)
        self.output = nn.Linear(d_model, vocab_size)
        if tied:
            self.output.weight = self.token_embedding.weight
        self.causal, self.positions, self.use_final_norm = causal, positions, final_norm
        self.scale = math.sqrt(d_model) if scaled else 1.0

    def forward(self, ids):
        length = ids.shape[1]
        x = self.token_embedding(ids) * self.scale
        where = {"right": torch.arange(length), "from 1": torch.arange(1, length + 1),
                 "token ids": ids}.get(self.positions)
        if where is not None:
            x = x + self.position_embedding(where)
        mask = tl.causal_mask(length) if self.causal else None
        for layer in self.layers:
            x = layer(x, mask)
        return self.output(self.final_norm(x) if self.use_final_norm else x)


def gpt_with(**mistake):
    return lambda *sizes: GPT(*sizes, **mistake)


class GPTByHand(GPT):
    """Right too: nn.LayerNorm as the final norm, a hand-made mask, positions by slicing."""

    def __init__(self, vocab_size, d_model, n_heads, d_ff, n_layers, max_len):
        super().__init__(vocab_size, d_model, n_heads, d_ff, n_layers, max_len)
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, ids):
        length = ids.shape[1]
        x = self.token_embedding(ids) + self.position_embedding.weight[:length]  # (B, T, D)
        mask = torch.ones(length, length, dtype=torch.bool).tril()  # (T, T)
        for layer in self.layers:
            x = layer(x, mask)
        return self.output(self.final_norm(x))


# --- greedy generation --------------------------------------------------------------------------
def greedy(model, ids, n_new, eval_mode=True, position=-1, feed_back=True, new_only=False):
    if eval_mode:
        model.eval()
    out = ids
    with torch.no_grad():
        for _ in range(n_new):
            logits = model(out if feed_back else ids)  # (B, T, V)
            out = torch.cat([out, logits[:, position].argmax(dim=-1, keepdim=True)], dim=1)
    return out[:, ids.shape[1]:] if new_only else out


def greedy_with(**mistake):
    return lambda model, ids, n_new: greedy(model, ids, n_new, **mistake)

RIGHT = [
    (checks.check_decoder_layer_module, DecoderLayer),
    (checks.check_decoder_layer_module,  # the library's
     lambda d, h, f, p, norm_first: tl.DecoderLayer(tl.TransformerConfig(
         vocab_size=10, d_model=d, n_heads=h, d_ff=f, dropout=p, norm_first=norm_first))),
    (checks.check_cross_attention, right_cross),
    (checks.check_cross_attention,
     lambda x, m, wq, wk, wv, mask: F.scaled_dot_product_attention(x @ wq, m @ wk, m @ wv,
                                                                  attn_mask=mask)),
    (checks.check_gpt_module, GPT),
    (checks.check_gpt_module, GPTByHand),
    (checks.check_greedy_generate, greedy),
]

WRONG = [
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
    (checks.check_decoder_layer_module, decoder_with(causal=False), "future"),
    (checks.check_decoder_layer_module, decoder_with(memory_mask=False), "memory"),
    (checks.check_decoder_layer_module, lambda d, h, f, p, norm_first: nn.Linear(d, d),
     "has no parameter self_attn.q_proj.weight"),
    (checks.check_gpt_module, gpt_with(causal=False), "the future leaks"),
    (checks.check_gpt_module, gpt_with(positions=None), "position embedding is missing"),
    (checks.check_gpt_module, gpt_with(final_norm=False), "final LayerNorm is missing"),
    (checks.check_gpt_module, gpt_with(norm_first=False), "your layers are post-LN"),
    (checks.check_gpt_module, gpt_with(norm_first=False, final_norm=False), "no final norm"),
    (checks.check_gpt_module, gpt_with(positions="from 1"), "off by one"),
    (checks.check_gpt_module, gpt_with(positions="token ids"), "indexed by the token ids"),
    (checks.check_gpt_module, gpt_with(scaled=True), "sqrt(D)"),
    (checks.check_gpt_module, gpt_with(tied=True), "its own nn.Linear"),
    (checks.check_gpt_module, lambda v, d, h, f, n, m: nn.Linear(d, v),
     "has no parameter token_embedding.weight"),
    (checks.check_greedy_generate, greedy_with(eval_mode=False), "model.eval()"),
    (checks.check_greedy_generate, greedy_with(position=0), "logits[:, -1]"),
    (checks.check_greedy_generate, greedy_with(feed_back=False), "feed each new token back"),
    (checks.check_greedy_generate, greedy_with(new_only=True), "not the new tokens alone"),

]


def test_gpt_check_leaves_the_global_random_stream_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert checks.check_gpt_module(GPT)
    assert torch.equal(torch.rand(3), expected)


def test_greedy_check_leaves_the_global_random_stream_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert checks.check_greedy_generate(greedy)
    assert torch.equal(torch.rand(3), expected)


def test_a_gpt_that_sees_the_future_is_caught_by_perturbing_the_future():
    """The leak is found by changing later tokens, whatever else the model gets wrong."""
    result = checks.check_gpt_module(gpt_with(causal=False, scaled=True))
    assert not result and "changing the tokens at positions" in result.message, result.message


def test_the_gpt_check_says_which_names_it_copies():
    result = checks.check_gpt_module(lambda v, d, h, f, n, m: nn.Linear(d, v))
    assert "token_embedding, position_embedding, layers" in result.message, result.message
