"""Checks for the exercises of chapter 9 (text generation): the next-token distribution, the
generation loop, one cached attention step and a diversity measure."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from transformer_lib.checks._compare import (Case, compare, diagnose, format_args, python_number,
                                             unpack)
from transformer_lib.checks._core import Failure, call, check, describe
from transformer_lib.config import TransformerConfig
from transformer_lib.decoding import generate, top_p_filter
from transformer_lib.models import DecoderOnlyLM

NEG_INF = float("-inf")


def _nucleus(probs: torch.Tensor, p: float, keep_crossing: bool = True) -> torch.Tensor:
    """(B, V) probabilities -> bool (B, V): inside the top-p nucleus (with the crossing token)."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(-1) - (sorted_probs if keep_crossing else 0)
    keep = before < p if keep_crossing else before <= p
    return torch.zeros_like(keep).scatter(-1, order, keep)


def _renormalised(probs: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    kept = probs * keep
    return kept / kept.sum(-1, keepdim=True)


@check("the next-token distribution", seed=9)
def check_next_token_probs(student_fn: Callable, generator):
    """``student_fn(logits (B, V), temperature, top_p)`` -> probabilities ``(B, V)``:
    ``softmax(logits / temperature)`` cut to the top-p nucleus and renormalised, as
    ``decoding.sample_next_token`` draws from."""
    for batch, vocab, temperature, p in [(3, 30, 2.0, 0.9), (4, 50, 0.7, 0.6), (2, 40, 1.3, 0.3),
                                         (1, 6, 1.0, 1.0), (2, 12, 0.5, 1.0)]:
        logits = torch.randn(batch, vocab, generator=generator) * 2
        got = call(student_fn, logits, temperature, p)
        x = logits.double()
        tempered = (x / temperature).softmax(-1)
        expected = top_p_filter(x / temperature, p).softmax(-1) if p < 1 else tempered
        plain = x.softmax(-1)
        mistakes = {
            "the temperature divides the logits, before the softmax: dividing the probabilities "
            "and renormalising changes nothing": _renormalised(plain, _nucleus(plain, p)),
            "divide the logits by the temperature, not the probabilities":
                (plain / temperature) * _nucleus(plain, p),
            "the token whose probability crosses top_p must be kept too: keep a token while the "
            "mass of the tokens *before* it is below top_p":
                _renormalised(tempered, _nucleus(tempered, p, keep_crossing=False)),
            "renormalise: divide what is kept by its sum, so the probabilities add up to 1":
                tempered * _nucleus(tempered, p),
            "apply the temperature first, then cut the nucleus of the tempered distribution "
            "(as decoding.sample_next_token does)":
                _renormalised(tempered, _nucleus(plain, p)),
            "return probabilities (the softmax of the tempered logits), not logits":
                top_p_filter(x / temperature, p) if p < 1 else x / temperature,
            "the probabilities come back in sorted order: put them back at their tokens' ids "
            "(scatter)": expected.sort(-1, descending=True).values,
        }
        inputs = {"logits": logits, "temperature": temperature, "top_p": p}
        diagnose([Case(got, expected, mistakes)], atol=1e-6, rtol=1e-4)
        compare(got, expected, inputs, atol=1e-6)


def _tiny_lm(seed: int) -> DecoderOnlyLM:
    """A seeded 1-layer DecoderOnlyLM over 16 tokens with max_len 8, in eval mode."""
    with torch.random.fork_rng(devices=[]):  # the learner's random stream stays as it was
        torch.manual_seed(seed)
        cfg = TransformerConfig(vocab_size=16, d_model=16, n_heads=2, d_ff=32, n_layers=1,
                                dropout=0.0, max_len=8, norm_first=True, positional="learned",
                                pad_id=None)
        return DecoderOnlyLM(cfg).eval()


@check("the generation loop")
def check_generate_loop(student_fn: Callable):
    """``student_fn(model, ids (B, T), max_new_tokens, temperature, top_p, greedy, generator)``
    -> ``(B, T + max_new_tokens)`` ids, the same draws as ``decoding.generate`` with the same
    seeded generator; the context cropped to the last ``model.cfg.max_len`` tokens."""
    model = _tiny_lm(0)
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])  # (B, T)
    settings = [dict(greedy=True), dict(temperature=0.8), dict(temperature=1.5, top_p=0.8),
                dict(temperature=1.0, top_p=0.5)]
    for n in (4, 12):  # 3 + 4 fits in max_len = 8; 3 + 12 does not: the context must be cropped
        for options in settings:
            full = {"temperature": 1.0, "top_p": 1.0, "greedy": False, **options}
            shown = f"a prompt of shape (2, 3), max_new_tokens={n}, {options}"
            try:
                got = call(student_fn, model, prompt, n, full["temperature"], full["top_p"],
                           full["greedy"], torch.Generator().manual_seed(n))
            except Failure as failure:
                if n > 4:
                    raise Failure(f"{shown}: {failure}. The model has positions for "
                                  f"model.cfg.max_len = 8 tokens: feed it only the last ones, "
                                  f"ids[:, -model.cfg.max_len:]") from None
                raise
            library = {**options, "top_p": options.get("top_p")}
            expected = generate(model, prompt, n, generator=torch.Generator().manual_seed(n),
                                **library)
            if not isinstance(got, torch.Tensor):
                raise Failure(f"{shown}: expected a tensor of token ids of shape (2, {3 + n}), "
                              f"got {describe(got)}")
            if got.shape == (2, n):
                raise Failure(f"{shown}: return the prompt followed by the new tokens, "
                              f"shape (B, T + max_new_tokens) = (2, {3 + n}), not only the new "
                              f"ones")
            no_temperature = {**library, "temperature": 1.0}
            mistakes = {
                "read the logits of the last position, logits[:, -1]: it predicts the next token":
                    _first_position(model, prompt, n, options),
                "use the temperature and top_p you are given":
                    generate(model, prompt, n, generator=torch.Generator().manual_seed(n),
                             **no_temperature) if not options.get("greedy") else expected,
            }
            if n > 4:
                mistakes["crop the context to the model's last cfg.max_len tokens, "
                         "ids[:, -model.cfg.max_len:] (not the first ones)"] = _first_window(
                    model, prompt, n, options)
            diagnose([Case(got, expected, mistakes, shown)], atol=0, rtol=0)
            compare(got, expected, {"ids": prompt, "max_new_tokens": n}, atol=0, rtol=0,
                    what=f"{options}: the ids (draw with torch.multinomial(probs, 1, "
                         f"generator=generator), one call per step, to match the library)")


