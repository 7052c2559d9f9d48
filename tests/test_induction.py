"""The attention-only transformer, the repeated sequences and the head scores of chapter 17."""

import pytest
import torch

from transformer_lib import induction
from transformer_lib.attention import causal_mask


def model(positions="attention", n_layers=2):
    torch.manual_seed(0)
    return induction.AttentionOnlyTransformer(20, 16, 4, n_layers, 12, positions=positions).eval()


def test_residual_positions_match_the_library_attention_layers():
    m = model("residual")
    ids = torch.randint(20, (3, 10))
    x = m.position(m.token(ids))
    for attn in m.layers:  # the per-head sum equals MultiHeadAttention's own forward
        x = x + attn(x, mask=causal_mask(10))
    torch.testing.assert_close(m(ids), m.unembed(x))


def test_weights_are_causal_and_rows_sum_to_one():
    logits, weights = model()(torch.randint(20, (2, 7)), return_weights=True)
    assert logits.shape == (2, 7, 20) and len(weights) == 2
    for w in weights:
        assert w.shape == (2, 4, 7, 7)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 7))
        assert (w.triu(1) == 0).all()


def test_ablating_a_head_removes_its_output_only():
    m, ids = model(), torch.randint(20, (2, 8))
    assert not torch.allclose(m(ids), m(ids, ablate=[(1, 2)]))
    with torch.no_grad():  # a head whose output projection is zero changes nothing
        m.layers[1].out_proj.weight[:, 8:12] = 0.0
    torch.testing.assert_close(m(ids), m(ids, ablate=[(1, 2)]))


def test_key_ablation_changes_only_later_keys():
    m, ids = model(), torch.randint(20, (2, 8))
    _, plain = m(ids, return_weights=True)
    _, keyless = m(ids, key_ablate=[(0, 1)], return_weights=True)
    torch.testing.assert_close(plain[0], keyless[0])  # layer 0 is untouched
    assert not torch.allclose(plain[1], keyless[1])
    one_layer = model(n_layers=1)
    torch.testing.assert_close(one_layer(ids), one_layer(ids, key_ablate=[(0, 0)]))


def test_bad_heads_and_positions_are_refused():
    with pytest.raises(ValueError, match="ablate must list"):
        model()(torch.randint(20, (1, 4)), ablate=[(2, 0)])
    with pytest.raises(ValueError, match="positions="):
        induction.AttentionOnlyTransformer(20, 16, 4, positions="rotary")


def test_repeated_sequences_repeat_their_segment():
    ids, starts = induction.repeated_sequences(50, 20, 30, seed=0, min_segment=3)
    assert ids.shape == (50, 20) and ((starts >= 10) & (starts <= 17)).all()
    for row, start in zip(ids, starts.tolist()):
        segment = 20 - start
        assert torch.equal(row[start:], row[start - segment : start])
    again, _ = induction.repeated_sequences(50, 20, 30, seed=0, min_segment=3)
    other, _ = induction.repeated_sequences(50, 20, 30, seed=1, min_segment=3)
    assert torch.equal(ids, again) and not torch.equal(ids, other)
    fixed, fixed_starts = induction.repeated_sequences(4, 12, 30, seed=0)
    assert (fixed_starts == 6).all() and torch.equal(fixed[:, :6], fixed[:, 6:])
    with pytest.raises(ValueError, match="min_segment"):
        induction.repeated_sequences(4, 12, 30, seed=0, min_segment=7)


def test_scores_read_the_right_stripes():
    half = 4
    prev = torch.zeros(1, 2, 8, 8)
    prev[0, 0, 0, 0] = 1.0
    prev[0, 0, torch.arange(1, 8), torch.arange(0, 7)] = 1.0  # head 0: the token before
    ind = torch.zeros(1, 2, 8, 8)
    ind[0, 1, torch.arange(half, 8), torch.arange(1, half + 1)] = 1.0  # head 1: t - L + 1
    torch.testing.assert_close(induction.previous_token_scores(prev), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(induction.induction_scores(ind, half), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="2 \\* half"):
        induction.induction_scores(ind, 3)


def test_split_losses_of_a_perfect_copier_is_zero_on_the_repeat():
    class Copier(torch.nn.Module):  # predicts the token one segment back, when it knows it
        def __init__(self, ids, starts):
            super().__init__()
            self.ids, self.starts = ids, starts

        def forward(self, inputs):
            logits = torch.zeros(*inputs.shape, 10)
            for b, start in enumerate(self.starts.tolist()):
                segment = self.ids.shape[1] - start
                for t in range(start, inputs.shape[1]):
                    logits[b, t, self.ids[b, t + 1 - segment]] = 100.0
            return logits

    ids, starts = induction.repeated_sequences(5, 16, 10, seed=0, min_segment=3)
    first, repeat = induction.split_losses(Copier(ids, starts), ids, starts)
    assert repeat < 1e-6 and abs(first - torch.log(torch.tensor(10.0)).item()) < 1e-5
