"""FeedForward and LayerNorm against PyTorch; the residual connection in both placements."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import transformer_lib as tl
from transformer_lib.reference import torch_layer_norm


@pytest.fixture(autouse=True)
def seed():
    tl.seed_everything(0)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward_equals_the_encoder_layers_path(activation):
    ours = tl.FeedForward(16, 48, activation=activation).eval()
    layer = nn.TransformerEncoderLayer(16, 2, 48, dropout=0.0, activation=activation,
                                       batch_first=True)
    with torch.no_grad():
        for name in ("linear1", "linear2"):
            getattr(layer, name).weight.copy_(getattr(ours, name).weight)
            getattr(layer, name).bias.copy_(getattr(ours, name).bias)
    x = torch.randn(3, 5, 16)
    torch.testing.assert_close(ours(x), layer._ff_block(x))


def test_feed_forward_defaults_and_parameter_count():
    ffn = tl.FeedForward(512)
    assert ffn.d_ff == 2048
    assert tl.count_parameters(ffn) == 2 * 512 * 2048 + 2048 + 512


def test_feed_forward_acts_on_each_position_alone():
    ffn = tl.FeedForward(8).eval()
    x = torch.randn(2, 6, 8)
    order = torch.randperm(6)
    torch.testing.assert_close(ffn(x[:, order]), ffn(x)[:, order])


@pytest.mark.parametrize("shape", [(4, 10), (2, 7, 10), (2, 3, 5, 10)])
def test_layer_norm_equals_nn_layer_norm(shape):
    ours = tl.LayerNorm(10, eps=1e-5)
    with torch.no_grad():
        ours.weight.normal_()
        ours.bias.normal_()
    x = torch.randn(shape) * 3 + 2
    torch.testing.assert_close(ours(x), torch_layer_norm(ours)(x))
    torch.testing.assert_close(ours(x), F.layer_norm(x, (10,), ours.weight, ours.bias, 1e-5))


def test_layer_norm_output_has_zero_mean_unit_variance_per_vector():
    out = tl.LayerNorm(64)(torch.randn(5, 9, 64) * 10 + 3)
    torch.testing.assert_close(out.mean(-1), torch.zeros(5, 9), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(5, 9), atol=1e-3, rtol=0)


def test_layer_norm_gradients_match():
    ours, x = tl.LayerNorm(6), torch.randn(3, 6, requires_grad=True)
    ours(x).pow(2).sum().backward()
    expected = torch.autograd.grad(F.layer_norm(x, (6,)).pow(2).sum(), x)[0]
    torch.testing.assert_close(x.grad, expected)


@pytest.mark.parametrize("norm_first", [False, True])
def test_residual_connection_placements(norm_first):
    block = tl.ResidualConnection(8, norm_first=norm_first)
    x = torch.randn(2, 3, 8)
    sublayer = nn.Linear(8, 8)
    expected = x + sublayer(block.norm(x)) if norm_first else block.norm(x + sublayer(x))
    torch.testing.assert_close(block(x, sublayer), expected)


def test_residual_with_a_zero_sublayer_is_identity_in_pre_ln():
    block = tl.ResidualConnection(8, norm_first=True)
    x = torch.randn(2, 3, 8)
    torch.testing.assert_close(block(x, torch.zeros_like), x)
