"""Checks for the exercises of chapter 6 (the decoder and the full Transformer)."""

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F

from transformer_lib.attention import causal_mask, padding_mask
from transformer_lib.checks._compare import (
    compare,
    compare_count,
    copy_weights,
    matches,
    student_module,
    through_sublayers,
)
from transformer_lib.checks._core import Failure, call, check
from transformer_lib.config import TransformerConfig
from transformer_lib.decoder import DecoderLayer
from transformer_lib.models import Transformer
from transformer_lib.reference import torch_decoder_layer
from transformer_lib.utils import count_parameters


@check("shift right (teacher forcing input)", seed=6)
def check_shift_right(student_fn: Callable[[torch.Tensor, int], torch.Tensor], generator):
    """``student_fn(tgt (B, T) long, bos_id)`` -> the decoder's input ``(B, T)`` long: the target
    shifted one place to the right, BOS first and the last token dropped (teacher forcing)."""
    for batch, length, bos_id in [(2, 5, 1), (3, 8, 2), (1, 3, 7), (2, 1, 1)]:
        tgt = torch.randint(3, 50, (batch, length), generator=generator)  # (B, T)
        got = call(student_fn, tgt, bos_id)
        bos = torch.full((batch, 1), bos_id, dtype=torch.long)  # (B, 1)
        expected = torch.cat([bos, tgt[:, :-1]], dim=1)  # (B, T)
        compare(got, expected, {"tgt": tgt, "bos_id": bos_id}, long=True, mistakes={
            "you prepended BOS but kept the last token: drop it (tgt[:, :-1]) so that the "
            "input has the same length T as the target": torch.cat([bos, tgt], dim=1),
            "this is the target itself: position t would see the very token it must "
            "predict; shift it one place to the right": tgt,
            "you shifted to the left: BOS goes first, and the last target token is the "
            "one that is dropped": torch.cat([tgt[:, 1:], bos], dim=1),
            "you replaced the first token by BOS instead of shifting every token one place "
            "to the right": torch.cat([bos, tgt[:, 1:]], dim=1),
        })


@check("cross-attention", seed=16)
def check_cross_attention(student_fn: Callable, generator):
    """``student_fn(x (B, T, D), memory (B, S, D), w_q, w_k (D, Dh), w_v (D, Dv), memory_mask (B,
    1, S))`` -> ``(B, T, Dv)``, softmax((x w_q)(memory w_k)^T / sqrt(Dh), masked)(memory w_v)."""
    attend = F.scaled_dot_product_attention
    swapped = ("the queries must come from the decoder (x @ w_q) and the keys and values from "
               "the encoder's memory: the output needs one vector per target position")
    sizes = [(2, 4, 4, 8, 8), (2, 3, 6, 8, 4), (1, 5, 2, 16, 8), (3, 6, 9, 12, 6)]
    for batch, length, src_len, d_model, head_dim in sizes:
        x = torch.randn(batch, length, d_model, generator=generator)  # (B, T, D)
        memory = torch.randn(batch, src_len, d_model, generator=generator)  # (B, S, D)
        w_q, w_k, w_v = (torch.randn(d_model, head_dim, generator=generator) for _ in range(3))
        lengths = torch.randint(1, src_len + 1, (batch,), generator=generator)
        lengths[-1] = max(1, src_len - 1)  # at least one sequence with padding when S > 1
        mask = padding_mask(lengths, src_len)  # (B, 1, S)
        got = call(student_fn, x, memory, w_q, w_k, w_v, mask)
        inputs = {"x": x, "memory": memory, "memory_mask": mask}
        x, memory, w_q, w_k, w_v = (t.double() for t in (x, memory, w_q, w_k, w_v))  # float64
        q, k, v = x @ w_q, memory @ w_k, memory @ w_v
        expected = attend(q, k, v, attn_mask=mask)  # (B, T, Dv)
        if (isinstance(got, torch.Tensor) and got.dim() == 3 and src_len != length
                and got.shape[1] == src_len):
            raise Failure(f"your output has length S={src_len}, the source length, instead of "
                          f"T={length}: {swapped}")
        mistakes = {
            "you forgot the memory mask: padded source positions received attention weight; "
            "set their scores to -inf (where memory_mask is False) before the softmax":
                attend(q, k, v),
            "you forgot to divide the scores by sqrt(Dh)":
                attend(q, k, v, attn_mask=mask, scale=1.0),
        }
        if src_len == length:  # swapped roles give the right shape: compare the values
            roles = [attend(memory @ w_q, x @ w_k, x @ w_v, attn_mask=m) for m in (None, mask)]
            if not matches(got, expected) and any(matches(got, wrong) for wrong in roles):
                raise Failure(swapped)
            mistakes["the values must come from the memory too (memory @ w_v), like the keys"] = (
                attend(q, k, x @ w_v, attn_mask=mask))
        compare(got, expected, inputs, mistakes=mistakes)


