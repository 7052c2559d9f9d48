"""Chapter 9: the small GPT on Python's documentation, and a nanoGPT-style reference, over seeds.

The recipe of notebooks/09_text_generation.ipynb (corpus, split, tokenizer, sizes, optimizer,
schedule, steps), with the seed of the initialization and of the batches changed. The chapter
trains only ``tl.DecoderOnlyLM``; the reference GPT, built from PyTorch's own layers with
nanoGPT's initialization, is trained here only, with the same optimizer and batches.
"""

from __future__ import annotations

import math

import torch
from torch import nn

import transformer_lib as tl
from transformer_lib import losses, training
from transformer_lib.data import corpus

TITLE = ("Chapter 9: held-out loss (nats per token) of the chapter's GPT and of a nanoGPT-style "
         "reference, after 1000 steps of 32 windows of 64 tokens, by seed.")
NOTE = ("Seed s seeds the initialization and the batches; the corpus, its split and the "
        "tokenizer are the same for every seed. Each row trains both models on one core.")

VOCAB, CONTEXT, BATCH = 1024, 64, 32
STEPS, PEAK_LR, WARMUP = 1000, 4e-3, 50


def data():
    """Training, validation and test ids, as the chapter builds them."""
    raw = {**corpus.load_topics(), **corpus.load_docstrings()}
    texts = corpus.deduplicate_paragraphs(raw)
    rest, test = corpus.split_topics(texts, val_fraction=0.1, seed=0)
    train, val = corpus.split_topics(rest, val_fraction=0.1, seed=0)
    train_text = corpus.join_topics(train)
    tokenizer = corpus.train_tokenizer(train_text, vocab_size=VOCAB)
    encode = lambda text: torch.tensor(tokenizer.encode(text).ids)  # noqa: E731
    return encode(train_text), encode(corpus.join_topics(val)), encode(corpus.join_topics(test))


def config() -> tl.TransformerConfig:
    return tl.TransformerConfig(
        vocab_size=VOCAB, d_model=96, n_heads=4, d_ff=384, n_layers=3, dropout=0.0,
        max_len=CONTEXT, norm_first=True, activation="gelu", positional="learned", pad_id=None)


class ReferenceGPT(nn.Module):
    """nanoGPT's model from torch.nn parts: (B, T) ids -> (B, T, V) logits.

    nanoGPT's initialization: every matrix N(0, 0.02^2), the two residual projections of each
    layer (attention output, second feed-forward matrix) N(0, (0.02 / sqrt(2 N))^2), biases 0,
    token and position embeddings added without scaling.
    """

    def __init__(self, cfg):
        super().__init__()
        D = cfg.d_model
        self.token, self.position = nn.Embedding(cfg.vocab_size, D), nn.Embedding(cfg.max_len, D)
        layer = nn.TransformerEncoderLayer(D, cfg.n_heads, cfg.d_ff, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.final_norm, self.output = nn.LayerNorm(D), nn.Linear(D, cfg.vocab_size, bias=False)
        self.output.weight = self.token.weight  # tied, as GPT-2
        for name, weight in self.named_parameters():
            if name.endswith(("out_proj.weight", "linear2.weight")):  # residual projections
                nn.init.normal_(weight, std=0.02 / math.sqrt(2 * cfg.n_layers))
            elif weight.dim() == 2:
                nn.init.normal_(weight, std=0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(weight)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.token(ids) + self.position(torch.arange(T, device=ids.device))  # (B, T, D)
        blocked = ~tl.causal_mask(T, device=ids.device)  # PyTorch's polarity: True = blocked
        return self.output(self.final_norm(self.layers(x, mask=blocked, is_causal=True)))


def adamw(model: nn.Module) -> torch.optim.AdamW:
    """AdamW as nanoGPT sets it: weight decay 0.1 on matrices only, none on biases and norms."""
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": matrices, "weight_decay": 0.1},
                              {"params": others, "weight_decay": 0.0}],
                             lr=PEAK_LR, betas=(0.9, 0.99))


def warmup_cosine(step: int, steps: int = STEPS) -> float:
    """Learning-rate factor: linear warmup, then a cosine from 1 down to 0.1 at ``steps``."""
    if step < WARMUP:
        return (step + 1) / WARMUP
    progress = (step - WARMUP) / (steps - WARMUP)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def held_out(model, ids) -> float:
    inputs, targets = corpus.sequential_windows(ids, CONTEXT)
    return losses.held_out_lm_loss(model, inputs, targets, batch_size=len(inputs))


def run(seed: int) -> dict[str, float]:
    train_ids, val_ids, test_ids = data()
    row = {}
    for name, build in (("ours", tl.DecoderOnlyLM), ("nanoGPT-style", ReferenceGPT)):
        tl.seed_everything(seed)
        model = build(config())
        optimizer = adamw(model)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine)
        batches = corpus.RandomWindows(train_ids, batch_size=BATCH, context=CONTEXT, seed=seed)
        training.fit(model, optimizer, batches, losses.lm_loss, STEPS, scheduler=scheduler,
                     progress=False, log=False)
        row[f"{name}: validation"] = held_out(model, val_ids)
        row[f"{name}: test"] = held_out(model, test_ids)
    return row
