"""Checks for the exercises of chapter 9 (text generation).

The filters are compared with the ones inside ``decoding.sample_next_token`` (the same rules:
top-k keeps ties with the k-th logit, top-p keeps the token that crosses p); the tests check that
the references below draw exactly the tokens ``sample_next_token`` draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from transformer_lib.checks._core import CheckResult, Failure, call, compare, format_args, run

__all__ = [
    "check_lm_shift",
    "check_top_k_filter",
    "check_top_p_filter",
    "check_cached_attention_step",
    "check_perplexity",
]

NEG_INF = float("-inf")


def _tuple_of_two(got, what: str):
    if not isinstance(got, tuple) or len(got) != 2:
        raise Failure(f"expected a tuple ({what}), got {type(got).__name__}")
    return got


def check_lm_shift(student_fn: Callable[[torch.Tensor], tuple]) -> CheckResult:
    """``student_fn(windows (B, T + 1))`` -> ``(inputs (B, T), targets (B, T))``, shifted by one."""

    def body():
        generator = torch.Generator().manual_seed(9)
        for batch, length in [(1, 5), (3, 9), (4, 65)]:
            windows = torch.randint(0, 50, (batch, length), generator=generator)
            got = _tuple_of_two(call(student_fn, windows.clone()), "inputs, targets")
            inputs, targets = windows[:, :-1], windows[:, 1:]
            if all(isinstance(g, torch.Tensor) and g.shape == inputs.shape for g in got):
                if torch.equal(got[0], got[1]):
                    raise Failure("the targets equal the inputs: the model would learn to copy the "
                                  "token it reads; the target at t is the token at t + 1")
                if torch.equal(got[0], targets) and torch.equal(got[1], inputs):
                    raise Failure("shifted the wrong way: the targets must be the *next* tokens, "
                                  "windows[:, 1:], and the inputs windows[:, :-1]")
            on = {"windows": windows}
            compare(got[0], inputs, on)
            compare(got[1], targets, on)

    return run("inputs and targets of a language model", body)


def _top_k_reference(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, NEG_INF)


def _top_p_reference(logits: torch.Tensor, p: float) -> torch.Tensor:
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass of the tokens strictly more likely
    sorted_logits = sorted_logits.masked_fill(before >= p, NEG_INF)
    return torch.full_like(logits, NEG_INF).scatter(-1, order, sorted_logits)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal, with -inf at the same places."""
    return torch.equal(a.isinf(), b.isinf()) and torch.allclose(
        a.nan_to_num(neginf=0.0), b.nan_to_num(neginf=0.0), atol=1e-5)


def _compare_filtered(got, expected: torch.Tensor, inputs: dict, wrong: dict) -> None:
    """Compare with -inf where masked; name a known mistake when one matches."""
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        got = got.detach().cpu().float()
        for hint, answer in wrong.items():
            if not _same(answer, expected) and _same(got, answer):
                raise Failure(hint)
        if torch.equal(got.isinf(), expected.isinf()):
            compare(got.nan_to_num(neginf=-1e9), expected.nan_to_num(neginf=-1e9), inputs)
            return
        kept, expected_kept = (~got.isinf()).sum(-1).tolist(), (~expected.isinf()).sum(-1).tolist()
        raise Failure(f"wrong tokens kept for {format_args(inputs)}: "
                      f"expected {expected_kept} tokens per row, got {kept} "
                      f"(removed tokens get -inf)")
    compare(got, expected, inputs)


def _filter_cases(seed: int):
    generator = torch.Generator().manual_seed(seed)
    for batch, vocab, scale in [(1, 6, 1.0), (3, 20, 2.0), (4, 50, 0.5)]:
        yield torch.randn(batch, vocab, generator=generator) * scale