def _decoder_layer_mistakes(layer: DecoderLayer, x, memory, tgt_mask, memory_mask,
                            norm_first: bool) -> dict[str, torch.Tensor]:
    """What the usual wrong decoder layers compute, with the layer's own pieces."""
    norms = (layer.self_attn_block.norm, layer.cross_attn_block.norm, layer.ffn_block.norm)

    def layer_with(norm_first=norm_first, self_mask=tgt_mask, memory_masked=True,
                   norm_memory=False, cross=True, swapped=False):
        source = norms[1](memory) if norm_memory else memory
        mask = memory_mask if memory_masked else None

        def cross_attention(h):
            return layer.cross_attn(*((source, h, h) if swapped else (h, source, source)), mask)

        sublayers = (lambda h: layer.self_attn(h, mask=self_mask), cross_attention, layer.ffn)
        kept = (0, 1, 2) if cross else (0, 2)
        return through_sublayers(x, [norms[i] for i in kept], [sublayers[i] for i in kept],
                                 norm_first)

    placement = ("pre-LN: x + sublayer(norm(x))" if norm_first
                 else "post-LN, the paper's: norm(x + sublayer(x))")
    mistakes = {
        f"for norm_first={norm_first} each sublayer must be {placement}":
            layer_with(norm_first=not norm_first),
        "the future leaks: the self-attention must use tgt_mask (the causal mask)":
            layer_with(self_mask=None),
        "use the tgt_mask you are given, not a causal mask of your own: here it also hides "
        "the padded target positions": layer_with(self_mask=causal_mask(x.shape[1])),
        "you forgot memory_mask in the cross-attention: padded source positions "
        "received attention": layer_with(memory_masked=False),
        "only the decoder's stream is normalized before the cross-attention: "
        "pass the memory as it is, not norm(memory)": layer_with(norm_memory=True),
        "the cross-attention sublayer is missing: a decoder layer has three "
        "sublayers (self-attention, cross-attention, feed-forward)": layer_with(cross=False),
    }
    if x.shape[1] == memory.shape[1]:  # otherwise swapping raises a shape error
        mistakes["the cross-attention's queries come from the decoder's stream and its keys and "
                 "values from the memory, not the other way round"] = layer_with(swapped=True)
    return mistakes


def _decoder_cases(generator, sizes):
    """For each ``(norm_first, B, T, S, D, H, F)``: a library ``DecoderLayer`` with distinct norm
    gains and biases (so a swapped norm shows), its config, inputs and masks: ``tgt_mask`` causal
    ``(T, T)``, or ``(B, T, T)`` with the last target padded; ``memory_mask`` ``(B, 1, S)``."""
    for norm_first, batch, length, src_len, d_model, n_heads, d_ff in sizes:
        cfg = TransformerConfig(vocab_size=10, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                                n_layers=1, dropout=0.0, norm_first=norm_first)
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
        layer = DecoderLayer(cfg).eval()
        with torch.no_grad():
            for norm in (layer.self_attn_block.norm, layer.cross_attn_block.norm,
                         layer.ffn_block.norm):
                norm.weight.copy_(1 + 0.5 * torch.randn(d_model, generator=generator))
                norm.bias.copy_(0.5 * torch.randn(d_model, generator=generator))
        x = torch.randn(batch, length, d_model, generator=generator)  # (B, T, D)
        memory = torch.randn(batch, src_len, d_model, generator=generator)  # (B, S, D)
        tgt_mask = causal_mask(length)
        if batch > 1:
            tgt_mask = tgt_mask & padding_mask(torch.tensor([length, length - 2]), length)
        lengths = torch.tensor([src_len] * (batch - 1) + [src_len - 2])  # the last padded
        yield layer, cfg, x, memory, tgt_mask, padding_mask(lengths, src_len)


def _compare_decoder_layer(got, layer, cfg, x, memory, tgt_mask, memory_mask) -> None:
    """``got`` against ``nn.TransformerDecoderLayer`` holding ``layer``'s weights, in float64."""
    inputs = {"x": x, "memory": memory, "tgt_mask": tgt_mask, "norm_first": cfg.norm_first}
    with torch.no_grad():
        x, memory = x.double(), memory.double()
        expected = torch_decoder_layer(layer, cfg).double()(  # its masks: True = blocked
            x, memory, tgt_mask=(~tgt_mask).expand(x.shape[0], -1, -1).repeat_interleave(
                cfg.n_heads, 0), memory_key_padding_mask=~memory_mask.squeeze(1))
        mistakes = _decoder_layer_mistakes(copy.deepcopy(layer).double(), x, memory, tgt_mask,
                                           memory_mask, cfg.norm_first)
    compare(got, expected, inputs, mistakes=mistakes)


