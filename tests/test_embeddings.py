"""transformer_lib.embeddings against closed forms and nn.Embedding."""

import math

import pytest
import torch
from torch import nn

import transformer_lib as tl


def test_token_embedding_is_nn_embedding_scaled_by_sqrt_d_model():
    torch.manual_seed(0)
    ours = tl.TokenEmbedding(vocab_size=11, d_model=8)
    reference = nn.Embedding(11, 8)
    reference.weight.data.copy_(ours.table.weight.data)
    ids = torch.randint(0, 11, (3, 5))
    torch.testing.assert_close(ours(ids), reference(ids) * math.sqrt(8))


def test_token_embedding_padding_vector_is_zero():
    ours = tl.TokenEmbedding(vocab_size=5, d_model=4, padding_idx=0)
    assert torch.count_nonzero(ours(torch.tensor([[0, 0]]))) == 0


@pytest.mark.parametrize("pos, i", [(0, 0), (1, 0), (7, 1), (31, 5), (99, 15)])
def test_sinusoidal_values_match_the_papers_formula(pos, i):
    d_model = 32
    pe = tl.sinusoidal_positional_encoding(100, d_model)
    angle = pos / 10000 ** (2 * i / d_model)
    assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
    assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)


def test_sinusoidal_encoding_is_bounded_and_has_unit_pairs():
    pe = tl.sinusoidal_positional_encoding(500, 64)
    assert pe.shape == (500, 64)
    assert pe.abs().max() <= 1.0
    # sin^2 + cos^2 = 1 for every frequency, so every row has squared norm D/2
    torch.testing.assert_close(pe.pow(2).sum(-1), torch.full((500,), 32.0))


def test_sinusoidal_module_adds_the_table_to_its_input():
    module = tl.SinusoidalPositionalEncoding(d_model=16, max_len=20)
    x = torch.randn(2, 7, 16)
    torch.testing.assert_close(module(x), x + tl.sinusoidal_positional_encoding(7, 16))
    assert "pe" not in module.state_dict()  # a fixed table, rebuilt, not saved


def test_learned_positions_add_one_trained_vector_per_position():
    module = tl.LearnedPositionalEncoding(d_model=6, max_len=10)
    x = torch.zeros(3, 4, 6)
    out = module(x)
    torch.testing.assert_close(out[1], module.table.weight[:4])
    out.sum().backward()
    assert module.table.weight.grad is not None


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_transformer_embedding_shapes(positional):
    module = tl.TransformerEmbedding(vocab_size=30, d_model=12, max_len=16, positional=positional)
    assert module(torch.randint(0, 30, (4, 9))).shape == (4, 9, 12)


def test_positions_break_permutation_symmetry():
    module = tl.TransformerEmbedding(vocab_size=30, d_model=12, max_len=16)
    ids = torch.tensor([[3, 4, 5]])
    swapped = ids[:, [2, 1, 0]]
    assert not torch.allclose(module(ids)[:, [2, 1, 0]], module(swapped))


def test_scaled_token_vectors_are_the_size_of_the_position_vectors():
    torch.manual_seed(0)
    tokens = tl.TokenEmbedding(vocab_size=1000, d_model=512)(torch.arange(1000)[None])
    positions = tl.sinusoidal_positional_encoding(1000, 512)
    ratio = tokens.norm(dim=-1).mean() / positions.norm(dim=-1).mean()
    assert 1.2 < ratio < 1.6  # sqrt(D) against sqrt(D/2): sqrt(2) = 1.41


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_start_offsets_the_positions(positional):
    """Positions start..start+T-1: the last T rows of a longer sequence's embedding."""
    embed = tl.TransformerEmbedding(50, 16, max_len=12, positional=positional).eval()
    ids = torch.randint(0, 50, (2, 10))
    whole = embed(ids)  # (B, T, D), positions 0..9
    torch.testing.assert_close(embed(ids[:, 4:], start=4), whole[:, 4:])
    with pytest.raises(ValueError, match=r"covers positions 8\.\.12 \(start=8\).*max_len=12"):
        embed(torch.zeros(1, 5, dtype=torch.long), start=8)
    with pytest.raises(ValueError, match="start=-1"):
        embed(ids, start=-1)


def test_token_ids_are_range_checked_on_the_cpu_only():
    """Reading ids back from a GPU would stall every step; the meta device stands in for one."""
    embed = tl.TokenEmbedding(10, 4)
    with pytest.raises(ValueError, match="token id 10, outside the vocabulary"):
        embed(torch.tensor([[3, 10]]))
    assert embed.to("meta")(torch.tensor([[3, 10]], device="meta")).shape == (1, 2, 4)
