"""Checks for the exercises of chapter 6 (the decoder and the full Transformer)."""

import copy
import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib.attention import causal_mask, padding_mask
from transformer_lib.checks._compare import (
    compare,
    copy_weights,
    matches,
    student_module,
    through_sublayers,
)
from transformer_lib.checks._core import Failure, call, check
from transformer_lib.config import TransformerConfig
from transformer_lib.decoder import DecoderLayer
from transformer_lib.encoder import EncoderLayer
from transformer_lib.models import DecoderOnlyLM
from transformer_lib.normalization import LayerNorm
from transformer_lib.reference import torch_decoder_layer, torch_encoder_layer, torch_layer_norm


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


GPT_NAMES = ("token_embedding, position_embedding, layers (your EncoderLayers), final_norm, "
             "output")


def _gpt_teacher(vocab: int, d_model: int, n_heads: int, d_ff: int, n_layers: int,
                 max_len: int, generator) -> nn.Module:
    """A GPT made of library layers under the exercise's names, with random weights; the norms'
    gains and biases are not 1 and 0, so that a missing or misplaced norm shows."""
    cfg = TransformerConfig(vocab_size=vocab, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                            n_layers=n_layers, max_len=max_len, dropout=0.0, norm_first=True,
                            pad_id=None)
    torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
    teacher = nn.Module()
    teacher.cfg = cfg
    teacher.token_embedding = nn.Embedding(vocab, d_model)
    teacher.position_embedding = nn.Embedding(max_len, d_model)
    teacher.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(n_layers))
    teacher.final_norm = LayerNorm(d_model)
    teacher.output = nn.Linear(d_model, vocab)
    with torch.no_grad():
        for module in teacher.modules():
            if isinstance(module, LayerNorm):
                module.weight.copy_(1 + 0.5 * torch.randn(d_model, generator=generator))
                module.bias.copy_(0.5 * torch.randn(d_model, generator=generator))
    return teacher.eval()


def _gpt_reference(teacher: nn.Module, ids: torch.Tensor, causal: bool = True,
                   positions: str = "right", final_norm: bool = True, norm_first: bool = True,
                   scaled: bool = False) -> torch.Tensor:
    """Logits ``(B, T, V)`` of ``teacher`` computed by torch.nn modules in float64: embeddings,
    ``nn.TransformerEncoderLayer`` copies under ``mask=~causal``, ``nn.LayerNorm``, the output
    layer. The keywords compute the usual wrong models instead."""
    cfg = dataclasses.replace(teacher.cfg, norm_first=norm_first)
    length, d_model = ids.shape[1], cfg.d_model
    x = teacher.token_embedding.weight.double()[ids]  # (B, T, D)
    x = x * d_model**0.5 if scaled else x
    where = {"right": torch.arange(length), "from 1": torch.arange(1, length + 1),
             "token ids": ids}.get(positions)
    if where is not None:
        x = x + teacher.position_embedding.weight.double()[where]  # (B, T, D)
    mask = ~causal_mask(length) if causal else None  # torch's masks: True = blocked
    for layer in teacher.layers:
        x = torch_encoder_layer(layer, cfg).double()(x, src_mask=mask)  # (B, T, D)
    if final_norm:
        x = torch_layer_norm(teacher.final_norm).double()(x)
    return teacher.output.double()(x)  # (B, T, V)


