"""transformer_lib.attention against F.scaled_dot_product_attention and nn.MultiheadAttention."""

import pytest
import torch
import torch.nn.functional as F

import transformer_lib as tl
from transformer_lib.reference import torch_multihead_attention


@pytest.fixture(autouse=True)
def seed():
    tl.seed_everything(0)


def test_masks():
    assert torch.equal(tl.causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]]).bool())
    mask = tl.padding_mask(torch.tensor([2, 4]), 4)
    assert mask.shape == (2, 1, 4)
    assert mask.tolist() == [[[True, True, False, False]], [[True, True, True, True]]]


@pytest.mark.parametrize("masked", ["none", "causal", "padding", "random"])
def test_sdpa_equals_pytorch(masked):
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 6)
    mask = {
        "none": None,
        "causal": tl.causal_mask(5),
        "padding": tl.padding_mask(torch.tensor([5, 2]), 5).unsqueeze(1),  # (B, 1, 1, S)
        "random": torch.rand(2, 3, 5, 5) > 0.3,
    }[masked]
    out, weights = tl.scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5) if masked != "random"
                               else (mask.any(-1)).float())


def test_fully_masked_query_gets_zeros_like_pytorch():
    q, k, v = torch.randn(1, 2, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    out, weights = tl.scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert torch.all(weights[0, 1] == 0) and torch.all(out[0, 1] == 0)


def test_gradients_stay_finite_with_a_fully_masked_query():
    q = torch.randn(1, 2, 4, requires_grad=True)
    mask = torch.tensor([[True, True], [False, False]])
    out, _ = tl.scaled_dot_product_attention(q, q, q, mask)
    out.sum().backward()
    assert torch.isfinite(q.grad).all()


def _mha_pair(d_model=16, n_heads=4, bias=True):
    ours = tl.MultiHeadAttention(d_model, n_heads, bias=bias).eval()
    return ours, torch_multihead_attention(ours).eval()


@pytest.mark.parametrize("bias", [True, False])
def test_self_attention_equals_nn_multihead_attention(bias):
    ours, theirs = _mha_pair(bias=bias)
    x = torch.randn(3, 7, 16)
    out, weights = ours(x, return_weights=True)
    ref_out, ref_weights = theirs(x, x, x, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(weights, ref_weights)
    torch.testing.assert_close(ours(x), out)  # fused fast path == explicit path


def test_causal_self_attention_equals_torch_with_inverted_mask():
    ours, theirs = _mha_pair()
    x, mask = torch.randn(2, 6, 16), tl.causal_mask(6)
    torch.testing.assert_close(ours(x, mask=mask), theirs(x, x, x, attn_mask=~mask)[0])


def test_cross_attention_with_padding_equals_torch():
    ours, theirs = _mha_pair()
    query, memory = torch.randn(2, 4, 16), torch.randn(2, 9, 16)
    mask = tl.padding_mask(torch.tensor([9, 5]), 9)  # (B, 1, S)
    out, weights = ours(query, memory, memory, mask=mask, return_weights=True)
    ref_out, ref_weights = theirs(query, memory, memory, key_padding_mask=~mask.squeeze(1),
                                  average_attn_weights=False)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(weights, ref_weights)
    assert torch.all(weights[1, :, :, 5:] == 0)
    torch.testing.assert_close(ours(query, memory, memory, mask=mask), out)


def test_causal_attention_ignores_the_future():
    ours, _ = _mha_pair()
    x = torch.randn(1, 8, 16)
    changed = x.clone()
    changed[:, 5:] = torch.randn(1, 3, 16)
    mask = tl.causal_mask(8)
    torch.testing.assert_close(ours(x, mask=mask)[:, :5], ours(changed, mask=mask)[:, :5])


def test_parameter_count_is_four_projections():
    assert tl.count_parameters(tl.MultiHeadAttention(64, 8)) == 4 * 64 * 64 + 4 * 64


def test_dropout_only_in_training():
    mha = tl.MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(1, 5, 8)
    mha.eval()
    torch.testing.assert_close(mha(x), mha(x))
    mha.train()
    assert not torch.allclose(mha(x), mha(x))


def test_fully_masked_query_gives_zeros_on_both_paths():
    ours, _ = _mha_pair()
    x = torch.randn(2, 3, 16)
    mask = torch.ones(2, 3, 3, dtype=torch.bool)
    mask[1, 2] = False  # query 2 of sequence 1 may attend to nothing
    explicit, _ = ours(x, mask=mask, return_weights=True)
    fast = ours(x, mask=mask)
    torch.testing.assert_close(fast, explicit)
    torch.testing.assert_close(fast[1, 2], ours.out_proj.bias)  # zero attention, then W^O's bias


def test_causal_mask_with_a_start_is_the_last_rows_of_a_longer_one():
    full = tl.causal_mask(7)  # (T, T)
    assert torch.equal(tl.causal_mask(3, start=4), full[4:])  # (3, 7): queries 4, 5, 6
    assert tl.causal_mask(1, start=6).all()  # the newest position sees everything before it
    with pytest.raises(ValueError, match="start=-2"):
        tl.causal_mask(3, start=-2)


def test_split_and_merge_heads_are_inverse():
    mha = tl.MultiHeadAttention(d_model=12, n_heads=3)
    x = torch.randn(2, 5, 12)
    heads = mha.split_heads(x)  # (B, H, T, Dh)
    assert heads.shape == (2, 3, 5, 4)
    torch.testing.assert_close(heads[:, 1], x[..., 4:8])  # head 1 holds features 4..7
    assert torch.equal(mha.merge_heads(heads), x)


def test_padding_mask_from_ids():
    ids = torch.tensor([[5, 6, 0, 0], [7, 0, 8, 9]])
    assert torch.equal(tl.attention.padding_mask_from_ids(ids, 0),
                       torch.tensor([[[True, True, False, False]], [[True, False, True, True]]]))
    assert tl.attention.padding_mask_from_ids(ids, None) is None