def check_top_k_filter(student_fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """``student_fn(logits (B, V), k)`` -> logits with all but the k largest per row set to -inf."""

    def body():
        for logits in _filter_cases(11):
            for k in (1, 3, logits.shape[-1]):
                got = call(student_fn, logits.clone(), k)
                expected = _top_k_reference(logits, k)
                smallest = -_top_k_reference(-logits, k)
                wrong = {
                    "you kept the k *smallest* logits; keep the k largest": smallest,
                    "removed tokens must get -inf, not 0: exp(0) = 1 still gives them a chance":
                        expected.nan_to_num(neginf=0.0),
                    "return filtered logits, not probabilities (the sampler applies the softmax)":
                        expected.softmax(-1),
                }
                wrong["you kept k - 1 tokens instead of k (use <, not <=, against the k-th)"] = (
                    _top_k_reference(logits, k - 1) if k > 1 else torch.full_like(logits, NEG_INF))
                if k < logits.shape[-1]:
                    wrong["you kept k + 1 tokens instead of k"] = _top_k_reference(logits, k + 1)
                _compare_filtered(got, expected, {"logits": logits, "k": k}, wrong)

    return run("top-k filter", body)


def check_top_p_filter(student_fn: Callable[[torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """``student_fn(logits (B, V), p)`` -> logits outside the top-p nucleus set to -inf."""

    def body():
        for logits in _filter_cases(12):
            for p in (0.3, 0.75, 0.95):
                got = call(student_fn, logits.clone(), p)
                expected = _top_p_reference(logits, p)
                probs = logits.softmax(-1)
                unsorted = logits.masked_fill(probs.cumsum(-1) - probs >= p, NEG_INF)
                sorted_probs, order = probs.sort(-1, descending=True)
                strict_sorted = logits.gather(-1, order).masked_fill(
                    sorted_probs.cumsum(-1) > p, NEG_INF)
                strict = torch.full_like(logits, NEG_INF).scatter(-1, order, strict_sorted)
                wrong = {
                    "sort the tokens by probability first: the nucleus holds the *most likely* "
                    "tokens, not the first ones in vocabulary order": unsorted,
                    "the token whose probability crosses p must be kept too: the kept mass must "
                    "reach p (a top token with probability > p is always kept)": strict,
                    "the values come back in sorted order: scatter them back to the vocabulary "
                    "order": logits.sort(-1, descending=True).values.where(
                        expected.gather(-1, order).isfinite(), NEG_INF),
                }
                _compare_filtered(got, expected, {"logits": logits, "p": p}, wrong)

    return run("top-p (nucleus) filter", body)


def check_cached_attention_step(student_fn: Callable) -> CheckResult:
    """``student_fn(q, k_new, v_new, past_k, past_v)`` -> ``(out, keys, values)``.

    q, k_new, v_new ``(B, H, 1, Dh)``: the newest position; past_k, past_v ``(B, H, S, Dh)``.
    Returns the attention output ``(B, H, 1, Dh)`` over all S + 1 positions and the grown cache
    ``(B, H, S + 1, Dh)``, the new position last.
    """

    def body():
        generator = torch.Generator().manual_seed(13)
        for batch, heads, past, dim in [(1, 1, 1, 4), (2, 4, 6, 8), (3, 2, 10, 16)]:
            new = [torch.randn(batch, heads, 1, dim, generator=generator) for _ in range(3)]
            q, k_new, v_new = new  # (B, H, 1, Dh) each
            past_k = torch.randn(batch, heads, past, dim, generator=generator)  # (B, H, S, Dh)
            past_v = torch.randn(batch, heads, past, dim, generator=generator)
            got = call(student_fn, q, k_new, v_new, past_k.clone(), past_v.clone())
            if not isinstance(got, tuple) or len(got) != 3:
                raise Failure(f"expected a tuple (out, keys, values), got {type(got).__name__}")
            keys, values = torch.cat([past_k, k_new], dim=2), torch.cat([past_v, v_new], dim=2)
            expected = F.scaled_dot_product_attention(q, keys, values)
            out = got[0]
            if isinstance(out, torch.Tensor) and out.shape == expected.shape:
                wrong = {
                    "the new position must attend to itself too: append its key and value to the "
                    "cache *before* attending": F.scaled_dot_product_attention(q, past_k, past_v),
                    "divide the scores by sqrt(Dh)":
                        (q @ keys.transpose(-2, -1)).softmax(-1) @ values,
                }
                for hint, answer in wrong.items():
                    if torch.allclose(out.detach().float(), answer, atol=1e-5):
                        raise Failure(hint)
            inputs = {"q": q, "past_k": past_k}
            compare(out, expected, inputs)
            for name, tensor, reference in (("keys", got[1], keys), ("values", got[2], values)):
                if isinstance(tensor, torch.Tensor) and tensor.shape == reference.shape:
                    if torch.equal(tensor[:, :, 0], reference[:, :, -1]) and past > 0:
                        raise Failure(f"the new {name[:-1]} goes at the end of the cache (position "
                                      f"S), after the past ones: use torch.cat([past, new], dim=2)")
                compare(tensor, reference, inputs)

    return run("one attention step with a key-value cache", body)


def check_perplexity(student_fn: Callable[[torch.Tensor, torch.Tensor], float]) -> CheckResult:
    """``student_fn(logits (B, T, V), targets (B, T))`` -> perplexity, a Python float."""

    def body():
        generator = torch.Generator().manual_seed(14)
        for batch, length, vocab in [(1, 4, 5), (2, 8, 30), (4, 16, 100)]:
            logits = torch.randn(batch, length, vocab, generator=generator) * 1.5
            targets = torch.randint(0, vocab, (batch, length), generator=generator)
            got = call(student_fn, logits.clone(), targets.clone())
            nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
            expected = math.exp(nll.mean().item())
            if not isinstance(got, float):
                raise Failure(f"expected a Python float, got {type(got).__name__} (use .item())")
            wrong = {
                "exponentiate the *mean* loss per token, not the sum": math.exp(nll.sum().item()),
                "perplexity is e ** loss with the loss in nats (natural log), not 2 ** loss":
                    2 ** nll.mean().item(),
                "that is the mean loss itself; perplexity is exp(loss)": nll.mean().item(),
                "average the loss first, then exponentiate (exp of the mean, not the mean of exp)":
                    nll.exp().mean().item(),
            }
            for hint, answer in wrong.items():
                if math.isclose(got, answer, rel_tol=1e-4):
                    raise Failure(hint)
            if not math.isclose(got, expected, rel_tol=1e-4):
                raise Failure(f"for logits of shape {tuple(logits.shape)} expected {expected:.4f}, "
                              f"got {got:.4f}")

    return run("perplexity", body)
