"""Chapter 10's classifiers over seeds: validation accuracy of the encoder with each pooling,
after a shorter run, and on half the training names, beside the n-gram baseline.

The recipe, constants and library calls are those of ``notebooks/10_classification.ipynb``; the
seed changes the encoder's initialization, the dropout and the order of the batches (seed 0 is the
page's own run). The data split is the page's (seed 0) in every row. Only validation names are
scored: the test names are the page's, used once.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

import transformer_lib as tl
from transformer_lib import data, task_heads, training
from transformer_lib.data import name_origins

TITLE = ("Chapter 10: validation accuracy of the name classifiers, and the n-gram baseline's "
         "lead over the mean-pooling encoder (gap), with all and with half the training names.")
NOTE = ("Columns: the encoder with mean and [CLS] pooling (1 600 steps); mean pooling after a "
        "1 000-step run; mean pooling on half the training names (800 steps, the same passes); "
        "the baseline's validation accuracy minus the encoder's, with all and with half the names. "
        "The baseline is deterministic: only the encoder changes with the seed.")

STEPS, BATCH, POOL, WARMUP, PEAK_LR, WEIGHT_DECAY = 1600, 64, 8, 100, 2e-3, 0.1


def _setup():
    name_data = name_origins.load_names(name_origins.LOCALES, per_language=600, test_fraction=0.2,
                                        seed=0)
    train_names, valid_names = name_origins.split_validation(name_data.train, 800, seed=0)
    vocab = name_origins.Vocab(char for name, _ in train_names for char in name)
    cfg = tl.TransformerConfig(vocab_size=len(vocab), d_model=64, n_heads=4, d_ff=256,
                               n_layers=2, dropout=0.2, max_len=32, positional="learned")
    return train_names, valid_names, vocab, cfg, len(name_data.languages)


def baseline_accuracy(train_pairs, valid_pairs) -> float:
    """The page's n-gram baseline, fitted on ``train_pairs``, scored on ``valid_pairs``."""
    vectorizer = CountVectorizer(analyzer="char_wb", ngram_range=(1, 3), lowercase=False)
    x_train = vectorizer.fit_transform([name for name, _ in train_pairs])
    model = LogisticRegression(max_iter=2000).fit(x_train, [label for _, label in train_pairs])
    predicted = model.predict(vectorizer.transform([name for name, _ in valid_pairs]))
    return float((predicted == np.array([label for _, label in valid_pairs])).mean())


def warmup_cosine(step: int, steps: int) -> float:
    if step < WARMUP:
        return (step + 1) / WARMUP
    return 0.5 * (1 + math.cos(math.pi * (step - WARMUP) / (steps - WARMUP)))


def train_and_score(setup, pooling: str, pairs, steps: int, seed: int) -> float:
    """The page's ``train_classifier`` with ``seed``; the validation accuracy at the end."""
    _, valid_names, vocab, cfg, n_classes = setup
    add_cls = pooling == "cls"
    train_ids = [vocab.encode(name, add_cls) for name, _ in pairs]
    labels = torch.tensor([label for _, label in pairs])
    sampler = data.BatchSampler(len(train_ids), BATCH * POOL, seed=seed)

    def get_batch(step):
        pool = sorted(sampler.indices(step // POOL), key=lambda i: len(train_ids[i]))
        part = random.Random(seed * 1_000_003 + step // POOL).sample(range(POOL), POOL)[step % POOL]
        rows = pool[part * BATCH : (part + 1) * BATCH]
        return data.pad_sequences([train_ids[i] for i in rows], vocab.pad_id), labels[rows]

    def loss_fn(model, batch):
        ids, batch_labels = batch
        return F.cross_entropy(model(ids), batch_labels)

    tl.seed_everything(seed)
    model = task_heads.EncoderClassifier(cfg, n_classes, pooling)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, betas=(0.9, 0.98), eps=1e-9,
                                  weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                  lambda step: warmup_cosine(step, steps))
    training.fit(model, optimizer, get_batch, loss_fn, steps, scheduler=scheduler,
                 progress=False, log=False)
    model.eval()
    valid_ids = data.pad_sequences([vocab.encode(name, add_cls) for name, _ in valid_names],
                                   vocab.pad_id)
    valid_labels = torch.tensor([label for _, label in valid_names])
    with torch.no_grad():
        return (model(valid_ids).argmax(-1) == valid_labels).float().mean().item()


def run(seed: int) -> dict[str, float]:
    setup = _setup()
    train_names, valid_names = setup[0], setup[1]
    half_names = train_names[: len(train_names) // 2]  # shuffled names: a random half
    mean = train_and_score(setup, "mean", train_names, STEPS, seed)
    cls = train_and_score(setup, "cls", train_names, STEPS, seed)
    short = train_and_score(setup, "mean", train_names, 1000, seed)
    half = train_and_score(setup, "mean", half_names, STEPS // 2, seed)
    return {"mean": mean, "[CLS]": cls, "mean, 1000 steps": short, "mean, half the names": half,
            "gap": baseline_accuracy(train_names, valid_names) - mean,
            "gap, half the names": baseline_accuracy(half_names, valid_names) - half}
