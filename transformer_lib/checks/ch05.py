"""Checks for the exercises of chapter 5 (the encoder)."""

import copy
from collections.abc import Callable

import torch

from transformer_lib.attention import padding_mask
from transformer_lib.checks._compare import (
    Case,
    compare,
    compare_count,
    copy_weights,
    diagnose,
    python_number,
    student_module,
    through_sublayers,
)
from transformer_lib.checks._core import call, check
from transformer_lib.config import TransformerConfig
from transformer_lib.encoder import Encoder, EncoderLayer
from transformer_lib.reference import torch_encoder_layer
from transformer_lib.task_heads import mean_pool
from transformer_lib.utils import count_parameters


def _typical_layer_mistakes(layer: EncoderLayer, x: torch.Tensor, mask: torch.Tensor,
                            norm_first: bool) -> dict[str, torch.Tensor]:
    """What the usual wrong encoder layers compute, with the layer's own pieces."""
    norms = (layer.attn_block.norm, layer.ffn_block.norm)

    def layer_with(mask=mask, norms=norms, norm_first=norm_first, residual=True, n_sublayers=2):
        sublayers = (lambda h: layer.self_attn(h, mask=mask), layer.ffn)[:n_sublayers]
        return through_sublayers(x, norms, sublayers, norm_first, residual)

    asked, built = ("pre-LN", "post-LN") if norm_first else ("post-LN", "pre-LN")
    return {
        f"norm_first={norm_first} asks for {asked}, but your layer is {built}: "
        + ("normalize the input of each sublayer, x + sublayer(norm(x))" if norm_first
           else "normalize after adding, norm(x + sublayer(x))"):
            layer_with(norm_first=not norm_first),
        "the padding mask is ignored: pass mask=mask to self_attn, or real tokens "
        "attend to the padding": layer_with(mask=None),
        "the mask polarity is inverted: our masks are True at real tokens, so pass the mask "
        "to self_attn as it is (only PyTorch's modules need ~mask)": layer_with(mask=~mask),
        "the residual connections are missing: add each sublayer's input back to its "
        "output (x + sublayer(...))": layer_with(residual=False),
        "norm1 and norm2 are swapped: norm1 belongs to the attention sublayer, norm2 to the "
        "feed-forward one": layer_with(norms=norms[::-1]),
        "the feed-forward sublayer is missing (or its result is not used)":
            layer_with(n_sublayers=1),
    }


def _encoder_cases(generator, sizes):
    """For each ``(B, S, D, H, F, norm_first, activation)``: a library ``EncoderLayer`` whose norms
    have their own gain and bias (as trained ones do), its config, an input and a padding mask
    ``(B, 1, S)`` with one sequence unpadded and one padded."""
    for batch, length, d_model, n_heads, d_ff, norm_first, activation in sizes:
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        cfg = TransformerConfig(vocab_size=10, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                                dropout=0.0, norm_first=norm_first, activation=activation)
        layer = EncoderLayer(cfg).eval()
        with torch.no_grad():
            for norm in (layer.attn_block.norm, layer.ffn_block.norm):
                norm.weight.copy_(torch.rand(d_model, generator=generator) + 0.5)
                norm.bias.copy_(torch.randn(d_model, generator=generator) * 0.5)
        x = torch.randn(batch, length, d_model, generator=generator)
        lengths = torch.randint(1, length + 1, (batch,), generator=generator)
        lengths[0] = length  # one sequence without padding, one with (at least length 1)
        lengths[1] = max(1, length - 2)
        yield layer, cfg, x, padding_mask(lengths, length)


def _compare_encoder_layer(got, layer, cfg, x, mask) -> None:
    """``got`` against ``nn.TransformerEncoderLayer`` holding ``layer``'s weights, in float64."""
    inputs = {"x": x, "mask": mask, "norm_first": cfg.norm_first, "activation": cfg.activation}
    with torch.no_grad():
        x = x.double()
        expected = torch_encoder_layer(layer, cfg).double()(
            x, src_key_padding_mask=~mask.squeeze(1))
        mistakes = _typical_layer_mistakes(copy.deepcopy(layer).double(), x, mask, cfg.norm_first)
    compare(got, expected, inputs, mistakes=mistakes)


