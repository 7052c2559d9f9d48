"""Chapter 9's exercise checks accept right answers and explain the typical wrong ones."""

import math

import torch

from transformer_lib import checks, decoding


def right_probs(logits, temperature, top_p):
    probs = (logits / temperature).softmax(-1)
    sorted_probs, order = probs.sort(-1, descending=True)
    keep = sorted_probs.cumsum(-1) - sorted_probs < top_p  # (B, V), sorted order
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs * keep)
    return kept / kept.sum(-1, keepdim=True)


def right_probs_loop(logits, temperature, top_p):
    """Another right answer, one row and one token at a time, in float64."""
    out = torch.zeros(logits.shape, dtype=torch.float64)
    for row in range(logits.shape[0]):
        probs = (logits[row].double() / temperature).softmax(-1)
        total = 0.0
        for index in probs.argsort(descending=True).tolist():
            out[row, index] = probs[index]
            total += probs[index].item()
            if total >= top_p:
                break
        out[row] /= out[row].sum()
    return out


def right_generate(model, ids, max_new_tokens, temperature=1.0, top_p=1.0, greedy=False,
                   generator=None):
    for _ in range(max_new_tokens):
        logits = model(ids[:, -model.cfg.max_len :])[:, -1]  # (B, V)
        if greedy:
            token = logits.argmax(-1, keepdim=True)
        else:
            token = torch.multinomial(right_probs(logits, temperature, top_p), 1,
                                      generator=generator)
        ids = torch.cat([ids, token], dim=1)
    return ids


def right_cached_step(q, k_new, v_new, past_k, past_v):
    keys, values = torch.cat([past_k, k_new], dim=2), torch.cat([past_v, v_new], dim=2)
    weights = (q @ keys.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
    return weights @ values, keys, values


def right_distinct(sequences, n):
    grams = [tuple(s[i : i + n]) for s in sequences for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams)


def with_generate(step):
    """right_generate with another choice of the next token's logits."""
    def generate(model, ids, max_new_tokens, temperature=1.0, top_p=1.0, greedy=False,
                 generator=None):
        for _ in range(max_new_tokens):
            logits = step(model, ids)
            if greedy:
                token = logits.argmax(-1, keepdim=True)
            else:
                token = torch.multinomial(right_probs(logits, temperature, top_p), 1,
                                          generator=generator)
            ids = torch.cat([ids, token], dim=1)
        return ids
    return generate


def softmax_then_temperature(logits, temperature, top_p):
    probs = right_probs(logits, 1.0, top_p) / temperature  # the temperature after the softmax
    return probs / probs.sum(-1, keepdim=True)


def drop_crossing(logits, temperature, top_p):
    probs = (logits / temperature).softmax(-1)
    sorted_probs, order = probs.sort(-1, descending=True)
    keep = sorted_probs.cumsum(-1) <= top_p
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs * keep)
    return kept / kept.sum(-1, keepdim=True)


def not_renormalised(logits, temperature, top_p):
    probs = (logits / temperature).softmax(-1)
    return right_probs(logits, temperature, top_p).where(
        right_probs(logits, temperature, top_p) > 0, 0.0).gt(0) * probs


def no_crop_generate(model, ids, max_new_tokens, temperature=1.0, top_p=1.0, greedy=False,
                     generator=None):
    for _ in range(max_new_tokens):
        logits = model(ids)[:, -1]
        token = (logits.argmax(-1, keepdim=True) if greedy else torch.multinomial(
            right_probs(logits, temperature, top_p), 1, generator=generator))
        ids = torch.cat([ids, token], dim=1)
    return ids


RIGHT = [
    (checks.check_next_token_probs, right_probs),
    (checks.check_next_token_probs, right_probs_loop),
    (checks.check_generate_loop, right_generate),
    (checks.check_cached_attention_step, right_cached_step),
    (checks.check_cached_attention_step, lambda *a: right_cached_step(*(x.double() for x in a))),
    (checks.check_distinct_n, right_distinct),
    (checks.check_distinct_n, lambda s, n: torch.tensor(right_distinct(s, n))),
]

WRONG = [
    (checks.check_next_token_probs, softmax_then_temperature, "before the softmax"),
    (checks.check_next_token_probs, drop_crossing, "crosses top_p must be kept"),
    (checks.check_next_token_probs, not_renormalised, "renormalise"),
    (checks.check_next_token_probs,
     lambda lo, t, p: right_probs(lo, t, p).sort(-1, descending=True).values, "sorted order"),
    (checks.check_next_token_probs, lambda lo, t, p: decoding.top_p_filter(lo / t, p),
     "not logits"),
    (checks.check_next_token_probs,
     lambda lo, t, p: right_probs(lo, 1.0, p).pow(1 / t) / right_probs(lo, 1.0, p).pow(
         1 / t).sum(-1, keepdim=True) * 0.5, "wrong values"),
    (checks.check_generate_loop, no_crop_generate, "ids[:, -model.cfg.max_len:]"),
    (checks.check_generate_loop,
     with_generate(lambda m, x: m(x[:, -m.cfg.max_len :])[:, 0]), "logits[:, -1]"),
    (checks.check_generate_loop,
     with_generate(lambda m, x: m(x[:, : m.cfg.max_len])[:, -1]), "not the first ones"),
    (checks.check_generate_loop,
     lambda m, x, n, t=1.0, p=1.0, g=False, gen=None: right_generate(m, x, n, t, p, g, gen)[
         :, x.shape[1] :], "not only the new ones"),
    (checks.check_generate_loop,
     lambda m, x, n, t=1.0, p=1.0, g=False, gen=None: right_generate(m, x, n, 1.0, 1.0, g, gen),
     "use the temperature and top_p"),
    (checks.check_cached_attention_step,
     lambda q, k, v, pk, pv: (torch.nn.functional.scaled_dot_product_attention(q, pk, pv),
                              *right_cached_step(q, k, v, pk, pv)[1:]), "attend to itself"),
    (checks.check_cached_attention_step,
     lambda q, k, v, pk, pv: (right_cached_step(q, k, v, pk, pv)[0], torch.cat([k, pk], 2),
                              torch.cat([v, pv], 2)), "goes at the end"),
    (checks.check_cached_attention_step,
     lambda q, k, v, pk, pv: right_cached_step(q * math.sqrt(q.shape[-1]), k, v, pk, pv),
     "sqrt(Dh)"),
    (checks.check_cached_attention_step, lambda *a: right_cached_step(*a)[0], "expected a tuple"),
    (checks.check_distinct_n, lambda s, n: 1 - right_distinct(s, n), "share of repeated"),
    (checks.check_distinct_n,
     lambda s, n: sum(right_distinct([x], n) for x in s if len(x) >= n) / len(
         [x for x in s if len(x) >= n]), "pool the n-grams"),
    (checks.check_distinct_n, lambda s, n: right_distinct([[i for x in s for i in x]], n),
     "run across two sequences"),
    (checks.check_distinct_n,
     lambda s, n: (lambda g: len(set(g)) / len(g))(
         [tuple(x[i : i + n]) for x in s for i in range(len(x) - n)]), "L - n + 1"),
]


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_next_token_probs(right_probs)
    checks.check_generate_loop(right_generate)
    torch.testing.assert_close(torch.rand(3), expected)
