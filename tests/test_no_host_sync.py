"""No training step waits for the GPU: the hot path never reads a value back to the CPU.

On a GPU, ``loss.item()``, ``bool(tensor)``, ``int(ids.max())`` or indexing with a boolean mask
(whose result size depends on the values) make the CPU wait until the GPU has caught up, at every
step. There is no GPU here, but the ``meta`` device is as strict: its tensors have shapes and no
values, so each of those operations raises. A training step of every kind of model runs on it.
"""

import pytest
import torch
import torch.nn.functional as F

import transformer_lib as tl
from transformer_lib import losses, task_heads, training
from transformer_lib.data import Seq2SeqBatch

META = torch.device("meta")


def config(**overrides):
    settings = dict(vocab_size=40, d_model=16, n_heads=4, d_ff=32, n_layers=2, dropout=0.1,
                    max_len=32, pad_id=0) | overrides
    return tl.TransformerConfig(**settings)


def ids(B=3, S=7):
    out = torch.randint(1, 40, (B, S))
    out[1:, -2:] = 0  # padding at the end of some rows
    return out.to(META)


def train_step(model, loss_fn, batch):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    loss = loss_fn(model, batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    assert loss.device == META and loss.shape == ()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_language_model_step(norm_first, positional):
    model = tl.DecoderOnlyLM(config(norm_first=norm_first, positional=positional, pad_id=None))
    x = ids()
    train_step(model.to(META), losses.lm_loss, (x, x))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_encoder_decoder_step_with_padding_and_label_smoothing(smoothing):
    model = tl.Transformer(config()).to(META)
    batch = Seq2SeqBatch(src=ids(), tgt_in=ids(S=5), tgt_out=ids(S=5))
    train_step(model, lambda m, b: losses.seq2seq_loss(m, b, smoothing), batch)


def test_masked_language_model_step():
    model = tl.MaskedLanguageModel(config()).to(META)
    inputs, labels = losses.mask_tokens(torch.randint(1, 40, (3, 7)), 1, 40)  # data, on the CPU
    train_step(model, losses.mlm_loss, (inputs.to(META), labels.to(META)))


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_classifier_step(pooling):
    model = task_heads.EncoderClassifier(config(), n_classes=4, pooling=pooling).to(META)
    labels = torch.randint(0, 4, (3,)).to(META)
    train_step(model, lambda m, b: F.cross_entropy(m(b), labels), ids())


def test_tagger_step_with_features():
    model = task_heads.EncoderTagger(config(), n_tags=9, n_features=5).to(META)
    features, labels = torch.randint(0, 5, (3, 7)).to(META), torch.randint(0, 9, (3, 7)).to(META)
    train_step(model, lambda m, b: task_heads.token_classification_loss(m(b, features), labels),
               ids())


def test_fit_reads_the_losses_only_after_its_steps():
    """fit on the meta device: every step runs; the first value read is the losses at the end."""
    model = tl.DecoderOnlyLM(config(pad_id=None)).to(META)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    drawn = []

    def get_batch(step):
        drawn.append(step)
        x = ids()
        return x, x

    steps = training.READ_EVERY - 1
    with pytest.raises(RuntimeError, match="meta"):  # the read at the end: meta has no values
        training.fit(model, optimizer, get_batch, losses.lm_loss, steps, progress=False)
    assert drawn == list(range(steps))