@check("encoder parameter count")
def check_encoder_parameter_count(student_fn: Callable[[int, int, int], int]):
    """``student_fn(d_model, d_ff, n_layers)`` -> parameters of the paper's (post-LN) encoder
    stack, embeddings excluded: ``count_parameters(tl.Encoder(cfg)) - embedding``."""
    for d_model, d_ff, n_layers in [(512, 2048, 6), (16, 64, 2), (64, 256, 1), (100, 300, 3)]:
        cfg = TransformerConfig(vocab_size=2, d_model=d_model, n_heads=4, d_ff=d_ff,
                                n_layers=n_layers, max_len=1)
        with torch.device("meta"):  # shapes only, no memory and no random draws
            encoder = Encoder(cfg)
        expected = count_parameters(encoder) - count_parameters(encoder.embedding)
        d, f, n = d_model, d_ff, n_layers
        hints = {
            n * (4 * d * d + 2 * d * f): "you forgot the biases and the layer norms",
            n * (4 * d * d + 2 * d * f + 4 * d): "you forgot the biases: each nn.Linear "
            "has one per output (4D in attention, F + D in the feed-forward network)",
            n * (4 * d * d + 4 * d + 2 * d * f + f + d): "you forgot the two layer norms "
            "of each layer (a gain and a bias of D numbers each: 4D per layer)",
            n * (3 * d * d + 3 * d + 2 * d * f + f + d + 4 * d): "attention has four "
            "projections, W^Q, W^K, W^V and the output projection W^O",
            n * (4 * d * d + 4 * d + 8 * d * d + 5 * d + 4 * d): "the hidden width of the "
            "feed-forward network is d_ff, not 4 * d_model",
        }
        if n > 1:
            hints[expected // n] = "that is one layer; the stack has n_layers of them"
        compare_count(student_fn, {"d_model": d, "d_ff": f, "n_layers": n}, expected, hints)


@check("masked mean pooling", seed=8)
def check_masked_mean_pooling(student_fn: Callable, generator):
    """``student_fn(h (B, S, D), mask (B, 1, S) bool)`` -> ``(B, D)``, the mean of each
    sequence's vectors over its real positions (True in the mask) only."""
    for batch, length, d_model, lengths in [(2, 5, 4, [5, 2]), (3, 7, 16, [1, 7, 4]),
                                            (1, 3, 8, [3])]:
        h = torch.randn(batch, length, d_model, generator=generator)
        mask = padding_mask(torch.tensor(lengths), length)  # (B, 1, S)
        h = h.masked_fill(~mask.transpose(1, 2), 100.0)  # loud garbage at padded positions
        got = call(student_fn, h, mask)
        inputs, h = {"h": h, "mask": mask}, h.double()  # the reference in float64
        real_sum = (h * mask.transpose(1, 2)).sum(1)  # (B, D)
        compare(got, mean_pool(h, mask), inputs, mistakes={
            "you averaged over the padding too: sum the real positions only": h.mean(1),
            "divide by the number of real tokens (mask.sum), not by S": real_sum / length,
            "that is the sum over the real positions; divide it by their number": real_sum,
        })


@check("EncoderLayer module", seed=9)
@torch.random.fork_rng(devices=[])  # building the layers draws random weights
def check_encoder_layer_module(student_cls, generator):
    """``student_cls(d_model, n_heads, d_ff, dropout, norm_first)``: an nn.Module with
    ``self_attn``, ``ffn``, ``attn_block`` and ``ffn_block`` (the library's names; each block's
    layer norm is its ``norm``) whose ``forward(x (B, S, D), mask (B, 1, S))`` equals
    ``nn.TransformerEncoderLayer`` holding the same weights, post-LN and pre-LN, in eval mode."""
    sizes = [(2, 5, 8, 2, 16, False, "relu"), (3, 7, 16, 4, 32, True, "relu"),
             (2, 6, 12, 3, 24, False, "relu")]
    for layer, cfg, x, mask in _encoder_cases(generator, sizes):
        student = student_module(student_cls, cfg.d_model, cfg.n_heads, cfg.d_ff, 0.0,
                                 cfg.norm_first)
        copy_weights(layer, student, "self_attn, ffn, attn_block.norm, ffn_block.norm")
        with torch.no_grad():
            got = call(student.eval(), x, mask)
        _compare_encoder_layer(got, layer, cfg, x, mask)


@check("share of attention on the own symbol", seed=10)
def check_own_symbol_share(student_fn: Callable, generator):
    """``student_fn(weights (B, H, S, S), seqs (B, S))`` -> ``(B, H, S)``: for each query, the
    total weight on the keys that hold the query's symbol, its own position included."""
    for batch, heads, length, n_symbols in [(2, 1, 5, 3), (3, 4, 8, 6), (1, 2, 6, 2)]:
        weights = torch.randn(batch, heads, length, length, generator=generator).softmax(-1)
        seqs = torch.randint(1, n_symbols + 1, (batch, length), generator=generator)
        same = (seqs.unsqueeze(2) == seqs.unsqueeze(1)).unsqueeze(1)  # (B, 1, S, S)
        expected = (weights * same).sum(-1)  # (B, H, S)
        itself = torch.eye(length, dtype=torch.bool)  # (S, S)
        got = call(student_fn, weights, seqs)
        compare(got, expected, {"weights": weights, "seqs": seqs}, mistakes={
            "sum over the keys, the last axis: row t of the weights is where query t looks":
                (weights * same).sum(-2),
            "the query's own position holds its symbol too: count its weight":
                (weights * (same & ~itself)).sum(-1),
            "that counts the matching keys; add up their attention weights instead":
                same.sum(-1).expand_as(expected),
            "sum the weights of the matching keys; do not average them": (weights * same).mean(-1),
            "that is the share on the other symbols; keep the keys that hold the query's symbol":
                (weights * ~same).sum(-1),
        })


@check("share for a count")
def check_share_for_count(student_fn: Callable):
    """``student_fn(p1, k, n)`` -> float: the share on the own symbol at ``k`` occurrences among
    ``n`` tokens, when the share at one occurrence is ``p1`` and the scores do not depend on k."""
    cases = []
    for p1, k, n in [(0.5, 3, 8), (0.2, 2, 8), (0.9, 5, 10), (0.3, 4, 16), (0.125, 1, 8)]:
        inputs = f"p1={p1}, k={k}, n={n}"
        got = python_number(call(student_fn, p1, k, n), inputs, (int, float), item=True)
        ratio = p1 * (n - 1) / (1 - p1)  # e^(a - b)
        expected = k * ratio / (k * ratio + n - k)
        cases.append(Case(got, expected, shown=f"{inputs}: expected {expected:.4g}, got {got:.4g}",
                          mistakes={
            "the share is not proportional to k: the other n - k keys shrink as k grows":
                p1 * k,
            "k / n is the share of a head that gives every key the same score; use p1 to find "
            "e^(a - b)": k / n,
            "at k = 1 the other keys number n - 1, not n": (
                k * p1 * n / (1 - p1) / (k * p1 * n / (1 - p1) + n - k)),
            "the keys of other symbols number n - k, not n": k * ratio / (k * ratio + n),
        }))
    diagnose(cases)
