"""Encoder, decoder and the whole models against nn.TransformerEncoder/Decoder/Transformer."""

import pytest
import torch

import transformer_lib as tl
from transformer_lib import reference

SIZES = [  # (B, S, T, D, H, F, N)
    (2, 7, 5, 16, 4, 32, 2),
    (3, 11, 9, 24, 3, 40, 3),
    (1, 4, 6, 8, 1, 16, 1),
]


def config(D, H, F, N, norm_first, activation="relu", vocab=40):
    return tl.TransformerConfig(vocab_size=vocab, d_model=D, n_heads=H, d_ff=F, n_layers=N,
                                dropout=0.0, norm_first=norm_first, activation=activation)


def padded_mask(B, S):
    lengths = torch.randint(1, S + 1, (B,))
    lengths[0] = S
    return tl.padding_mask(lengths, S)  # (B, 1, S)


@pytest.fixture(autouse=True)
def seed():
    tl.seed_everything(0)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("B, S, T, D, H, F, N", SIZES)
def test_encoder_layer_and_stack_equal_pytorch(norm_first, activation, B, S, T, D, H, F, N):
    cfg = config(D, H, F, N, norm_first, activation)
    encoder = tl.Encoder(cfg).eval()
    x, mask = torch.randn(B, S, D), padded_mask(B, S)
    layer = encoder.stack.layers[0]
    torch.testing.assert_close(
        layer(x, mask),
        reference.torch_encoder_layer(layer, cfg)(x, src_key_padding_mask=~mask.squeeze(1)))
    torch.testing.assert_close(
        encoder.stack(x, mask),
        reference.torch_encoder(encoder)(x, src_key_padding_mask=~mask.squeeze(1)))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("B, S, T, D, H, F, N", SIZES)
def test_decoder_layer_and_stack_equal_pytorch(norm_first, B, S, T, D, H, F, N):
    cfg = config(D, H, F, N, norm_first)
    decoder = tl.Decoder(cfg).eval()
    y, memory = torch.randn(B, T, D), torch.randn(B, S, D)
    mask, causal = padded_mask(B, S), tl.causal_mask(T)
    kwargs = dict(tgt_mask=~causal, memory_key_padding_mask=~mask.squeeze(1))
    layer = decoder.stack.layers[0]
    torch.testing.assert_close(layer(y, memory, causal, mask),
                               reference.torch_decoder_layer(layer, cfg)(y, memory, **kwargs))
    torch.testing.assert_close(decoder.stack(y, memory, causal, mask),
                               reference.torch_decoder(decoder)(y, memory, **kwargs))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("B, S, T, D, H, F, N", SIZES)
def test_transformer_equals_nn_transformer(norm_first, B, S, T, D, H, F, N):
    model = tl.Transformer(config(D, H, F, N, norm_first)).eval()
    src, tgt = torch.randint(1, 40, (B, S)), torch.randint(1, 40, (B, T))
    src[1:, -1] = 0  # some padding
    mask, causal = model.source_mask(src), tl.causal_mask(T)
    x, y = model.encoder.embedding(src), model.decoder.embedding(tgt)
    ours = model.decoder.stack(y, model.encoder.stack(x, mask), causal, mask)
    theirs = reference.torch_transformer(model)(
        x, y, tgt_mask=~causal, src_key_padding_mask=~mask.squeeze(1),
        memory_key_padding_mask=~mask.squeeze(1))
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(model(src, tgt), model.output(ours))


def test_padding_does_not_change_real_positions():
    model = tl.Transformer(config(16, 4, 32, 2, False)).eval()
    src = torch.randint(1, 40, (1, 6))
    padded = torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    tgt = torch.randint(1, 40, (1, 4))
    torch.testing.assert_close(model.encode(padded)[:, :6], model.encode(src))
    torch.testing.assert_close(model(padded, tgt), model(src, tgt))


@pytest.mark.parametrize("model_class", ["Transformer", "DecoderOnlyLM"])
def test_future_targets_do_not_change_earlier_outputs(model_class):
    cfg = config(16, 4, 32, 2, True)
    model = getattr(tl, model_class)(cfg).eval()
    tgt = torch.randint(1, 40, (2, 8))
    changed = tgt.clone()
    changed[:, 5:] = torch.randint(1, 40, (2, 3))
    run = (lambda t: model(torch.randint(1, 40, (2, 6),
                                         generator=torch.Generator().manual_seed(1)), t)
           ) if model_class == "Transformer" else model
    torch.testing.assert_close(run(tgt)[:, :5], run(changed)[:, :5])
    assert not torch.allclose(run(tgt)[:, 5:], run(changed)[:, 5:])


