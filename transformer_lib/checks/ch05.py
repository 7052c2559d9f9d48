"""Checks for the exercises of chapter 5 (the encoder)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from transformer_lib.attention import padding_mask
from transformer_lib.checks._core import CheckResult, Failure, call, compare, run
from transformer_lib.config import TransformerConfig
from transformer_lib.encoder import Encoder, EncoderLayer
from transformer_lib.reference import torch_encoder_layer
from transformer_lib.utils import count_parameters

__all__ = [
    "check_encoder_layer",
    "check_padding_mask_from_ids",
    "check_encoder_parameter_count",
    "check_masked_mean_pooling",
]


def _same(got, wrong: torch.Tensor) -> bool:
    return (
        isinstance(got, torch.Tensor)
        and got.shape == wrong.shape
        and not torch.isnan(wrong).any()
        and torch.allclose(got.detach().cpu().float(), wrong, atol=1e-5, rtol=1e-4)
    )


def _typical_layer_mistakes(
    layer: EncoderLayer, x: torch.Tensor, mask: torch.Tensor, norm_first: bool
) -> dict[str, torch.Tensor]:
    """What the usual wrong encoder layers compute, with the layer's own pieces."""
    attn, ffn = layer.self_attn, layer.ffn
    norm1, norm2 = layer.attn_block.norm, layer.ffn_block.norm

    def post_ln(x, mask, n1=norm1, n2=norm2, residual=True):
        h = n1(x + attn(x, mask=mask) if residual else attn(x, mask=mask))
        return n2(h + ffn(h) if residual else ffn(h))

    def pre_ln(x, mask, n1=norm1, n2=norm2, residual=True):
        h = x + attn(n1(x), mask=mask) if residual else attn(n1(x), mask=mask)
        return h + ffn(n2(h)) if residual else ffn(n2(h))

    right, other = (pre_ln, post_ln) if norm_first else (post_ln, pre_ln)
    asked, built = ("pre-LN", "post-LN") if norm_first else ("post-LN", "pre-LN")
    return {
        f"norm_first={norm_first} asks for {asked}, but your layer is {built}: "
        + ("normalize the input of each sublayer, x + sublayer(norm(x))" if norm_first
           else "normalize after adding, norm(x + sublayer(x))"): other(x, mask),
        "the padding mask is ignored: pass mask=mask to self_attn, or real tokens "
        "attend to the padding": right(x, None),
        "the mask polarity is inverted: our masks are True at real tokens, so pass the mask "
        "to self_attn as it is (only PyTorch's modules need ~mask)": right(x, ~mask),
        "the residual connections are missing: add each sublayer's input back to its "
        "output (x + sublayer(...))": right(x, mask, residual=False),
        "norm1 and norm2 are swapped: norm1 belongs to the attention sublayer, norm2 to the "
        "feed-forward one": right(x, mask, n1=norm2, n2=norm1),
        "the feed-forward sublayer is missing (or its result is not used)": (
            x + attn(norm1(x), mask=mask) if norm_first else norm1(x + attn(x, mask=mask))
        ),
    }


def check_encoder_layer(student_fn: Callable) -> CheckResult:
    """``student_fn(x, mask, self_attn, ffn, norm1, norm2, norm_first)`` -> one encoder layer.

    Args given to the student: x ``(B, S, D)``; mask bool ``(B, 1, S)``, True at real tokens;
    ``self_attn`` a ``MultiHeadAttention``, ``ffn`` a ``FeedForward``, ``norm1`` and ``norm2``
    ``LayerNorm`` modules, ``norm_first`` a bool. Expected: ``(B, S, D)``, equal to
    ``nn.TransformerEncoderLayer`` holding the same weights, called with
    ``src_key_padding_mask=~mask.squeeze(1)``.
    """

    def body():
        with torch.random.fork_rng(devices=[]):  # leave the caller's random stream alone
            cases()

    def cases():
        generator = torch.Generator().manual_seed(5)
        sizes = [(2, 5, 8, 2, 16, False, "relu"), (3, 7, 16, 4, 32, True, "relu"),
                 (2, 6, 12, 3, 24, False, "gelu"), (4, 4, 16, 2, 64, True, "gelu")]
        for batch, length, d_model, n_heads, d_ff, norm_first, activation in sizes:
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            cfg = TransformerConfig(vocab_size=10, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                                    dropout=0.0, norm_first=norm_first, activation=activation)
            layer = EncoderLayer(cfg).eval()
            with torch.no_grad():  # trained norms have their own gain and bias
                for norm in (layer.attn_block.norm, layer.ffn_block.norm):
                    norm.weight.copy_(torch.rand(d_model, generator=generator) + 0.5)
                    norm.bias.copy_(torch.randn(d_model, generator=generator) * 0.5)
            x = torch.randn(batch, length, d_model, generator=generator)
            lengths = torch.randint(1, length + 1, (batch,), generator=generator)
            lengths[0] = length  # one sequence without padding, one with (at least length 1)
            lengths[1] = max(1, length - 2)
            mask = padding_mask(lengths, length)  # (B, 1, S)
            reference = torch_encoder_layer(layer, cfg)
            with torch.no_grad():
                expected = reference(x, src_key_padding_mask=~mask.squeeze(1))
                got = call(student_fn, x.clone(), mask.clone(), layer.self_attn, layer.ffn,
                           layer.attn_block.norm, layer.ffn_block.norm, norm_first)
                if isinstance(got, torch.Tensor) and got.shape == expected.shape:
                    if not torch.allclose(got.detach().float(), expected, atol=1e-5, rtol=1e-4):
                        mistakes = _typical_layer_mistakes(layer, x, mask, norm_first)
                        for hint, wrong in mistakes.items():
                            if _same(got, wrong):
                                raise Failure(hint)
            compare(got, expected, {"x": x, "mask": mask, "norm_first": norm_first,
                                    "activation": activation})

    return run("encoder layer", body)


