"""Checks for the exercises of chapter 2 (attention)."""

import math
from collections.abc import Callable

import torch
from torch import nn

from transformer_lib.attention import MultiHeadAttention, causal_mask, padding_mask
from transformer_lib.checks._compare import (
    Case,
    compare,
    compare_count,
    copy_weights,
    diagnose,
    python_number,
    student_module,
)
from transformer_lib.checks._core import Failure, call, check
from transformer_lib.reference import torch_multihead_attention


def _entropy(weights: torch.Tensor, log=torch.log) -> torch.Tensor:
    """-sum_s w log w over the last axis, with 0 log 0 = 0 (a masked key adds nothing)."""
    return -(weights * log(weights.clamp_min(1e-300))).sum(-1)


@check("attention entropy", seed=1)
def check_attention_entropy(student_fn: Callable, generator):
    """``student_fn(weights (..., T, S))`` -> ``(..., T)``: each row's entropy in nats, with
    0 log 0 = 0 where a masked key has weight exactly 0."""
    for shape in [(5, 7), (2, 3, 4, 4), (3, 6)]:
        mask = torch.ones(shape[-2:], dtype=torch.bool).tril()  # (T, S): some weights are 0
        scores = torch.randn(shape, generator=generator) * 2
        weights = scores.masked_fill(~mask, -math.inf).softmax(-1)  # (..., T, S)
        w64 = weights.double()
        compare(call(student_fn, weights), _entropy(w64), {"weights": weights}, mistakes={
            "0 log 0 must count as 0: a masked key has weight exactly 0 and 0 * log(0) is NaN "
            "(use torch.special.entr or torch.xlogy, or keep only the weights > 0)":
                -(w64 * w64.log()).sum(-1),
            "use the natural logarithm (nats): uniform weights over S keys give log(S)":
                _entropy(w64, torch.log2),
            "the entropy is -sum w log w, a positive number: the minus sign is missing":
                -_entropy(w64),
            "sum over the keys (the last axis): one entropy per query row":
                _entropy(w64.transpose(-2, -1)),
            "sum over the keys, do not average: uniform weights over S keys give log(S)":
                _entropy(w64) / shape[-1],
        })


