"""Fine-tuning pieces: dataset, dynamic padding, the seeded loader, parameter groups, schedule,
the sequence classifier and the cache of frozen layers."""

import pytest
import torch
import torch.nn.functional as F

from transformer_lib import Encoder, TransformerConfig, finetune, pretrained, training

CFG = TransformerConfig(vocab_size=20, d_model=16, n_heads=2, d_ff=32, n_layers=3, pad_id=0,
                        max_len=16, positional="learned")


def test_dataset_and_collate_pad_each_batch_to_its_longest():
    data = finetune.TextDataset([[5, 6, 7], [8], [9, 10]], [1, 0, 1])
    assert len(data) == 3 and data[1] == ([8], 0)
    ids, mask, labels = finetune.collate([data[0], data[1]], pad_id=3)
    assert ids.tolist() == [[5, 6, 7], [8, 3, 3]] and ids.dtype == torch.long
    assert mask.tolist() == [[True] * 3, [True, False, False]] and labels.tolist() == [1, 0]
    vectors, mask, _ = finetune.collate([(torch.ones(2, 4), 0), (torch.ones(1, 4), 1)])
    assert vectors.shape == (2, 2, 4) and vectors[1, 1].eq(0).all() and mask.sum() == 3
    with pytest.raises(ValueError, match="labels"):
        finetune.TextDataset([[1]], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        finetune.collate([])


def test_loader_batches_depend_on_the_step_alone():
    data = finetune.TextDataset([[i + 1] for i in range(10)], [i % 2 for i in range(10)])
    get_batch = finetune.loader_batches(data, 3, seed=1)
    in_order = [get_batch(step)[0].flatten().tolist() for step in range(7)]
    assert len({x for batch in in_order[:3] for x in batch}) == 9  # one epoch: no repeat
    resumed = finetune.loader_batches(data, 3, seed=1)
    assert [resumed(step)[0].flatten().tolist() for step in (5, 6, 2)] == [
        in_order[5], in_order[6], in_order[2]]
    other = finetune.loader_batches(data, 3, seed=2)
    assert [other(step)[0].flatten().tolist() for step in range(3)] != in_order[:3]
    with pytest.raises(ValueError, match="batch_size"):
        finetune.loader_batches(data, 11)
    with pytest.raises(ValueError, match="step"):
        get_batch(-1)


def test_param_groups_skip_biases_norms_and_frozen_parameters():
    model = finetune.SequenceClassifier(Encoder(CFG), 16, 3)
    for p in model.body.embedding.parameters():
        p.requires_grad_(False)
    decay, no_decay = finetune.param_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"])
    assert all(p.dim() == 1 for p in no_decay["params"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(decay["params"]) + len(no_decay["params"]) == len(trainable)
    norm = model.body.stack.layers[0].attn_block.norm.weight
    assert any(p is norm for p in no_decay["params"])


def test_warmup_then_linear_decay():
    factors = [finetune.warmup_linear(step, 4, 12) for step in range(12)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0] and factors[4] == 1.0
    assert factors[-1] == pytest.approx(1 / 8) and all(a >= b for a, b in zip(factors[3:],
                                                                              factors[4:]))
    with pytest.raises(ValueError, match="warmup"):
        finetune.warmup_linear(0, 12, 12)


def test_cached_lower_layers_give_the_full_encoder_output():
    torch.manual_seed(0)
    encoder = Encoder(CFG).eval()
    ids = [[1, 2, 3, 4], [5, 6], [7, 8, 9]]
    cached = finetune.frozen_features(encoder, ids, n_frozen=2)
    assert [c.shape for c in cached] == [(4, 16), (2, 16), (3, 16)]
    top = finetune.top_layers(encoder, 1).eval()
    x, mask, _ = finetune.collate([(c, 0) for c in cached])
    full_ids, _, _ = finetune.collate([(i, 0) for i in ids])
    with torch.no_grad():
        full = encoder(full_ids, mask.unsqueeze(1))
        torch.testing.assert_close(top(x, mask.unsqueeze(1))[mask], full[mask])
    assert top.layers[0] is not encoder.stack.layers[2]  # a copy: the encoder stays as it was
    tuned = finetune.SequenceClassifier(top, 16, 2).eval()
    whole = finetune.full_classifier(encoder, tuned).eval()
    with torch.no_grad():
        torch.testing.assert_close(whole(full_ids, mask), tuned(x, mask))
    with pytest.raises(ValueError, match="LayerStack"):
        finetune.full_classifier(encoder, finetune.SequenceClassifier(encoder, 16, 2))
    with pytest.raises(ValueError, match="n_top"):
        finetune.top_layers(encoder, 4)
    with pytest.raises(ValueError, match="n_frozen"):
        finetune.frozen_features(encoder, ids, 5)


def test_sequence_classifier_learns_a_toy_task_with_fit():
    torch.manual_seed(0)
    ids = [[1 + (i % 2)] * (2 + i % 3) for i in range(32)]
    data = finetune.TextDataset(ids, [i % 2 for i in range(32)])
    model = finetune.SequenceClassifier(Encoder(CFG), 16, 2, dropout=0.1)
    optimizer = torch.optim.AdamW(finetune.param_groups(model, 0.01), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: finetune.warmup_linear(step, 5, 60))

    def loss_fn(model, batch):
        x, mask, labels = batch
        return F.cross_entropy(model(x, mask), labels)

    history = training.fit(model, optimizer, finetune.loader_batches(data, 8), loss_fn, 60,
                           scheduler=scheduler, progress=False, log=False)
    assert history.losses[-1] < 0.1
    with pytest.raises(ValueError, match="mask"):
        model(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 1, 3, dtype=torch.bool))


def test_load_minilm_with_dropout():
    model = pretrained.load_minilm(dropout=0.1)
    assert not model.training and model.encoder.cfg.dropout == 0.1
    assert model.encoder.stack.layers[0].ffn.dropout.p == 0.1
    with pytest.raises(ValueError, match="dropout"):
        pretrained.load_minilm(dropout=1.5)