def check_padding_mask_from_ids(student_fn: Callable) -> CheckResult:
    """``student_fn(ids (B, S) integer, pad_id)`` -> ``(B, 1, S)`` bool, True at real tokens."""

    def body():
        generator = torch.Generator().manual_seed(6)
        cases = [(0, [5, 3, 1], 5), (3, [6, 6, 2, 4], 6), (1, [4], 4)]
        for pad_id, lengths, length in cases:
            ids = torch.randint(0, 10, (len(lengths), length), generator=generator)
            ids[ids == pad_id] = (pad_id + 1) % 10  # no pad_id among the real tokens
            if pad_id != 0:
                ids[:, 0] = 0  # a real token whose id is 0
            for row, n in enumerate(lengths):
                ids[row, n:] = pad_id
            expected = (ids != pad_id).unsqueeze(1)  # (B, 1, S)
            got = call(student_fn, ids.clone(), pad_id)
            if isinstance(got, torch.Tensor):
                if got.shape == expected.shape and got.dtype == torch.bool:
                    if torch.equal(got, ~expected):
                        raise Failure("the polarity is inverted: the mask must be True at real "
                                      "tokens (may attend) and False at the padding")
                    if pad_id != 0 and torch.equal(got, (ids != 0).unsqueeze(1)):
                        raise Failure("use the pad_id argument instead of a hard-coded 0")
                if tuple(got.shape) == tuple(expected.shape[::2]) and got.dtype == torch.bool:
                    raise Failure(f"wrong shape {tuple(got.shape)}: add the query axis, (B, 1, S) "
                                  f"broadcasts over the T queries (use .unsqueeze(1))")
                if tuple(got.shape) == (len(lengths), length, 1):
                    raise Failure(f"wrong shape {tuple(got.shape)}: the new axis goes in the "
                                  f"middle, (B, 1, S), so that the mask broadcasts over queries")
            compare(got, expected, {"ids": ids, "pad_id": pad_id})

    return run("padding mask from token ids", body)


def check_encoder_parameter_count(student_fn: Callable[[int, int, int], int]) -> CheckResult:
    """``student_fn(d_model, d_ff, n_layers)`` -> parameters of the paper's (post-LN) encoder
    stack, embeddings excluded: ``count_parameters(tl.Encoder(cfg)) - embedding``."""

    def body():
        for d_model, d_ff, n_layers in [(512, 2048, 6), (16, 64, 2), (64, 256, 1), (100, 300, 3)]:
            cfg = TransformerConfig(vocab_size=2, d_model=d_model, n_heads=4, d_ff=d_ff,
                                    n_layers=n_layers, max_len=1)
            with torch.random.fork_rng(devices=[]):  # leave the caller's random stream alone
                encoder = Encoder(cfg)
            expected = count_parameters(encoder) - count_parameters(encoder.embedding)
            got = call(student_fn, d_model, d_ff, n_layers)
            inputs = f"d_model={d_model}, d_ff={d_ff}, n_layers={n_layers}"
            if isinstance(got, torch.Tensor):
                raise Failure(f"expected a Python int for {inputs}, got a tensor (use int(...))")
            if isinstance(got, float) and got == int(got):
                raise Failure(f"expected a Python int for {inputs}, got the float {got} "
                              f"(use // instead of /, or int(...))")
            if not isinstance(got, int) or isinstance(got, bool):
                raise Failure(f"expected a Python int for {inputs}, got {type(got).__name__}")
            if got != expected:
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
                hint = f": {hints[got]}" if got in hints else ""
                raise Failure(f"for {inputs} expected {expected:,}, got {got:,}{hint}")

    return run("encoder parameter count", body)


def check_masked_mean_pooling(student_fn: Callable) -> CheckResult:
    """``student_fn(h (B, S, D), mask (B, 1, S) bool)`` -> ``(B, D)``, the mean of each
    sequence's vectors over its real positions (True in the mask) only."""

    def body():
        generator = torch.Generator().manual_seed(8)
        for batch, length, d_model, lengths in [(2, 5, 4, [5, 2]), (3, 7, 16, [1, 7, 4]),
                                                (1, 3, 8, [3])]:
            h = torch.randn(batch, length, d_model, generator=generator)
            mask = padding_mask(torch.tensor(lengths), length)  # (B, 1, S)
            h = h.masked_fill(~mask.transpose(1, 2), 100.0)  # loud garbage at padded positions
            keep = mask.transpose(1, 2).float()  # (B, S, 1)
            expected = (h * keep).sum(1) / keep.sum(1)  # (B, D)
            got = call(student_fn, h.clone(), mask.clone())
            hints = {
                "you averaged over the padding too: sum the real positions only": h.mean(1),
                "divide by the number of real tokens (mask.sum), not by S":
                    (h * keep).sum(1) / length,
                "that is the sum over the real positions; divide it by their number":
                    (h * keep).sum(1),
            }
            for hint, wrong in hints.items():
                if not torch.allclose(wrong, expected) and _same(got, wrong):
                    raise Failure(hint)
            compare(got, expected, {"h": h, "mask": mask})

    return run("masked mean pooling", body)