def _prefix_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Attention with equal scores: each query averages the keys ``mask`` allows."""
    scores = torch.zeros(x.shape[-2], x.shape[-2], dtype=x.dtype)  # (T, T)
    return (scores if mask is None else scores.masked_fill(~mask, -math.inf)).softmax(-1) @ x


@check("prefix mean", seed=2)
def check_prefix_mean(student_fn: Callable[[torch.Tensor], torch.Tensor], generator):
    """``student_fn(x (B, T, D))`` -> ``(B, T, D)``: output t is the mean of x[:, :t+1]."""
    for shape in [(1, 4, 3), (2, 6, 5), (3, 1, 2)]:
        x = torch.randn(shape, generator=generator)
        x64, causal = x.double(), causal_mask(shape[1])
        compare(call(student_fn, x), _prefix_mean(x64, causal), {"x": x}, mistakes={
            "every output is the mean of the whole sequence: output t may only average "
            "positions 0..t (a causal mask)": _prefix_mean(x64, None),
            "the output averages the future, not the past: True = may attend, keys s <= t":
                _prefix_mean(x64, causal.T),
            "this is a running sum: divide by the number of positions averaged, t + 1 (a "
            "softmax over equal scores does that for you)": x64.cumsum(-2),
            "divide position t's sum by t + 1, the number of positions it averages, not by T":
                x64.cumsum(-2) / shape[1],
            "position t averages itself too (keys s <= t, not s < t)":
                _prefix_mean(x64, causal.tril(-1)),
        })


@check("cross-attention parameter count")
def check_cross_attention_parameters(student_fn: Callable[[int, int, int, int], int]):
    """``student_fn(d_model, n_heads, kdim, vdim)`` -> the number of parameters of
    ``nn.MultiheadAttention(d_model, n_heads, kdim=kdim, vdim=vdim)``, a Python int."""
    for d_model, n_heads, kdim, vdim in [(512, 8, 768, 768), (16, 4, 8, 12), (64, 1, 64, 64)]:
        module = nn.MultiheadAttention(d_model, n_heads, kdim=kdim, vdim=vdim, device="meta")
        expected = sum(p.numel() for p in module.parameters())  # meta: no memory, no random draw
        hints = {
            4 * d_model**2 + 4 * d_model: "the key and value projections read kdim and vdim "
            "features, not d_model: W^K is (kdim x d_model), W^V is (vdim x d_model)",
            n_heads * expected: "the heads share the four projections: the count does not "
            "depend on n_heads (each head uses a slice of D_h columns)",
            expected - 4 * d_model: "each of the four projections has a bias of d_model numbers",
            2 * d_model**2 + kdim**2 + vdim**2 + 2 * d_model + kdim + vdim:
                "every projection maps into d_model (the heads' width), whatever it reads",
        }
        hints.pop(expected, None)
        compare_count(student_fn, {"d_model": d_model, "n_heads": n_heads, "kdim": kdim,
                                   "vdim": vdim}, expected, hints)


@check("causal mask")
def check_causal_mask(student_fn: Callable[[int], torch.Tensor]):
    """``student_fn(T)`` -> ``(T, T)`` bool, True where query t may attend to key s (s <= t)."""
    for size in (5, 1, 2, 12):
        got = call(student_fn, size)
        expected = causal_mask(size)
        if isinstance(got, torch.Tensor) and got.dtype == torch.bool and got.shape == (size, size):
            off_diagonal = ~torch.eye(size, dtype=torch.bool)
            if size > 1 and torch.equal(got[off_diagonal], ~expected[off_diagonal]):
                raise Failure("the mask is inverted: it allows the future (True above the "
                              "diagonal) and forbids the past; query t may attend to keys s <= t")
            if (got & ~expected).any():
                t, s = (got & ~expected).nonzero()[0].tolist()
                raise Failure(f"the mask leaks the future: for T={size}, query {t} may attend to "
                              f"key {s}")
            if not got.diagonal().all():
                raise Failure("each position must be allowed to attend to itself (diagonal True)")
        compare(got, expected, {"T": size})


def _mean_largest_weight(d_k: int, scaled: bool) -> float:
    """Mean over 200 x 8 rows of the largest attention weight; q, k unit-variance of width d_k."""
    generator = torch.Generator().manual_seed(1234)
    q, k = (torch.randn(200, 8, d_k, generator=generator).double() for _ in range(2))
    scores = q @ k.transpose(-2, -1) / (math.sqrt(d_k) if scaled else 1.0)  # (N, T, S)
    return scores.softmax(-1).max(-1).values.mean().item()


@check("softmax saturation experiment")
def check_softmax_saturation(student_fn: Callable[[int, bool], float]):
    """``student_fn(d_k, scaled)`` -> mean largest attention weight of rows of 8 unit-variance
    queries and keys of width d_k (200 sets), within 0.05: random draws differ."""
    for d_k in (4, 64, 1024):
        for scaled in (False, True):
            inputs = f"d_k={d_k}, scaled={scaled}"
            got = python_number(call(student_fn, d_k, scaled), inputs)
            expected = _mean_largest_weight(d_k, scaled)
            mistake = ("it looks like the scores were not divided by sqrt(d_k)" if scaled
                       else "it looks like the scores were scaled although scaled=False")
            mistakes = {mistake: _mean_largest_weight(d_k, not scaled)}
            shown = f"for {inputs} expected about {expected:.2f}, got {got:.3f}"
            diagnose([Case(got, expected, mistakes, shown)], atol=0.05, rtol=0)


PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


def _build(student_cls, d_model: int, n_heads: int, generator) -> tuple[nn.Module, nn.Module]:
    """The student's module, holding the weights of a library module built for the same sizes."""
    module = student_module(student_cls, d_model, n_heads)
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    ours = MultiHeadAttention(d_model, n_heads).eval()
    copy_weights(ours, module, "q_proj, k_proj, v_proj, out_proj, each nn.Linear(d_model, "
                               "d_model) with a bias")
    return module.eval(), ours


def _torch_mha(ours: nn.Module, query, key, value, mask) -> torch.Tensor:
    """PyTorch's nn.MultiheadAttention, in float64, holding the weights of ``ours``."""
    attn_mask = None  # PyTorch's bool masks are True where attending is NOT allowed
    if mask is not None:
        per_batch = mask.expand(query.shape[0], query.shape[1], key.shape[1])  # (B, T, S)
        attn_mask = ~per_batch.repeat_interleave(ours.n_heads, dim=0)  # (B * H, T, S)
    out, _ = torch_multihead_attention(ours).double()(
        query.double(), key.double(), value.double(), attn_mask=attn_mask, need_weights=False)
    return out


