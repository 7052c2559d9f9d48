"""Chapter 9's exercise checks accept right answers and explain the typical wrong ones."""

import math

import torch
import torch.nn.functional as F

from transformer_lib import checks, decoding


def right_shift(windows):
    return windows[:, :-1], windows[:, 1:]


def right_top_k(logits, k):
    values, _ = logits.topk(k, dim=-1)
    return logits.masked_fill(logits < values[:, -1:], float("-inf"))


def right_top_p(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    remove = probs.cumsum(-1) - probs >= p
    return logits.scatter(-1, order, sorted_logits.masked_fill(remove, float("-inf")))


def right_top_p_loop(logits, p):
    """Another right answer, one row and one token at a time."""
    out = torch.full_like(logits, float("-inf"))
    for row in range(logits.shape[0]):
        total = 0.0
        probs = logits[row].softmax(-1)
        for index in probs.argsort(descending=True).tolist():
            out[row, index] = logits[row, index]
            total += probs[index].item()
            if total >= p:
                break
    return out


def right_cached_step(q, k_new, v_new, past_k, past_v):
    keys, values = torch.cat([past_k, k_new], dim=2), torch.cat([past_v, v_new], dim=2)
    weights = (q @ keys.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
    return weights @ values, keys, values


def right_perplexity(logits, targets):
    return math.exp(F.cross_entropy(logits.flatten(0, 1), targets.flatten()).item())


def no_append(q, k_new, v_new, past_k, past_v):
    out, keys, values = right_cached_step(q, k_new, v_new, past_k, past_v)
    return F.scaled_dot_product_attention(q, past_k, past_v), keys, values


def new_first(q, k_new, v_new, past_k, past_v):
    out, _, _ = right_cached_step(q, k_new, v_new, past_k, past_v)
    return out, torch.cat([k_new, past_k], dim=2), torch.cat([v_new, past_v], dim=2)


def unscaled(q, k_new, v_new, past_k, past_v):
    keys, values = torch.cat([past_k, k_new], dim=2), torch.cat([past_v, v_new], dim=2)
    return (q @ keys.transpose(-2, -1)).softmax(-1) @ values, keys, values


def nll(logits, targets):
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")


RIGHT = [
    (checks.check_lm_shift, right_shift),
    (checks.check_top_k_filter, right_top_k),
    (checks.check_top_k_filter, lambda lo, k: right_top_k(lo.double(), k)),
    (checks.check_top_p_filter, right_top_p),
    (checks.check_top_p_filter, right_top_p_loop),
    (checks.check_top_p_filter, lambda lo, p: right_top_p(lo.double(), p)),
    (checks.check_cached_attention_step, right_cached_step),
    (checks.check_cached_attention_step, lambda *a: right_cached_step(*(x.double() for x in a))),
    (checks.check_perplexity, right_perplexity),
    (checks.check_perplexity, lambda lo, t: right_perplexity(lo.double(), t)),
]

WRONG = [
    (checks.check_top_k_filter,
     lambda lo, k: decoding.top_k_filter(lo, min(k + 1, lo.shape[-1])), "k + 1 tokens"),
    (checks.check_lm_shift, lambda w: (w[:, :-1], w[:, :-1]), "targets equal the inputs"),
    (checks.check_lm_shift, lambda w: (w[:, 1:], w[:, :-1]), "wrong way"),
    (checks.check_lm_shift, lambda w: (w, w[:, 1:]), "wrong shape"),
    (checks.check_lm_shift, lambda w: w[:, 1:], "expected a tuple"),
    (checks.check_top_k_filter, lambda x, k: -right_top_k(-x, k), "smallest"),
    (checks.check_top_k_filter,
     lambda x, k: right_top_k(x, k).nan_to_num(neginf=0.0), "not 0"),
    (checks.check_top_k_filter, lambda x, k: right_top_k(x, k).softmax(-1), "not probabilities"),
    (checks.check_top_k_filter,
     lambda x, k: x.masked_fill(x <= x.topk(k, -1).values[:, -1:], float("-inf")), "k - 1"),
    (checks.check_top_k_filter, lambda x, k: x, "wrong tokens kept"),
    (checks.check_top_k_filter, lambda x, k: right_top_k(x, k).nan_to_num(neginf=-1e9),
     "must get -inf (float('-inf')), as the exercise asks, not a large finite number"),
    (checks.check_top_p_filter, lambda x, p: right_top_p(x, p).clamp(min=-1e9),
     "not a large finite"),
    (checks.check_top_p_filter,
     lambda x, p: x.masked_fill(x.softmax(-1).cumsum(-1) - x.softmax(-1) >= p, float("-inf")),
     "sort the tokens"),
    (checks.check_top_p_filter,
     lambda x, p: right_top_p(x, 0.999).where(
         x.sort(-1, descending=True)[0].softmax(-1).cumsum(-1).gather(
             -1, x.argsort(-1, descending=True).argsort(-1)) <= p, float("-inf")),
     "crosses p"),
    (checks.check_top_p_filter,
     lambda x, p: x.sort(-1, descending=True).values.masked_fill(
         x.sort(-1, descending=True).values.softmax(-1).cumsum(-1)
         - x.sort(-1, descending=True).values.softmax(-1) >= p, float("-inf")), "sorted order"),
    (checks.check_top_p_filter, lambda x, p: right_top_k(x, 2), "wrong tokens kept"),
    (checks.check_cached_attention_step, no_append, "attend to itself"),
    (checks.check_cached_attention_step, new_first, "goes at the end"),
    (checks.check_cached_attention_step, unscaled, "sqrt(Dh)"),
    (checks.check_cached_attention_step, lambda *a: right_cached_step(*a)[0], "expected a tuple"),
    (checks.check_perplexity, lambda x, y: math.exp(nll(x, y).sum().item()), "not the sum"),
    (checks.check_perplexity, lambda x, y: 2 ** nll(x, y).mean().item(), "not 2 ** loss"),
    (checks.check_perplexity, lambda x, y: nll(x, y).mean().item(), "the mean loss itself"),
    (checks.check_perplexity, lambda x, y: nll(x, y).exp().mean().item(), "exp of the mean"),
    (checks.check_perplexity, lambda x, y: nll(x, y).mean().exp(), "use .item()"),
]


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_top_p_filter(right_top_p)
    checks.check_cached_attention_step(right_cached_step)
    torch.testing.assert_close(torch.rand(3), expected)