def _loop(model, ids, n, options, window):
    """decoding.generate with another choice of the context ``window(ids)``."""
    generator = torch.Generator().manual_seed(n)
    for _ in range(n):
        logits = window(model, ids)  # (B, V)
        if options.get("greedy"):
            token = logits.argmax(-1)
        else:
            tempered = logits / options.get("temperature", 1.0)
            if options.get("top_p") is not None:
                tempered = top_p_filter(tempered, options["top_p"])
            token = torch.multinomial(tempered.softmax(-1), 1, generator=generator)[:, 0]
        ids = torch.cat([ids, token[:, None]], dim=1)
    return ids


@torch.no_grad()
def _first_position(model, ids, n, options):
    return _loop(model, ids, n, options, lambda m, x: m(x[:, -m.cfg.max_len:])[:, 0])


@torch.no_grad()
def _first_window(model, ids, n, options):
    return _loop(model, ids, n, options, lambda m, x: m(x[:, : m.cfg.max_len])[:, -1])


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
            "the softmax runs over the keys, the last dimension of the scores (dim=-1)":
                (q @ keys.transpose(-2, -1) / dim**0.5).softmax(dim=-2) @ values,
        })
        for name, tensor, new, old in (("keys", got_keys, k_new, past_k),
                                       ("values", got_values, v_new, past_v)):
            compare(tensor, torch.cat([old, new], dim=2), inputs, what=name, mistakes={
                f"the new {name[:-1]} goes at the end of the cache (position S), after the past "
                "ones: use torch.cat([past, new], dim=2)": torch.cat([new, old], dim=2),
            })


def _grams(sequence: list, n: int) -> list[tuple]:
    return [tuple(sequence[i : i + n]) for i in range(len(sequence) - n + 1)]


@check("distinct n-grams")
def check_distinct_n(student_fn: Callable):
    """``student_fn(sequences, n)`` -> the number of different n-grams over the number of
    n-grams, pooled over all sequences (a list of lists of ids), n-grams within a sequence."""
    cases = [([[1, 2, 3, 1, 2, 3, 1, 2]], 2), ([[5, 5, 5, 5], [5, 5, 6, 7, 5]], 2),
             ([[1, 2, 3, 4, 1, 2, 3, 4, 1], [2, 3, 4, 9], [7, 7]], 3), ([[4, 4, 4, 4, 4]], 1),
             ([[1, 2], [2, 1], [1, 2, 1, 2]], 2)]
    for sequences, n in cases:
        got = python_number(call(student_fn, [list(s) for s in sequences], n),
                            format_args({"sequences": sequences, "n": n}), (int, float),
                            item=True)
        grams = [g for s in sequences for g in _grams(s, n)]
        expected = len(set(grams)) / len(grams)
        joined = _grams([i for s in sequences for i in s], n)
        short = [tuple(s[i : i + n]) for s in sequences for i in range(len(s) - n)]
        per_sequence = [len(set(_grams(s, n))) / len(_grams(s, n)) for s in sequences
                        if len(s) >= n]
        mistakes = {
            "that is the share of repeated n-grams, 1 - distinct-n": 1 - expected,
            "pool the n-grams of all sequences, then divide once (not the mean of per-sequence "
            "shares)": sum(per_sequence) / len(per_sequence),
            "an n-gram must not run across two sequences: cut each sequence separately":
                len(set(joined)) / len(joined),
            "a sequence of length L has L - n + 1 n-grams: range(len(s) - n + 1)":
                len(set(short)) / max(len(short), 1),
        }
        shown = f"for sequences={sequences}, n={n} expected {expected:.4f}, got {got:.4f}"
        diagnose([Case(float(got), expected, mistakes, shown)], atol=1e-7, rtol=1e-6)