def _mha_mistakes(module: nn.Module, n_heads: int, query, key, value, mask) -> dict:
    """hint -> what multi-head attention computes with that mistake, in float64."""
    q, k, v = (nn.functional.linear(x.double(), getattr(module, name).weight.double(),
                                    getattr(module, name).bias.double())
               for name, x in zip(PROJECTIONS, (query, key, value)))
    batch, length, d_model = q.shape
    head_dim = d_model // n_heads

    def split(x):  # (B, L, D) -> (B, H, L, Dh)
        return x.view(batch, -1, n_heads, head_dim).transpose(1, 2)

    def merge(x):  # (B, H, T, Dh) -> (B, T, D)
        return x.transpose(1, 2).reshape(batch, length, d_model)

    def project(x):
        return nn.functional.linear(x, module.out_proj.weight.double(),
                                    module.out_proj.bias.double())

    heads_mask = None if mask is None else (mask.unsqueeze(1) if mask.dim() == 3 else mask)

    def attend(qh, kh, vh, scale=math.sqrt(head_dim), use_mask=heads_mask, axis=-1):
        scores = qh @ kh.transpose(-2, -1) / scale  # (B, H, T, S)
        if use_mask is not None:
            scores = scores.masked_fill(~use_mask, -math.inf)
        return scores.softmax(axis) @ vh

    qh, kh, vh = split(q), split(k), split(v)
    mistakes = {
        "scale the scores by 1/sqrt(Dh), the width of one head (d_model // n_heads), not by "
        "1/sqrt(d_model)": project(merge(attend(qh, kh, vh, scale=math.sqrt(d_model)))),
        "divide the scores by sqrt(Dh) before the softmax":
            project(merge(attend(qh, kh, vh, scale=1.0))),
        "the output projection out_proj is missing: apply it to the merged heads":
            merge(attend(qh, kh, vh)),
        "the heads mix up positions: view (B, L, D) as (B, L, H, Dh), then swap L and H "
        "(viewing it directly as (B, H, L, Dh) is the right shape with the wrong numbers)":
            project(merge(attend(*(x.reshape(batch, n_heads, -1, head_dim)
                                   for x in (q, k, v))))),
        "merging the heads: swap H and T back before reshaping (B, H, T, Dh) to (B, T, D)":
            project(attend(qh, kh, vh).reshape(batch, length, d_model)),
        "the softmax must run over the keys (the last axis), so that each query's weights "
        "sum to 1": project(merge(attend(qh, kh, vh, axis=-2))),
    }
    if mask is not None:
        mistakes["the mask is ignored: fill the scores with -inf where mask is False, before "
                 "the softmax"] = project(merge(attend(qh, kh, vh, use_mask=None)))
        mistakes["the mask is inverted: True means may attend, so fill the scores where the "
                 "mask is False (~mask)"] = project(merge(attend(qh, kh, vh, use_mask=~heads_mask)))
    return mistakes


@check("MultiHeadAttention module", seed=7)
@torch.random.fork_rng(devices=[])  # building the library's module draws random weights
def check_multi_head_attention(student_cls, generator):
    """``student_cls(d_model, n_heads)``: an nn.Module with ``q_proj``, ``k_proj``, ``v_proj``,
    ``out_proj`` (each ``nn.Linear(d_model, d_model)``) whose ``forward(query (B, T, D),
    key (B, S, D), value (B, S, D), mask=None)`` -> ``(B, T, D)`` equals PyTorch's
    ``nn.MultiheadAttention`` holding the same weights: self-attention, cross-attention (T != S),
    and bool masks, True where a query may attend: causal ``(T, T)``, padding ``(B, 1, S)`` and any
    ``(B, T, S)`` pattern."""
    pattern = torch.rand(3, 4, 6, generator=generator) < 0.5  # (B, T, S)
    pattern[..., 0] = True  # every query may attend to at least one key
    cases = [  # d_model, n_heads, B, T, S, mask, what
        (8, 2, 2, 5, 5, None, "self-attention"),
        (12, 3, 3, 4, 6, None, "cross-attention, T=4 and S=6"),
        (8, 1, 2, 4, 4, None, "one head"),
        (16, 4, 2, 6, 6, causal_mask(6), "a causal mask (T, T)"),
        (8, 2, 3, 3, 7, padding_mask(torch.tensor([7, 4, 2]), 7), "a padding mask (B, 1, S)"),
        (12, 4, 3, 4, 6, pattern, "a (B, T, S) mask"),
    ]
    for d_model, n_heads, batch, length, source, mask, what in cases:
        module, ours = _build(student_cls, d_model, n_heads, generator)
        query = torch.randn(batch, length, d_model, generator=generator)
        key = (query if source == length and mask is None and "cross" not in what
               else torch.randn(batch, source, d_model, generator=generator))
        value = key if key is query else torch.randn(batch, source, d_model, generator=generator)
        with torch.no_grad():
            try:
                got = call(module, query, key, value, mask=mask)
            except Failure as failure:
                if mask is not None and mask.dim() == 3 and "size of tensor" in str(failure):
                    raise Failure(f"with {what}: a (B, T, S) or (B, 1, S) mask needs a head "
                                  "axis to broadcast over the H heads: mask.unsqueeze(1) makes it "
                                  f"(B, 1, T, S) ({failure})") from None
                raise
            expected = _torch_mha(ours, query, key, value, mask)
            mistakes = _mha_mistakes(ours, n_heads, query, key, value, mask)
        shown = (f"{what} (d_model={d_model}, n_heads={n_heads}): your output differs from "
                 "nn.MultiheadAttention's with the same weights")
        diagnose([Case(got, expected, mistakes, shown if not isinstance(got, torch.Tensor)
                       or got.shape != expected.shape else "")])
        inputs = {"query": query, "key": key, "value": value}
        if mask is not None:
            inputs["mask"] = mask
        compare(got, expected, inputs, what=what)