def test_decoder_only_lm_equals_a_causal_pytorch_encoder_stack():
    cfg = config(16, 4, 32, 2, True, "gelu")
    lm = tl.DecoderOnlyLM(cfg).eval()
    ids = torch.randint(1, 40, (2, 9))
    stack = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
        16, 4, 32, 0.0, "gelu", batch_first=True, norm_first=True), 2, enable_nested_tensor=False)
    stack.layers = torch.nn.ModuleList(reference.torch_encoder_layer(layer, cfg)
                                       for layer in lm.stack.layers)
    hidden = stack(lm.embedding(ids), mask=~tl.causal_mask(9))
    torch.testing.assert_close(lm(ids), lm.output(lm.stack.final_norm(hidden)))


def test_shared_embeddings_are_one_tensor():
    model = tl.Transformer(tl.TransformerConfig(vocab_size=30, d_model=8, n_heads=2, d_ff=16,
                                                n_layers=1))
    weight = model.encoder.embedding.token.table.weight
    assert model.decoder.embedding.token.table.weight is weight and model.output.weight is weight


def test_paper_parameter_counts_within_3_percent_of_table_3():
    """Shared source/target/output embedding over a 37000-token vocabulary, as in the paper."""
    with torch.device("meta"):  # shapes only: no memory for the 213M weights
        base = tl.count_parameters(tl.Transformer(tl.TransformerConfig.base(vocab_size=37000)))
        big = tl.count_parameters(tl.Transformer(tl.TransformerConfig.big(vocab_size=37000)))
    assert abs(base - 65e6) / 65e6 < 0.03, base
    assert abs(big - 213e6) / 213e6 < 0.03, big


def test_a_stack_checks_its_inputs_once_in_its_first_layer():
    """Later layers get what the first returned: only the first layer's modules check."""
    encoder = tl.Encoder(config(16, 4, 32, 3, False)).eval()
    first, *later = encoder.stack.layers
    assert all(m.check_inputs for m in first.modules() if hasattr(m, "check_inputs"))
    assert not any(m.check_inputs for layer in later for m in layer.modules()
                   if hasattr(m, "check_inputs"))
    ids = torch.randint(1, 40, (2, 6))
    with pytest.raises(ValueError, match="mask of shape"):  # still a clear message
        encoder(ids, torch.ones(2, 1, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="has last dimension 8"):  # the stack alone checks too
        encoder.stack(torch.randn(2, 6, 8))
    alone = tl.EncoderLayer(config(16, 4, 32, 1, False))  # a layer outside a stack checks
    with pytest.raises(ValueError, match="query has last dimension 8"):
        alone(torch.randn(2, 6, 8))


def test_an_injected_embedding_replaces_the_papers():
    cfg = config(16, 4, 32, 2, True)

    class Doubled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = tl.TransformerEmbedding(40, 16)

        def forward(self, ids, scale=2.0):
            return self.inner(ids) * scale

    encoder = tl.Encoder(cfg, embedding=Doubled()).eval()
    ids = torch.randint(1, 40, (2, 6))
    mask = tl.attention.padding_mask_from_ids(ids, 0)  # (B, 1, S)
    expected = encoder.stack(encoder.embedding.inner(ids) * 3.0, mask)
    torch.testing.assert_close(encoder(ids, scale=3.0), expected)  # extra inputs reach it


def test_layers_of_ones_own_make_the_same_model_and_the_decoder_masks_the_future():
    """Chapter 7 builds tl.Transformer from layers passed in (``EncoderLayer.sized`` stands for a
    learner's): with the same seed it is the same model as the default one."""
    cfg = config(16, 2, 32, 2, False)
    torch.manual_seed(0)
    default = tl.Transformer(cfg).eval()
    torch.manual_seed(0)
    sizes = (16, 2, 32, 0.0, False)
    encoder = tl.Encoder(cfg, layers=(tl.EncoderLayer.sized(*sizes) for _ in range(2)))
    decoder = tl.Decoder(cfg, layers=(tl.DecoderLayer.sized(*sizes) for _ in range(2)))
    built = tl.Transformer(cfg, encoder=encoder, decoder=decoder).eval()
    src, tgt = torch.randint(1, 40, (2, 5)), torch.randint(1, 40, (2, 4))
    torch.testing.assert_close(built(src, tgt), default(src, tgt))

    class Unmasked(torch.nn.Module):  # a layer that applies whatever mask it is given
        def __init__(self):
            super().__init__()
            self.inner = tl.DecoderLayer.sized(*sizes)

        def forward(self, x, memory, tgt_mask=None, memory_mask=None):
            assert tgt_mask is not None, "the decoder must pass its causal mask"
            return self.inner(x, memory, tgt_mask, memory_mask)

    decoder = tl.Decoder(cfg, layers=[Unmasked()]).eval()
    memory = torch.randn(2, 5, 16)
    changed = tgt.clone()
    changed[:, -1] = (tgt[:, -1] % 39) + 1  # only the last target token
    torch.testing.assert_close(decoder(changed, memory)[:, :-1], decoder(tgt, memory)[:, :-1])
