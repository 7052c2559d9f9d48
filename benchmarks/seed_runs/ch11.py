"""Chapter 11's tagger over seeds: entity F1 on the validation templates, on new sentences of the
training templates and, once, on the test templates; and what each augmentation is worth on the
validation templates.

The recipe, constants and library calls are those of ``notebooks/11_named_entities.ipynb``; the
seed changes the model's initialization, its dropout, the order of the batches, which sentences
are joined and which words are dropped (seed 0 is the page's own run). The split by template is
the page's (seed 2) in every row. The two ablations train the same model without word dropout and
without joined sentences, and are scored on the validation templates only.
"""

from __future__ import annotations

import math

import torch

import transformer_lib as tl
from transformer_lib import data, task_heads, training
from transformer_lib.data import entities, spans, tagging

TITLE = ("Chapter 11: entity-level F1 of the Transformer tagger over seeds, and the validation F1 "
         "without each augmentation.")
NOTE = ("Columns: F1 on the 16 validation templates, on 1 000 new sentences of the training "
        "templates (seen) and on the 18 test templates, after 1 000 steps; then the validation F1 "
        "of the same recipe without word dropout (P_CONTEXT = P_ENTITY = 0) and without joined "
        "sentences (fraction 0). Only the model changes with the seed; the data are the page's.")

STEPS, WARMUP, PEAK_LR = 1000, 100, 2e-3
P_CONTEXT, P_ENTITY, JOINED = 0.4, 0.15, 0.5
_CACHE: dict = {}


def _setup() -> dict:
    if not _CACHE:
        ner = entities.ner_splits(n_train=8000, n_test=1000, n_test_templates=18, seed=2,
                                  n_valid=1000, n_valid_templates=16)
        vocab = tagging.word_vocab(ner.train, min_freq=2)
        cfg = tl.TransformerConfig(vocab_size=len(vocab), d_model=64, n_heads=4, d_ff=256,
                                   n_layers=2, dropout=0.1, max_len=64, positional="learned")
        seen = entities.make_sentences(ner.train_templates, 1000, seed=7)
        _CACHE.update(ner=ner, vocab=vocab, cfg=cfg, seen=seen)
    return _CACHE


def _f1(model, sentences, vocab) -> float:
    model.eval()
    with torch.no_grad():
        batch = tagging.encode_batch(sentences, vocab)
        pred = tagging.decode_tags(model(batch.ids, batch.shapes).argmax(-1), batch.lengths)
    return spans.span_scores([s.tags for s in sentences], pred)["f1"]


def warmup_cosine(step: int) -> float:
    """The page's learning-rate factor: linear warmup, then a cosine down to 0."""
    if step < WARMUP:
        return (step + 1) / WARMUP
    return 0.5 * (1 + math.cos(math.pi * (step - WARMUP) / (STEPS - WARMUP)))


def train(seed: int, p_context: float = P_CONTEXT, p_entity: float = P_ENTITY,
          joined: float = JOINED) -> torch.nn.Module:
    c = _setup()
    ner, vocab, cfg = c["ner"], c["vocab"], c["cfg"]
    train_sentences = entities.concatenate_pairs(ner.train, fraction=joined, seed=seed)
    sampler = data.BatchSampler(len(train_sentences), batch_size=32, seed=seed)

    def get_batch(step):
        batch = tagging.encode_batch([train_sentences[i] for i in sampler.indices(step)], vocab)
        p = torch.where(batch.labels == tagging.TAG_IDS["O"], p_context, p_entity)  # (B, S)
        stream = torch.Generator().manual_seed(1_000_000 * seed + step)  # seed 0: the page's
        batch.ids = tagging.word_dropout(batch.ids, p, vocab.unk_id, vocab.pad_id,
                                         generator=stream)
        return batch

    def tagging_loss(model, batch):
        return task_heads.token_classification_loss(model(batch.ids, batch.shapes), batch.labels)

    tl.seed_everything(seed)
    model = task_heads.EncoderTagger(cfg, len(entities.TAGS), n_features=len(tagging.SHAPES))
    optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, betas=(0.9, 0.98), eps=1e-9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine)
    training.fit(model, optimizer, get_batch, tagging_loss, STEPS, scheduler=scheduler,
                 progress=False, log=False)
    return model


def run(seed: int) -> dict[str, float]:
    c = _setup()
    ner, vocab = c["ner"], c["vocab"]
    model = train(seed)
    row = {"valid": _f1(model, ner.valid, vocab), "seen": _f1(model, c["seen"], vocab),
           "test": _f1(model, ner.test, vocab)}
    row["valid, no word dropout"] = _f1(train(seed, p_context=0.0, p_entity=0.0), ner.valid, vocab)
    row["valid, no joining"] = _f1(train(seed, joined=0.0), ner.valid, vocab)
    return row