@check("decoder layer (against nn.TransformerDecoderLayer)", seed=26)
@torch.random.fork_rng(devices=[])  # building the layers draws random weights
def check_decoder_layer(student_fn: Callable, generator):
    """``student_fn(layer, x (B, T, D), memory (B, S, D), tgt_mask (T, T) causal or (B, T, T)
    causal and padded, memory_mask (B, 1, S), norm_first)`` -> ``(B, T, D)`` from ``layer``'s
    parts, as ``nn.TransformerDecoderLayer``."""
    sizes = [(False, 1, 4, 4, 8, 2, 16), (False, 2, 5, 7, 16, 4, 32),
             (True, 1, 4, 4, 8, 2, 16), (True, 2, 5, 7, 16, 4, 32)]
    for layer, cfg, x, memory, tgt_mask, memory_mask in _decoder_cases(generator, sizes):
        with torch.no_grad():
            got = call(student_fn, layer, x, memory, tgt_mask, memory_mask, cfg.norm_first)
        _compare_decoder_layer(got, layer, cfg, x, memory, tgt_mask, memory_mask)


@check("parameter count of the encoder-decoder Transformer")
def check_transformer_parameter_count(student_fn: Callable[..., int]):
    """``student_fn(vocab_size, d_model, d_ff, n_heads, n_layers)`` -> parameters (int) of the
    ``tl.Transformer``: N + N layers, one ``(V, D)`` matrix shared by embeddings and output."""
    cases = [(100, 16, 32, 4, 2), (37000, 512, 2048, 8, 6), (1000, 64, 256, 1, 3),
             (50, 32, 128, 8, 1), (37000, 1024, 4096, 16, 6)]
    for vocab, d_model, d_ff, n_heads, n_layers in cases:
        args = {"vocab_size": vocab, "d_model": d_model, "d_ff": d_ff, "n_heads": n_heads,
                "n_layers": n_layers}
        with torch.device("meta"):  # shapes only, no memory for the weights
            expected = count_parameters(Transformer(TransformerConfig(**args)))
        V, D, F_, N = vocab, d_model, d_ff, n_layers
        norms = N * (2 + 3) * 2 * D
        biases = N * (4 * D + F_ + D) + N * (8 * D + F_ + D)
        hints = {
            2 * V * D: "you counted the shared embedding matrix three times (source, target, "
                       "output): it is one (V, D) matrix, count it once",
            V * D: "you counted the shared embedding matrix twice: source, target and output "
                   "share one (V, D) matrix",
            V: "the output layer has no bias when it is tied to the embedding",
            2 * V * D + V: "you counted three separate embedding matrices and an output bias: "
                           "that is the model without sharing",
            -norms: "you left out the layer norms: each has a gain and a bias of D numbers, "
                    "2 norms per encoder layer and 3 per decoder layer",
            -biases: "you left out the biases of the linear layers (attention projections "
                     "and feed-forward)",
            -(norms + biases): "you left out the biases and the layer norms",
            -N * (4 * D * D + 4 * D + 2 * D): "you left out each decoder layer's "
                                              "cross-attention and its layer norm",
            -N * (4 * D * D + 4 * D): "you left out each decoder layer's cross-attention",
            -V * D: "you left out the embedding matrix",
        }
        compare_count(student_fn, args, expected, hints, difference=True)


@check("DecoderLayer module", seed=27)
@torch.random.fork_rng(devices=[])  # building the layers draws random weights
def check_decoder_layer_module(student_cls, generator):
    """``student_cls(d_model, n_heads, d_ff, dropout, norm_first)``: an nn.Module with the
    library's names (``self_attn``, ``cross_attn``, ``ffn`` and their residual blocks
    ``self_attn_block``, ``cross_attn_block``, ``ffn_block``) whose ``forward(x (B, T, D),
    memory (B, S, D), tgt_mask, memory_mask (B, 1, S))`` equals ``nn.TransformerDecoderLayer``
    holding the same weights, post-LN and pre-LN, for causal and padded target masks."""
    sizes = [(False, 1, 4, 4, 8, 2, 16), (False, 2, 5, 7, 16, 4, 32), (True, 2, 5, 7, 16, 4, 32)]
    for layer, cfg, x, memory, tgt_mask, memory_mask in _decoder_cases(generator, sizes):
        student = student_module(student_cls, cfg.d_model, cfg.n_heads, cfg.d_ff, 0.0,
                                 cfg.norm_first)
        copy_weights(layer, student, "self_attn, cross_attn, ffn, self_attn_block.norm, "
                                     "cross_attn_block.norm, ffn_block.norm")
        with torch.no_grad():
            got = call(student.eval(), x, memory, tgt_mask, memory_mask)
        _compare_decoder_layer(got, layer, cfg, x, memory, tgt_mask, memory_mask)
