"""Every misuse gets a clear error naming the argument and what was expected.

A value that is not a tensor at all is a TypeError; a tensor of the wrong rank, size or dtype is a
ValueError.
"""

import pytest
import torch

import transformer_lib as tl
from transformer_lib import checkpoint, data, decoding, losses, training
from transformer_lib.coursework import CourseworkError

MHA = tl.MultiHeadAttention(8, 2)

CASES = [
    ("d_model not divisible", lambda: tl.MultiHeadAttention(10, 3), ValueError,
     "d_model=10 is not divisible by n_heads=3"),
    ("negative d_model", lambda: tl.MultiHeadAttention(-8, 2), ValueError,
     "d_model=-8 must be a positive"),
    ("zero heads", lambda: tl.MultiHeadAttention(8, 0), ValueError, "n_heads=0"),
    ("dropout above one", lambda: tl.MultiHeadAttention(8, 2, dropout=1.5), ValueError,
     "dropout=1.5"),
    ("query of rank 2", lambda: MHA(torch.randn(5, 8)), ValueError,
     "query must have shape (B, T, D)"),
    ("wrong d_model", lambda: MHA(torch.randn(2, 5, 6)), ValueError, "expected d_model=8"),
    ("integer query", lambda: MHA(torch.ones(2, 5, 8, dtype=torch.long)), ValueError,
     "query must be a floating-point"),
    ("batch mismatch", lambda: MHA(torch.randn(2, 5, 8), torch.randn(3, 4, 8)), ValueError,
     "share the batch size"),
    ("key/value length mismatch", lambda: MHA(torch.randn(2, 5, 8), torch.randn(2, 4, 8),
                                              torch.randn(2, 3, 8)), ValueError, "same length S"),
    ("empty sequence", lambda: MHA(torch.randn(2, 0, 8)), ValueError, "has length 0"),
    ("float mask", lambda: MHA(torch.randn(2, 5, 8), mask=torch.ones(5, 5)), ValueError,
     "mask must be a bool tensor"),
    ("mask of wrong shape", lambda: MHA(torch.randn(2, 5, 8), mask=tl.causal_mask(4)), ValueError,
     "does not broadcast"),
    ("mask of rank 4", lambda: MHA(torch.randn(2, 5, 8), mask=torch.ones(2, 2, 5, 5).bool()),
     ValueError, "mask must have shape (T, S), (B, T, S) or (B, 1, S)"),
    ("not a tensor", lambda: MHA([[1.0] * 8]), TypeError, "query must be a torch.Tensor"),
    ("sdpa d_k mismatch", lambda: tl.scaled_dot_product_attention(
        torch.randn(3, 4), torch.randn(3, 5), torch.randn(3, 5)), ValueError,
     "same last dimension"),
    ("sdpa key/value mismatch", lambda: tl.scaled_dot_product_attention(
        torch.randn(3, 4), torch.randn(3, 4), torch.randn(2, 4)), ValueError, "same length S"),
    ("sdpa rank 1", lambda: tl.scaled_dot_product_attention(
        torch.randn(4), torch.randn(4), torch.randn(4)), ValueError, "(..., length, dim)"),
    ("causal size zero", lambda: tl.causal_mask(0), ValueError, "size=0"),
    ("padding lengths too long", lambda: tl.padding_mask(torch.tensor([3, 7]), 5), ValueError,
     "lengths must lie in [1, max_len=5]"),
    ("padding lengths float", lambda: tl.padding_mask(torch.tensor([3.0]), 5), ValueError,
     "integer tensor"),
    ("odd d_model for sinusoids", lambda: tl.sinusoidal_positional_encoding(10, 7), ValueError,
     "d_model=7 must be even"),
    ("sequence beyond the positional table", lambda: tl.SinusoidalPositionalEncoding(8, max_len=4)(
        torch.randn(1, 6, 8)), ValueError, "longer than the positional table (max_len=4)"),
    ("token id out of range", lambda: tl.TokenEmbedding(10, 4)(torch.tensor([[3, 10]])), ValueError,
     "token id 10, outside the vocabulary [0, 10)"),
    ("negative token id", lambda: tl.TokenEmbedding(10, 4)(torch.tensor([[-1]])), ValueError,
     "token id -1"),
    ("float token ids", lambda: tl.TokenEmbedding(10, 4)(torch.tensor([[1.0]])), ValueError,
     "integer token ids"),
    ("empty ids", lambda: tl.TokenEmbedding(10, 4)(torch.zeros(1, 0, dtype=torch.long)), ValueError,
     "ids is empty"),
    ("unknown positional kind", lambda: tl.TransformerEmbedding(10, 4, positional="rotary"),
     ValueError, "positional='rotary'"),
    ("unknown device", lambda: tl.get_device("tpu"), ValueError, "prefer='tpu' is not a device"),
    ("negative seed", lambda: tl.seed_everything(-1), ValueError, "seed=-1"),
]


@pytest.mark.parametrize("name, call, error, message", CASES, ids=[c[0] for c in CASES])
def test_misuse_gets_a_clear_error(name, call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value), f"{name}: message was {info.value}"


CFG = dict(vocab_size=20, d_model=8, n_heads=2, d_ff=16, n_layers=1, dropout=0.0)

