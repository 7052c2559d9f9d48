"""What sits on top of an encoder (chapters 10 and 11): pooling, heads, classifier, tagger, loss.

Each part is compared with a plain PyTorch computation (a loop, ``nn.Linear``, ``F.cross_entropy``)
or with ``Encoder`` and the head run by hand, and padding is checked to change nothing.
"""

import re

import pytest
import torch
import torch.nn.functional as F

import transformer_lib as tl
from transformer_lib import task_heads

CFG = tl.TransformerConfig(vocab_size=30, d_model=16, n_heads=2, d_ff=32, n_layers=2, dropout=0.0,
                           max_len=20, positional="learned")


def batch_with_padding(seed=0):
    """Token ids (B, S) with right padding (id 0) and their lengths."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([6, 3, 1])
    ids = torch.randint(1, CFG.vocab_size, (3, 6), generator=generator)
    ids[torch.arange(6) >= lengths.unsqueeze(1)] = 0
    return ids, lengths


# --- pooling -------------------------------------------------------------------------------------


def test_mean_pool_is_the_mean_over_the_real_tokens():
    h = torch.randn(3, 5, 4)
    lengths = torch.tensor([5, 2, 1])
    mask = tl.padding_mask(lengths, 5)  # (B, 1, S)
    by_loop = torch.stack([h[b, : lengths[b]].mean(0) for b in range(3)])
    torch.testing.assert_close(task_heads.mean_pool(h, mask), by_loop)
    torch.testing.assert_close(task_heads.mean_pool(h, mask[:, 0]), by_loop)  # (B, S) works too
    torch.testing.assert_close(task_heads.mean_pool(h), h.mean(1))  # no mask: every position
    empty = torch.zeros(3, 5, dtype=torch.bool)  # no real token: zero vectors, not a division by 0
    assert torch.equal(task_heads.mean_pool(h, empty), torch.zeros(3, 4))


@pytest.mark.parametrize("mask, message", [
    (torch.ones(3, 5), "must be a bool tensor"),
    (torch.ones(3, 4, dtype=torch.bool), "expected one entry per token"),
    (torch.ones(3, 2, 5, dtype=torch.bool), r"shape \(B, 1, S\)"),
])
def test_mean_pool_errors(mask, message):
    with pytest.raises(ValueError, match=message):
        task_heads.mean_pool(torch.randn(3, 5, 4), mask)


def test_pool_input_errors():
    with pytest.raises(ValueError, match=r"h must have shape \(B, S, D\)"):
        task_heads.mean_pool(torch.randn(5, 4))
    with pytest.raises(ValueError, match="floating-point"):
        task_heads.mean_pool(torch.ones(2, 5, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="h must be a torch.Tensor"):
        task_heads.cls_pool([[1.0]])
    with pytest.raises(ValueError, match="S=0"):
        task_heads.cls_pool(torch.randn(2, 0, 4))


def test_cls_pool_reads_position_zero():
    h = torch.randn(2, 5, 4)
    torch.testing.assert_close(task_heads.cls_pool(h), h[:, 0])


# --- heads ---------------------------------------------------------------------------------------


def test_classification_head_is_a_linear_layer():
    head = task_heads.ClassificationHead(8, 3).eval()
    x = torch.randn(4, 8)
    torch.testing.assert_close(head(x), F.linear(x, head.proj.weight, head.proj.bias))
    assert head(x).shape == (4, 3)


def test_token_classification_head_is_the_same_linear_layer_at_every_position():
    head = task_heads.TokenClassificationHead(8, 9).eval()
    h = torch.randn(2, 5, 8)
    out = head(h)
    assert out.shape == (2, 5, 9)
    for s in range(5):
        torch.testing.assert_close(out[:, s], F.linear(h[:, s], head.proj.weight, head.proj.bias))


@pytest.mark.parametrize("make, message", [
    (lambda: task_heads.ClassificationHead(8, 0), "n_classes=0"),
    (lambda: task_heads.ClassificationHead(8, 3, dropout=1.0), "dropout=1.0"),
    (lambda: task_heads.ClassificationHead(8, 3)(torch.randn(2, 5, 8)),
     r"x must have shape \(B, D\)"),
    (lambda: task_heads.ClassificationHead(8, 3)(torch.randn(2, 6)), "expected d_model=8"),
    (lambda: task_heads.TokenClassificationHead(0, 3), "d_model=0"),
    (lambda: task_heads.TokenClassificationHead(8, 3)(torch.randn(2, 8)),
     r"h must have shape \(B, S, D\)"),
    (lambda: task_heads.TokenClassificationHead(8, 3)(torch.randn(2, 5, 6)), "expected d_model=8"),
])
def test_head_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- the sequence classifier of chapter 10 -------------------------------------------------------


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_encoder_classifier_is_encoder_pooling_and_head(pooling):
    torch.manual_seed(0)
    model = task_heads.EncoderClassifier(CFG, n_classes=4, pooling=pooling).eval()
    ids, lengths = batch_with_padding()
    mask = (ids != 0).unsqueeze(1)
    h = model.encoder(ids, mask)
    pooled = task_heads.cls_pool(h) if pooling == "cls" else task_heads.mean_pool(h, mask)
    torch.testing.assert_close(model(ids), model.head(pooled))
    assert model(ids).shape == (3, 4)
    # padding changes nothing: each sequence alone, without padding, gets the same logits
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(model(ids[b : b + 1, :n]), model(ids)[b : b + 1])


def test_encoder_classifier_errors():
    with pytest.raises(ValueError, match="pooling='max'"):
        task_heads.EncoderClassifier(CFG, 3, pooling="max")
    with pytest.raises(ValueError, match=r"ids must have shape \(B, S\)"):
        task_heads.EncoderClassifier(CFG, 3)(torch.ones(4, dtype=torch.long))


# --- the tagger of chapter 11 --------------------------------------------------------------------


def test_tagger_without_features_is_encoder_then_head():
    torch.manual_seed(1)
    tagger = task_heads.EncoderTagger(CFG, n_tags=9).eval()
    ids, _ = batch_with_padding()
    expected = tagger.head(tagger.encoder(ids))  # the encoder masks the padding itself
    torch.testing.assert_close(tagger(ids), expected)
    assert tagger(ids).shape == (3, 6, 9)
    assert isinstance(tagger.encoder.embedding, tl.TransformerEmbedding)  # the paper's, no features


def test_tagger_features_are_added_to_the_word_embeddings():
    torch.manual_seed(2)
    tagger = task_heads.EncoderTagger(CFG, n_tags=9, n_features=5).eval()
    plain = task_heads.EncoderTagger(CFG, n_tags=9).eval()
    plain.encoder.stack.load_state_dict(tagger.encoder.stack.state_dict())
    plain.encoder.embedding.load_state_dict(tagger.encoder.embedding.words.state_dict())
    plain.head.load_state_dict(tagger.head.state_dict())
    ids, _ = batch_with_padding()
    features = torch.randint(0, 5, ids.shape)
    assert not torch.allclose(tagger(ids, features), plain(ids))
    with torch.no_grad():  # with all-zero feature vectors the tagger is the plain one
        tagger.encoder.embedding.feature.weight.zero_()
    torch.testing.assert_close(tagger(ids, features), plain(ids))
    with torch.no_grad():  # feature 1 = sqrt(D) (w7 - w3) turns word 3 into word 7 (sqrt(16) = 4)
        words = tagger.encoder.embedding.words.token.table
        feature = tagger.encoder.embedding.feature
        feature.weight.copy_(torch.zeros(5, CFG.d_model))
        feature.weight[1] = (words.weight[7] - words.weight[3]) * 4
    swapped = ids.clone()
    swapped[0, 0] = 3
    one = torch.zeros_like(ids)
    one[0, 0] = 1
    torch.testing.assert_close(tagger(swapped, one)[0],
                               plain(swapped.masked_fill(one.bool(), 7))[0])


def test_tagger_ignores_the_padding():
    torch.manual_seed(3)
    tagger = task_heads.EncoderTagger(CFG, n_tags=9, n_features=5).eval()
    ids, lengths = batch_with_padding()
    features = torch.randint(0, 5, ids.shape).masked_fill(ids == 0, 0)
    together = tagger(ids, features)
    for b, n in enumerate(lengths.tolist()):
        alone = tagger(ids[b : b + 1, :n], features[b : b + 1, :n])
        torch.testing.assert_close(together[b : b + 1, :n], alone)


@pytest.mark.parametrize("call, message", [
    (lambda t, ids: t(ids), "features is None, but the tagger has n_features=5"),
    (lambda t, ids: t(ids, torch.zeros(3, 4, dtype=torch.long)), r"expected ids' shape \(3, 6\)"),
    (lambda t, ids: t(ids, torch.full(ids.shape, 5)), "features holds token id 5"),
    (lambda t, ids: t(ids, torch.zeros(ids.shape)), "features must hold integer"),
    (lambda t, ids: t(ids[0], torch.zeros_like(ids[0])), r"ids must have shape \(B, S\)"),
])
def test_tagger_errors(call, message):
    tagger = task_heads.EncoderTagger(CFG, n_tags=9, n_features=5)
    ids, _ = batch_with_padding()
    with pytest.raises(ValueError, match=message):
        call(tagger, ids)


def test_tagger_construction_errors():
    with pytest.raises(ValueError, match="features were given"):
        task_heads.EncoderTagger(CFG, 9)(*[batch_with_padding()[0]] * 2)
    for bad in (-1, 2.0, True):
        with pytest.raises(ValueError, match="n_features="):
            task_heads.EncoderTagger(CFG, 9, n_features=bad)
    with pytest.raises(ValueError, match="n_tags=0"):
        task_heads.EncoderTagger(CFG, 0)


def test_token_classification_loss_is_cross_entropy_over_real_tokens():
    logits = torch.randn(2, 4, 9)
    labels = torch.tensor([[1, 0, 3, -100], [8, -100, -100, -100]])
    real = labels != -100
    by_hand = -logits[real].log_softmax(-1).gather(1, labels[real].unsqueeze(1)).mean()
    torch.testing.assert_close(task_heads.token_classification_loss(logits, labels), by_hand)
    torch.testing.assert_close(task_heads.token_classification_loss(logits, labels),
                               F.cross_entropy(logits.transpose(1, 2), labels))
    shifted = labels.masked_fill(~real, 0)  # padding marked 0 instead
    torch.testing.assert_close(task_heads.token_classification_loss(logits, shifted,
                                                                    ignore_index=0),
                               -logits[shifted != 0].log_softmax(-1)
                               .gather(1, shifted[shifted != 0].unsqueeze(1)).mean())


@pytest.mark.parametrize("logits, labels, message", [
    (torch.randn(2, 4), torch.zeros(2, dtype=torch.long),
     r"logits must have shape \(B, S, n_tags\)"),
    (torch.randn(2, 4, 9), torch.zeros(2, 3, dtype=torch.long),
     re.escape("expected logits' (B, S)")),
    (torch.randn(2, 4, 9), torch.zeros(2, 4), "integer tag ids"),
    (torch.randn(2, 4, 9), torch.full((2, 4), -100), "no token to score"),
])
def test_token_classification_loss_errors(logits, labels, message):
    with pytest.raises(ValueError, match=message):
        task_heads.token_classification_loss(logits, labels)


def test_a_tagger_overfits_a_tiny_batch():
    torch.manual_seed(4)
    tagger = task_heads.EncoderTagger(CFG, n_tags=5, n_features=3)
    ids, _ = batch_with_padding(seed=5)
    features = (ids % 3).masked_fill(ids == 0, 0)
    labels = (ids % 5).masked_fill(ids == 0, -100)
    optimizer = torch.optim.Adam(tagger.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = task_heads.token_classification_loss(tagger(ids, features), labels)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05 < first
    tagger.eval()
    predicted = tagger(ids, features).argmax(-1)
    assert torch.equal(predicted[labels != -100], labels[labels != -100])