def _gpt_mistakes(teacher: nn.Module, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    def wrong(**how):
        return _gpt_reference(teacher, ids, **how)

    mistakes = {
        "the future leaks: run every layer under the causal mask, tl.causal_mask(T) (True where "
        "the key is not after the query)": wrong(causal=False),
        "the position embedding is missing: add position_embedding(positions 0 .. T-1) to the "
        "token vectors, or the model cannot tell the order of the tokens": wrong(positions=None),
        "the final LayerNorm is missing: a pre-LN stack's output is never normalized inside a "
        "layer, so final_norm comes after the last layer, before the output layer":
            wrong(final_norm=False),
        "your layers are post-LN: GPT-2 normalizes first, so build each EncoderLayer with "
        "norm_first=True": wrong(norm_first=False),
        "your layers are post-LN (and there is no final norm): GPT-2 normalizes first, so build "
        "each EncoderLayer with norm_first=True, and add final_norm after the last layer":
            wrong(norm_first=False, final_norm=False),
        "do not scale the token vectors by sqrt(D) here: GPT-2 adds the token and position "
        "embeddings as they are": wrong(scaled=True),
    }
    if ids.shape[1] < teacher.position_embedding.num_embeddings:
        mistakes["the positions are off by one: the first token gets position 0, so index the "
                 "position embedding with torch.arange(T), not 1 .. T"] = wrong(positions="from 1")
    if int(ids.max()) < teacher.position_embedding.num_embeddings:
        mistakes["the position embedding is indexed by the token ids: index it by the positions "
                 "0 .. T-1 (torch.arange(T))"] = wrong(positions="token ids")
    return mistakes


def _leaks_the_future(student: nn.Module, ids: torch.Tensor, got, vocab: int) -> str:
    """A message if changing the tokens from the middle on changes the logits before it."""
    length = ids.shape[1]
    if not (isinstance(got, torch.Tensor) and got.shape == (*ids.shape, vocab)) or length < 2:
        return ""
    start = length // 2
    changed = ids.clone()
    changed[:, start:] = (ids[:, start:] + 1) % vocab  # other tokens from position start on
    with torch.no_grad():
        moved = call(student, changed)
    if isinstance(moved, torch.Tensor) and not matches(moved[:, :start], got[:, :start]):
        return (f"the future leaks: with T={length}, changing the tokens at positions {start} "
                f"and after changed your logits at positions 0 .. {start - 1}. Run every layer "
                "under the causal mask, tl.causal_mask(T) (True where the key is not after the "
                "query)")
    return ""


@check("GPT module (against a causal nn.TransformerEncoder)", seed=36)
@torch.random.fork_rng(devices=[])  # building the models draws random weights
def check_gpt_module(student_cls, generator):
    """``student_cls(vocab_size, d_model, n_heads, d_ff, n_layers, max_len)``: an nn.Module with
    ``token_embedding`` and ``position_embedding`` (``nn.Embedding``), ``layers`` (pre-LN
    encoder layers with the library's names), ``final_norm`` and ``output`` (``nn.Linear(D,
    V)``) whose ``forward(ids (B, T))`` gives the logits ``(B, T, V)`` of a causal stack of
    ``nn.TransformerEncoderLayer(norm_first=True)`` with the same weights."""
    sizes = [(11, 8, 2, 16, 2, 12, 2, 6), (40, 16, 4, 32, 1, 24, 3, 10),
             (7, 12, 3, 24, 3, 9, 1, 9), (23, 8, 1, 16, 2, 16, 2, 1)]
    for vocab, d_model, n_heads, d_ff, n_layers, max_len, batch, length in sizes:
        teacher = _gpt_teacher(vocab, d_model, n_heads, d_ff, n_layers, max_len, generator)
        student = student_module(student_cls, vocab, d_model, n_heads, d_ff, n_layers, max_len)
        output, table = getattr(student, "output", None), getattr(student, "token_embedding", None)
        if getattr(output, "weight", 0) is getattr(table, "weight", 1):
            raise Failure("your output layer shares the token embedding's matrix (as GPT-2 does): "
                          "here give output its own nn.Linear(d_model, vocab_size)")
        copy_weights(teacher, student, GPT_NAMES)
        ids = torch.randint(0, vocab, (batch, length), generator=generator)  # (B, T)
        with torch.no_grad():
            got = call(student.eval(), ids)
            leak = _leaks_the_future(student, ids, got, vocab)
            if leak:
                raise Failure(leak)
            expected = _gpt_reference(teacher, ids)
            mistakes = _gpt_mistakes(teacher, ids)
        compare(got, expected, {"ids": ids, "vocab_size": vocab, "max_len": max_len},
                mistakes=mistakes)


def _greedy_reference(model: nn.Module, ids: torch.Tensor, n_new: int, position: int = -1,
                      feed_back: bool = True) -> torch.Tensor:
    """``ids`` followed by ``n_new`` argmax tokens (the known mistakes with the keywords)."""
    out = ids
    with torch.no_grad():
        for _ in range(n_new):
            context = out if feed_back else ids
            out = torch.cat([out, model(context)[:, position].argmax(dim=-1, keepdim=True)], 1)
    return out


@check("greedy generation", seed=46)
@torch.random.fork_rng(devices=[])  # building the models draws random weights
def check_greedy_generate(student_fn: Callable, generator):
    """``student_fn(model, ids (B, T0) long, n_new)`` -> ``(B, T0 + n_new)`` long: the prompt,
    then ``n_new`` tokens, each the argmax of the model's logits at the last position, fed back;
    the model in eval mode (the last case gives one in training mode, with dropout)."""
    cases = [(13, 2, 3, 4, 0.0), (29, 1, 1, 6, 0.0), (17, 3, 5, 1, 0.0), (19, 2, 2, 5, 0.3)]
    for vocab, batch, prompt, n_new, dropout in cases:
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
        cfg = TransformerConfig(vocab_size=vocab, d_model=16, n_heads=2, d_ff=32, n_layers=2,
                                max_len=32, dropout=dropout, norm_first=True,
                                positional="learned", pad_id=None, share_embeddings=False)
        model = DecoderOnlyLM(cfg).eval()  # untied: an untrained tied model repeats its input
        ids = torch.randint(0, vocab, (batch, prompt), generator=generator)  # (B, T0)
        expected = _greedy_reference(model, ids, n_new)
        mistakes = {
            "return the prompt followed by the new tokens, not the new tokens alone":
                expected[:, prompt:],
            "the next token is predicted at the last position: take logits[:, -1], not the "
            "logits of the first position": _greedy_reference(model, ids, n_new, position=0),
            "feed each new token back: append it and run the model again on the longer "
            "sequence, instead of predicting every new token from the prompt alone":
                _greedy_reference(model, ids, n_new, feed_back=False),
        }
        if dropout:
            model.train()  # the learner must switch dropout off
        got = call(student_fn, model, ids, n_new)
        if (dropout and isinstance(got, torch.Tensor) and got.shape == expected.shape
                and not matches(got, expected)):
            raise Failure("your tokens differ when the model comes in training mode: dropout "
                          "then changes every prediction. Call model.eval() before generating")
        compare(got, expected, {"ids": ids, "n_new": n_new}, long=True, mistakes=mistakes)
