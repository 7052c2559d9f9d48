"""Checks for the exercises of chapter 6 (the decoder and the full Transformer)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from transformer_lib.checks._core import CheckResult, Failure, call, compare, run
from transformer_lib.config import TransformerConfig
from transformer_lib.decoder import DecoderLayer
from transformer_lib.models import Transformer
from transformer_lib.utils import count_parameters

__all__ = [
    "check_shift_right",
    "check_cross_attention",
    "check_decoder_layer",
    "check_transformer_parameter_count",
]


def _close(got, wrong: torch.Tensor) -> bool:
    """True when ``got`` is a tensor equal to ``wrong`` (a known mistake's result)."""
    return (
        isinstance(got, torch.Tensor)
        and tuple(got.shape) == tuple(wrong.shape)
        and torch.allclose(got.detach().cpu().float(), wrong.float(), atol=1e-5, rtol=1e-4)
    )


def check_shift_right(student_fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """``student_fn(tgt (B, T) long, bos_id)`` -> the decoder's input ``(B, T)`` long.

    Teacher forcing: the decoder reads the target shifted one place to the right, BOS first and
    the last token dropped, so that position t sees tokens 0..t-1 and must predict token t.
    """

    def body():
        generator = torch.Generator().manual_seed(6)
        for batch, length, bos_id in [(2, 5, 1), (3, 8, 2), (1, 3, 7), (2, 1, 1)]:
            tgt = torch.randint(3, 50, (batch, length), generator=generator)  # (B, T)
            original = tgt.clone()
            got = call(student_fn, tgt, bos_id)
            bos = torch.full((batch, 1), bos_id, dtype=torch.long)  # (B, 1)
            expected = torch.cat([bos, original[:, :-1]], dim=1)  # (B, T)
            inputs = {"tgt": original, "bos_id": bos_id}
            if not torch.equal(tgt, original):
                raise Failure("your function changed its input tensor in place: build a new tensor "
                              "(torch.cat) and leave tgt as it is, the loss still needs it")
            if isinstance(got, torch.Tensor) and length > 1:
                got_cpu = got.detach().cpu()
                hints = {
                    "you prepended BOS but kept the last token: drop it (tgt[:, :-1]) so that the "
                    "input has the same length T as the target":
                        torch.cat([bos, original], dim=1),
                    "this is the target itself: position t would see the very token it must "
                    "predict; shift it one place to the right":
                        original,
                    "you shifted to the left: BOS goes first, and the last target token is the "
                    "one that is dropped":
                        torch.cat([original[:, 1:], bos], dim=1),
                    "you replaced the first token by BOS instead of shifting every token one place "
                    "to the right":
                        torch.cat([bos, original[:, 1:]], dim=1),
                }
                for hint, wrong in hints.items():
                    if tuple(got_cpu.shape) == tuple(wrong.shape) and torch.equal(
                        got_cpu.long(), wrong
                    ):
                        raise Failure(hint)
                if got.dtype != torch.long:
                    raise Failure(f"the result must hold token ids with dtype torch.long, got "
                                  f"{got.dtype}")
            compare(got, expected, inputs)

    return run("shift right (teacher forcing input)", body)


def check_cross_attention(student_fn: Callable) -> CheckResult:
    """``student_fn(x, memory, w_q, w_k, w_v, memory_mask)`` -> single-head cross-attention.

    Shapes: x ``(B, T, D)`` (the decoder), memory ``(B, S, D)`` (the encoder's output), w_q and
    w_k ``(D, Dh)``, w_v ``(D, Dv)``, memory_mask bool ``(B, 1, S)`` with True = may attend.
    Returns ``(B, T, Dv)``: softmax((x w_q)(memory w_k)^T / sqrt(Dh), masked) (memory w_v).
    """

    def attend(q, k, v, mask, scale=True):
        scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(-1) @ v

    def body():
        generator = torch.Generator().manual_seed(16)
        sizes = [(2, 4, 4, 8, 8), (2, 3, 6, 8, 4), (1, 5, 2, 16, 8), (3, 6, 9, 12, 6)]
        for batch, length, src_len, d_model, head_dim in sizes:
            x = torch.randn(batch, length, d_model, generator=generator)  # (B, T, D)
            memory = torch.randn(batch, src_len, d_model, generator=generator)  # (B, S, D)
            w_q, w_k, w_v = (torch.randn(d_model, head_dim, generator=generator) for _ in range(3))
            lengths = torch.randint(1, src_len + 1, (batch,), generator=generator)
            lengths[-1] = max(1, src_len - 1)  # at least one sequence with padding when S > 1
            mask = (torch.arange(src_len) < lengths.unsqueeze(1)).unsqueeze(1)  # (B, 1, S)
            got = call(student_fn, x.clone(), memory.clone(), w_q, w_k, w_v, mask.clone())
            q, k, v = x @ w_q, memory @ w_k, memory @ w_v
            expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, T, Dv)
            swapped_queries = "the queries must come from the decoder (x @ w_q) and the keys and " \
                "values from the encoder's memory: the output needs one vector per target position"
            if (isinstance(got, torch.Tensor) and got.dim() == 3 and src_len != length
                    and got.shape[1] == src_len):
                raise Failure(f"your output has length S={src_len}, the source length, instead of "
                              f"T={length}: {swapped_queries}")
            hints = [
                ("you forgot the memory mask: padded source positions received attention weight; "
                 "set their scores to -inf (where memory_mask is False) before the softmax",
                 attend(q, k, v, None)),
                ("you forgot to divide the scores by sqrt(Dh)", attend(q, k, v, mask, scale=False)),
            ]
            if src_len == length:  # swapped roles give the right shape: compare the values
                hints += [
                    (swapped_queries, attend(memory @ w_q, x @ w_k, x @ w_v, None)),
                    (swapped_queries, attend(memory @ w_q, x @ w_k, x @ w_v, mask)),
                    ("the values must come from the memory too (memory @ w_v), like the keys",
                     attend(q, k, x @ w_v, mask)),
                ]
            for hint, wrong in hints:
                if _close(got, wrong) and not _close(got, expected):
                    raise Failure(hint)
            compare(got, expected, {"x": x, "memory": memory, "memory_mask": mask})

    return run("cross-attention", body)


def _decoder_layer_variant(layer, x, memory, tgt_mask, memory_mask, norm_first, causal=True,
                           memory_masked=True, norm_memory=False, cross=True, swapped=False):
    """A decoder layer's forward, right (the defaults) or with one known mistake."""
    norms = (layer.self_attn_block.norm, layer.cross_attn_block.norm, layer.ffn_block.norm)

    def cross_attention(h):
        source = norms[1](memory) if norm_memory else memory
        mask = memory_mask if memory_masked else None
        if swapped:
            return layer.cross_attn(source, h, h, mask)
        return layer.cross_attn(h, source, source, mask)

    sublayers = (lambda h: layer.self_attn(h, mask=tgt_mask if causal else None), cross_attention,
                 layer.ffn)
    for index, (norm, sublayer) in enumerate(zip(norms, sublayers)):
        if index == 1 and not cross:
            continue
        x = x + sublayer(norm(x)) if norm_first else norm(x + sublayer(x))
    return x


def check_decoder_layer(student_fn: Callable) -> CheckResult:
    """``student_fn(layer, x, memory, tgt_mask, memory_mask, norm_first)`` -> ``(B, T, D)``.

    ``layer`` is a ``tl.DecoderLayer`` in eval mode; the student uses its parts (``self_attn``,
    ``cross_attn``, ``ffn`` and the norms ``self_attn_block.norm``, ``cross_attn_block.norm``,
    ``ffn_block.norm``) for post-LN (``norm_first=False``) or pre-LN. Shapes: x ``(B, T, D)``,
    memory ``(B, S, D)``, tgt_mask bool ``(T, T)``, memory_mask bool ``(B, 1, S)``.
    The reference is PyTorch's ``nn.TransformerDecoderLayer`` with the same weights.
    """
    from transformer_lib.reference import torch_decoder_layer

    def body():
        with torch.random.fork_rng(devices=[]):  # building the layers draws random weights
            cases(torch.Generator().manual_seed(26))

    def cases(generator):
        for norm_first in (False, True):
            for batch, length, src_len, d_model, n_heads, d_ff in [(1, 4, 4, 8, 2, 16),
                                                                   (2, 5, 7, 16, 4, 32)]:
                cfg = TransformerConfig(vocab_size=10, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                                        n_layers=1, dropout=0.0, norm_first=norm_first)
                torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
                layer = DecoderLayer(cfg).eval()
                with torch.no_grad():  # gains and biases that differ, so a swapped norm shows
                    for norm in (layer.self_attn_block.norm, layer.cross_attn_block.norm,
                                 layer.ffn_block.norm):
                        norm.weight.copy_(1 + 0.5 * torch.randn(d_model, generator=generator))
                        norm.bias.copy_(0.5 * torch.randn(d_model, generator=generator))
                x = torch.randn(batch, length, d_model, generator=generator)  # (B, T, D)
                memory = torch.randn(batch, src_len, d_model, generator=generator)  # (B, S, D)
                tgt_mask = torch.ones(length, length, dtype=torch.bool).tril()  # (T, T)
                lengths = torch.full((batch,), src_len)
                lengths[-1] = src_len - 2
                memory_mask = (torch.arange(src_len) < lengths.unsqueeze(1)).unsqueeze(1)
                args = (x, memory, tgt_mask, memory_mask, norm_first)
                with torch.no_grad():
                    got = call(student_fn, layer, x.clone(), memory.clone(), tgt_mask.clone(),
                               memory_mask.clone(), norm_first)
                    expected = torch_decoder_layer(layer, cfg)(
                        x, memory, tgt_mask=~tgt_mask,
                        memory_key_padding_mask=~memory_mask.squeeze(1))
                    placement = "pre-LN: x + sublayer(norm(x))" if norm_first else \
                        "post-LN, the paper's: norm(x + sublayer(x))"
                    hints = {
                        f"for norm_first={norm_first} each sublayer must be {placement}":
                            _decoder_layer_variant(layer, *args[:-1], not norm_first),
                        "the future leaks: the self-attention must use tgt_mask (the causal mask)":
                            _decoder_layer_variant(layer, *args, causal=False),
                        "you forgot memory_mask in the cross-attention: padded source positions "
                        "received attention":
                            _decoder_layer_variant(layer, *args, memory_masked=False),
                        "only the decoder's stream is normalized before the cross-attention: "
                        "pass the memory as it is, not norm(memory)":
                            _decoder_layer_variant(layer, *args, norm_memory=True),
                        "the cross-attention sublayer is missing: a decoder layer has three "
                        "sublayers (self-attention, cross-attention, feed-forward)":
                            _decoder_layer_variant(layer, *args, cross=False),
                    }
                    if length == src_len:  # otherwise swapping raises a shape error
                        hints["the cross-attention's queries come from the decoder's stream and "
                              "its keys and values from the memory, not the other way round"] = \
                            _decoder_layer_variant(layer, *args, swapped=True)
                for hint, wrong in hints.items():
                    if _close(got, wrong) and not _close(got, expected):
                        raise Failure(hint)
                compare(got, expected, {"x": x, "memory": memory, "norm_first": norm_first})

    return run("decoder layer (against nn.TransformerDecoderLayer)", body)


def check_transformer_parameter_count(student_fn: Callable[..., int]) -> CheckResult:
    """``student_fn(vocab_size, d_model, d_ff, n_heads, n_layers)`` -> number of parameters (int).

    The encoder-decoder with N encoder and N decoder layers and one ``(V, D)`` matrix shared by
    the source embedding, the target embedding and the output layer (no output bias), compared
    with ``tl.count_parameters`` of a ``tl.Transformer`` built on the meta device.
    """

    def body():
        cases = [(100, 16, 32, 4, 2), (37000, 512, 2048, 8, 6), (1000, 64, 256, 1, 3),
                 (50, 32, 128, 8, 1), (37000, 1024, 4096, 16, 6)]
        for vocab, d_model, d_ff, n_heads, n_layers in cases:
            inputs = (f"vocab_size={vocab}, d_model={d_model}, d_ff={d_ff}, n_heads={n_heads}, "
                      f"n_layers={n_layers}")
            got = call(student_fn, vocab, d_model, d_ff, n_heads, n_layers)
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                raise Failure(f"expected a Python int for {inputs}, got a tensor (use int(...))")
            if isinstance(got, float) and got.is_integer():
                raise Failure(f"expected a Python int for {inputs}, got the float {got} (use // "
                              f"instead of /, or int(...))")
            if not isinstance(got, int) or isinstance(got, bool):
                raise Failure(f"expected an int for {inputs}, got {type(got).__name__}")
            cfg = TransformerConfig(vocab_size=vocab, d_model=d_model, d_ff=d_ff, n_heads=n_heads,
                                    n_layers=n_layers)
            with torch.device("meta"):  # shapes only, no memory for the weights
                expected = count_parameters(Transformer(cfg))
            if got == expected:
                continue
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
            hint = hints.get(got - expected, "")
            raise Failure(f"for {inputs} expected {expected:,}, got {got:,} (difference "
                          f"{got - expected:+,})" + (f": {hint}" if hint else ""))

    return run("parameter count of the encoder-decoder Transformer", body)
