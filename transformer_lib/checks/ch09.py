"""Checks for the exercises of chapter 9 (text generation)."""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from transformer_lib.checks._compare import (Case, compare, diagnose, format_args, matches,
                                             python_number, unpack)
from transformer_lib.checks._core import Failure, call, check
from transformer_lib.decoding import top_k_filter, top_p_filter

NEG_INF = float("-inf")


@check("inputs and targets of a language model", seed=9)
def check_lm_shift(student_fn: Callable[[torch.Tensor], tuple], generator):
    """``student_fn(windows (B, T + 1))`` -> ``(inputs (B, T), targets (B, T))``, shifted by one."""
    for batch, length in [(1, 5), (3, 9), (4, 65)]:
        windows = torch.randint(0, 50, (batch, length), generator=generator)
        got = unpack(call(student_fn, windows), "inputs, targets")
        inputs, targets = windows[:, :-1], windows[:, 1:]
        if isinstance(got[0], torch.Tensor) and matches(got[1], got[0]):
            raise Failure("the targets equal the inputs: the model would learn to copy the "
                          "token it reads; the target at t is the token at t + 1")
        if matches(got, (targets, inputs)):
            raise Failure("shifted the wrong way: the targets must be the *next* tokens, "
                          "windows[:, 1:], and the inputs windows[:, :-1]")
        compare(got[0], inputs, {"windows": windows}, what="inputs")
        compare(got[1], targets, {"windows": windows}, what="targets")


def _compare_filtered(got, expected: torch.Tensor, inputs: dict, mistakes: dict) -> None:
    """Compare with -inf where masked; name a known mistake when one matches."""
    diagnose([Case(got, expected, mistakes)])
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        got = got.detach().cpu().double()
        if not torch.equal(got.isinf(), expected.isinf()):
            if torch.equal(got.isinf() | (got < -1e4), expected.isinf()):
                raise Failure("removed tokens must get -inf (float('-inf')), as the exercise asks, "
                              "not a large finite number such as -1e9")
            kept, expected_kept = (~got.isinf()).sum(-1).tolist(), (~expected.isinf()).sum(-1)
            raise Failure(f"wrong tokens kept for {format_args(inputs)}: expected "
                          f"{expected_kept.tolist()} tokens per row, got {kept} "
                          f"(removed tokens get -inf)")
        got, expected = got.nan_to_num(neginf=-1e9), expected.nan_to_num(neginf=-1e9)
    compare(got, expected, inputs)


def _filter_cases(seed: int):
    """Logits and their float64 copies."""
    generator = torch.Generator().manual_seed(seed)
    for batch, vocab, scale in [(1, 6, 1.0), (3, 20, 2.0), (4, 50, 0.5)]:
        logits = torch.randn(batch, vocab, generator=generator) * scale
        yield logits, logits.double()


@check("top-k filter")
def check_top_k_filter(student_fn: Callable[[torch.Tensor, int], torch.Tensor]):
    """``student_fn(logits (B, V), k)`` -> logits with all but the k largest per row set to -inf,
    ties with the k-th kept (as ``decoding.top_k_filter``)."""
    for given, logits in _filter_cases(11):
        for k in (1, 3, logits.shape[-1]):
            got = call(student_fn, given, k)
            expected = top_k_filter(logits, k)
            mistakes = {
                "you kept the k *smallest* logits; keep the k largest": -top_k_filter(-logits, k),
                "removed tokens must get -inf, not 0: exp(0) = 1 still gives them a chance":
                    expected.nan_to_num(neginf=0.0),
                "return filtered logits, not probabilities (the sampler applies the softmax)":
                    expected.softmax(-1),
                "you kept k - 1 tokens instead of k (use <, not <=, against the k-th)":
                    top_k_filter(logits, k - 1) if k > 1 else torch.full_like(logits, NEG_INF),
            }
            if k < logits.shape[-1]:
                mistakes["you kept k + 1 tokens instead of k"] = top_k_filter(logits, k + 1)
            _compare_filtered(got, expected, {"logits": given, "k": k}, mistakes)


