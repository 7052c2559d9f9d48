"""Property tests: the shape-generic functions hold their contracts over random sizes
(hypothesis)."""

import math

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import transformer_lib as tl
from transformer_lib import losses, training

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
sizes = st.integers(min_value=1, max_value=9)
seeds = st.integers(min_value=0, max_value=2**16)


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@SETTINGS
@given(batch=sizes, heads=st.integers(1, 4), t=sizes, s=sizes, d_k=sizes, d_v=sizes, seed=seeds)
def test_attention_equals_pytorch_for_any_shape(batch, heads, t, s, d_k, d_v, seed):
    q, k, v = randn(batch, heads, t, d_k, seed=seed), randn(batch, heads, s, d_k, seed=seed + 1), \
        randn(batch, heads, s, d_v, seed=seed + 2)
    out, weights = tl.scaled_dot_product_attention(q, k, v)
    assert out.shape == (batch, heads, t, d_v) and weights.shape == (batch, heads, t, s)
    torch.testing.assert_close(weights.sum(-1), torch.ones(batch, heads, t))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-4)


@SETTINGS
@given(batch=sizes, t=sizes, seed=seeds)
def test_masked_attention_never_looks_at_blocked_keys(batch, t, seed):
    q, k, v = randn(batch, t, 4, seed=seed), randn(batch, t, 4, seed=seed + 1), \
        randn(batch, t, 3, seed=seed + 2)
    mask = tl.causal_mask(t)
    out, weights = tl.scaled_dot_product_attention(q, k, v, mask)
    assert (weights[..., ~mask] == 0).all()
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
                               atol=1e-5, rtol=1e-4)


@SETTINGS
@given(size=st.integers(1, 40))
def test_causal_mask_is_lower_triangular(size):
    mask = tl.causal_mask(size)
    assert mask.dtype == torch.bool and mask.shape == (size, size)
    assert torch.equal(mask, torch.ones(size, size, dtype=torch.bool).tril())


@SETTINGS
@given(lengths=st.lists(st.integers(1, 12), min_size=1, max_size=8), extra=st.integers(0, 5))
def test_padding_mask_counts_the_real_tokens(lengths, extra):
    max_len = max(lengths) + extra
    mask = tl.padding_mask(torch.tensor(lengths), max_len)
    assert mask.shape == (len(lengths), 1, max_len)
    assert mask.sum(-1).squeeze(1).tolist() == lengths
    assert all(mask[b, 0, :n].all() and not mask[b, 0, n:].any() for b, n in enumerate(lengths))


@SETTINGS
@given(shape=st.lists(sizes, min_size=1, max_size=3), d=st.integers(2, 33), seed=seeds,
       eps=st.sampled_from([1e-5, 1e-6, 1e-12]))
def test_layer_norm_equals_pytorch_for_any_shape(shape, d, seed, eps):
    x = randn(*shape, d, seed=seed) * 3 + 1
    ours = tl.LayerNorm(d, eps=eps)
    with torch.no_grad():
        ours.weight.copy_(randn(d, seed=seed + 1))
        ours.bias.copy_(randn(d, seed=seed + 2))
    theirs = torch.nn.LayerNorm(d, eps=eps)
    theirs.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-4)


@SETTINGS
@given(n=st.integers(1, 200), half=st.integers(1, 64))
def test_sinusoidal_encoding_is_bounded_and_starts_at_sin0_cos0(n, half):
    pe = tl.sinusoidal_positional_encoding(n, 2 * half)
    assert pe.shape == (n, 2 * half) and pe.abs().max() <= 1.0
    torch.testing.assert_close(pe[0, 0::2], torch.zeros(half))
    torch.testing.assert_close(pe[0, 1::2], torch.ones(half))
    torch.testing.assert_close(pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2, torch.ones(n, half))


@SETTINGS
@given(pos=st.integers(0, 50), offset=st.integers(0, 50), half=st.integers(1, 16))
def test_a_shift_of_positions_is_a_rotation(pos, offset, half):
    d = 2 * half
    pe = tl.sinusoidal_positional_encoding(pos + offset + 1, d).double()
    angles = offset / 10000 ** (torch.arange(half, dtype=torch.float64) * 2 / d)
    sin, cos = pe[pos, 0::2], pe[pos, 1::2]
    shifted_sin = sin * angles.cos() + cos * angles.sin()
    shifted_cos = cos * angles.cos() - sin * angles.sin()
    torch.testing.assert_close(shifted_sin, pe[pos + offset, 0::2], atol=1e-5, rtol=0)
    torch.testing.assert_close(shifted_cos, pe[pos + offset, 1::2], atol=1e-5, rtol=0)


@SETTINGS
@given(n=st.integers(1, 30), v=st.integers(2, 20), eps=st.floats(0.0, 0.9), seed=seeds)
def test_label_smoothing_equals_pytorch_for_any_size(n, v, eps, seed):
    logits = randn(n, v, seed=seed)
    targets = torch.randint(0, v, (n,), generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(losses.label_smoothed_cross_entropy(logits, targets, eps),
                               F.cross_entropy(logits, targets, label_smoothing=eps))


@SETTINGS
@given(d_model=st.integers(1, 1024), warmup=st.integers(1, 5000), step=st.integers(1, 10**5))
def test_noam_schedule_never_exceeds_its_peak(d_model, warmup, step):
    peak = d_model**-0.5 * warmup**-0.5
    assert 0 < training.noam_lr(step, d_model, warmup) <= peak * (1 + 1e-12)
    assert math.isclose(training.noam_lr(warmup, d_model, warmup), peak)