MORE_CASES = [
    ("config negative size", lambda: tl.TransformerConfig(**CFG | {"d_ff": -4}), ValueError,
     "d_ff=-4 must be a positive integer"),
    ("config heads", lambda: tl.TransformerConfig(**CFG | {"n_heads": 3}), ValueError,
     "d_model=8 is not divisible by n_heads=3"),
    ("config activation", lambda: tl.TransformerConfig(**CFG | {"activation": "tanh"}), ValueError,
     "activation='tanh'"),
    ("config pad id", lambda: tl.TransformerConfig(**CFG | {"pad_id": 20}), ValueError,
     "pad_id=20"),
    ("config shared vocabularies", lambda: tl.TransformerConfig(**CFG | {"tgt_vocab_size": 30}),
     ValueError, "share_embeddings=True needs one vocabulary"),
    ("config dropout", lambda: tl.TransformerConfig(**CFG | {"dropout": -0.1}), ValueError,
     "dropout=-0.1"),
    ("feed-forward width", lambda: tl.FeedForward(8, d_ff=0), ValueError, "d_ff=0"),
    ("feed-forward input", lambda: tl.FeedForward(8)(torch.randn(2, 6)), ValueError,
     "expected d_model=8"),
    ("layer norm size", lambda: tl.LayerNorm(8)(torch.randn(2, 3, 7)), ValueError,
     "expected d_model=8"),
    ("layer norm eps", lambda: tl.LayerNorm(8, eps=0), ValueError, "eps=0 must be positive"),
    ("encoder ids out of range", lambda: tl.Encoder(tl.TransformerConfig(**CFG))(
        torch.tensor([[1, 25]])), ValueError, "token id 25, outside the vocabulary [0, 20)"),
    ("decoder memory width", lambda: tl.Decoder(tl.TransformerConfig(**CFG))(
        torch.tensor([[1, 2]]), torch.randn(1, 3, 6)), ValueError,
     "memory must have shape (B=1, S, D=8)"),
    ("encoder mask shape", lambda: tl.Encoder(tl.TransformerConfig(**CFG))(
        torch.tensor([[1, 2, 3]]), torch.ones(1, 1, 4, dtype=torch.bool)), ValueError,
     "does not broadcast"),
]


@pytest.mark.parametrize("name, call, error, message", MORE_CASES, ids=[c[0] for c in MORE_CASES])
def test_misuse_of_the_layers_gets_a_clear_error(name, call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value), f"{name}: message was {info.value}"


def _checkpoint_of(cfg_overrides):
    """A checkpoint file written from a tiny model with the given configuration."""
    import tempfile

    folder = tempfile.mkdtemp()
    model = tl.Transformer(tl.TransformerConfig(**CFG | cfg_overrides))
    return checkpoint.save_checkpoint(f"{folder}/run.pt", model)


def _load_into(path, cfg_overrides):
    return checkpoint.load_checkpoint(
        path, tl.Transformer(tl.TransformerConfig(**CFG | cfg_overrides)))


def _coursework(tmp_text):
    import tempfile
    from pathlib import Path

    from transformer_lib import coursework

    path = Path(tempfile.mkdtemp()) / "01_not_a_notebook.ipynb"
    path.write_text(tmp_text)
    return coursework.make_student_versions(path, path.parent / "out")


def _decoder_only():
    return tl.DecoderOnlyLM(tl.TransformerConfig(**CFG)).eval()


TRAINING_CASES = [
    ("checkpoint from another config",
     lambda: _load_into(_checkpoint_of({"d_ff": 16}), {"d_ff": 32}),
     ValueError, "comes from another configuration: d_ff=16 (this model: 32)"),
    ("non-notebook to the coursework tool", lambda: _coursework("print('hello')"), CourseworkError,
     "is not a Jupyter notebook"),
    ("empty batch of pairs", lambda: data.make_seq2seq_batch([], 0, 1, 2), ValueError,
     "pairs is empty"),
    ("empty list to pad", lambda: data.pad_sequences([]), ValueError, "seqs is empty"),
    ("beam of zero", lambda: decoding.beam_search(tl.Transformer(tl.TransformerConfig(**CFG)),
                                                   torch.tensor([[3, 4]]), 5, 1, 2, beam_size=0),
     ValueError, "beam_size=0 must be a positive integer"),
    ("source of rank 1", lambda: decoding.greedy_decode(tl.Transformer(tl.TransformerConfig(**CFG)),
                                                        torch.tensor([3, 4]), 5, 1, 2),
     ValueError, "src must have shape (B, S)"),
    ("temperature zero",
     lambda: decoding.generate(_decoder_only(), torch.tensor([[3]]), 2, temperature=0),
     ValueError, "temperature=0 must be > 0"),
    ("top-k of zero", lambda: decoding.sample_next_token(torch.zeros(1, 5), top_k=0), ValueError,
     "top_k=0 must be a positive integer"),
    ("negative training steps", lambda: training.fit(_decoder_only(), None, None, None, -3),
     ValueError, "steps=-3 must be a positive integer"),
    ("label smoothing of one", lambda: losses.label_smoothed_cross_entropy(
        torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), smoothing=1.0), ValueError,
     "smoothing=1.0"),
    ("masking probability above one", lambda: losses.mask_tokens(
        torch.ones(2, 3, dtype=torch.long), 1, 5, mask_prob=1.5),
     ValueError, "mask_prob=1.5"),
    ("negative step for the sampler", lambda: data.BatchSampler(10, 2).indices(-1), ValueError,
     "step=-1"),
    ("warmup of zero", lambda: training.noam_lr(5, 512, 0), ValueError, "warmup=0"),
]


@pytest.mark.parametrize("name, call, error, message", TRAINING_CASES,
                         ids=[c[0] for c in TRAINING_CASES])
def test_misuse_of_training_and_decoding_gets_a_clear_error(name, call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value), f"{name}: message was {info.value}"


def test_the_misuse_tables_are_large():
    assert len(CASES) + len(MORE_CASES) + len(TRAINING_CASES) >= 50