@check("top-p (nucleus) filter")
def check_top_p_filter(student_fn: Callable[[torch.Tensor, float], torch.Tensor]):
    """``student_fn(logits (B, V), p)`` -> logits outside the top-p nucleus set to -inf, the token
    that crosses p kept (as ``decoding.top_p_filter``)."""
    for given, logits in _filter_cases(12):
        for p in (0.3, 0.75, 0.95):
            got = call(student_fn, given, p)
            expected = top_p_filter(logits, p)
            probs = logits.softmax(-1)
            sorted_probs, order = probs.sort(-1, descending=True)
            strict_sorted = logits.gather(-1, order).masked_fill(
                sorted_probs.cumsum(-1) > p, NEG_INF)
            mistakes = {
                "sort the tokens by probability first: the nucleus holds the *most likely* "
                "tokens, not the first ones in vocabulary order":
                    logits.masked_fill(probs.cumsum(-1) - probs >= p, NEG_INF),
                "the token whose probability crosses p must be kept too: the kept mass must "
                "reach p (a top token with probability > p is always kept)":
                    torch.full_like(logits, NEG_INF).scatter(-1, order, strict_sorted),
                "the values come back in sorted order: scatter them back to the vocabulary "
                "order": logits.sort(-1, descending=True).values.where(
                    expected.gather(-1, order).isfinite(), NEG_INF),
            }
            _compare_filtered(got, expected, {"logits": given, "p": p}, mistakes)


@check("one attention step with a key-value cache", seed=13)
def check_cached_attention_step(student_fn: Callable, generator):
    """``student_fn(q, k_new, v_new (B, H, 1, Dh), past_k, past_v (B, H, S, Dh))`` -> ``(out (B,
    H, 1, Dh), keys, values (B, H, S + 1, Dh))``: attention over all positions, the cache grown."""
    for batch, heads, past, dim in [(1, 1, 1, 4), (2, 4, 6, 8), (3, 2, 10, 16)]:
        q, k_new, v_new = (torch.randn(batch, heads, 1, dim, generator=generator)
                           for _ in range(3))  # (B, H, 1, Dh) each
        past_k = torch.randn(batch, heads, past, dim, generator=generator)  # (B, H, S, Dh)
        past_v = torch.randn(batch, heads, past, dim, generator=generator)
        got = call(student_fn, q, k_new, v_new, past_k, past_v)
        out, got_keys, got_values = unpack(got, "out, keys, values")
        inputs = {"q": q, "past_k": past_k}
        q, k_new, v_new, past_k, past_v = (x.double() for x in (q, k_new, v_new, past_k, past_v))
        keys, values = torch.cat([past_k, k_new], dim=2), torch.cat([past_v, v_new], dim=2)
        attend = F.scaled_dot_product_attention  # on the float64 copies
        compare(out, attend(q, keys, values), inputs, mistakes={
            "the new position must attend to itself too: append its key and value to the "
            "cache *before* attending": attend(q, past_k, past_v),
            "divide the scores by sqrt(Dh)": attend(q, keys, values, scale=1.0),
        })
        for name, tensor, new, old in (("keys", got_keys, k_new, past_k),
                                       ("values", got_values, v_new, past_v)):
            compare(tensor, torch.cat([old, new], dim=2), inputs, what=name, mistakes={
                f"the new {name[:-1]} goes at the end of the cache (position S), after the past "
                "ones: use torch.cat([past, new], dim=2)": torch.cat([new, old], dim=2),
            })


@check("perplexity", seed=14)
def check_perplexity(student_fn: Callable[[torch.Tensor, torch.Tensor], float], generator):
    """``student_fn(logits (B, T, V), targets (B, T))`` -> perplexity, a Python float."""
    for batch, length, vocab in [(1, 4, 5), (2, 8, 30), (4, 16, 100)]:
        logits = torch.randn(batch, length, vocab, generator=generator) * 1.5
        targets = torch.randint(0, vocab, (batch, length), generator=generator)
        inputs = f"logits of shape {tuple(logits.shape)}"
        got = python_number(call(student_fn, logits, targets), inputs)
        nll = F.cross_entropy(logits.flatten(0, 1).double(), targets.flatten(), reduction="none")
        expected = math.exp(nll.mean().item())
        mistakes = {
            "exponentiate the *mean* loss per token, not the sum": math.exp(nll.sum().item()),
            "perplexity is e ** loss with the loss in nats (natural log), not 2 ** loss":
                2 ** nll.mean().item(),
            "that is the mean loss itself; perplexity is exp(loss)": nll.mean().item(),
            "average the loss first, then exponentiate (exp of the mean, not the mean of exp)":
                nll.exp().mean().item(),
        }
        shown = f"for {inputs} expected {expected:.4f}, got {got:.4f}"
        diagnose([Case(got, expected, mistakes, shown)], atol=0, rtol=1e-4)
