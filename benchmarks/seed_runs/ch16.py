"""Chapter 16: GPT-2's decoder and each change since, one at a time, at chapter 9's recipe, by seed.

Every variant is ``modern_lm.ModernLM(cfg, switches)`` with chapter 9's sizes, trained on chapter
9's corpus, tokenizer, batches, AdamW and schedule shape for 500 steps, half of chapter 9's 1000, so
that the 24 trainings fit in about twenty minutes (the same tokens for every variant). The page
trains only the first and the last, for fewer steps; this script trains all eight.
"""

from __future__ import annotations

import dataclasses
import functools

import torch
import torch.nn.functional as F

from benchmarks.seed_runs import ch09
import transformer_lib as tl
from transformer_lib import losses, training
from transformer_lib.data import corpus
from transformer_lib.modern_lm import GPT2, LLAMA, ModernLM

TITLE = ("Chapter 16: validation and test loss (nats per token) of each variant after 500 steps "
         "of chapter 9's recipe, and the loss on positions 64-255 of 256-token validation "
         "windows, by seed.")
NOTE = ("Seed s seeds the initialization and the batches; corpus, split and tokenizer are the "
        "same for every seed. 'past 64' = mean loss at positions 64 to 255 of windows of 256 "
        "validation tokens, for the position schemes that can run past the trained T = 64.")

VARIANTS = {  # name -> switches; each changes one thing from GPT-2, the last all of them
    "GPT-2": GPT2,
    "RMSNorm": dataclasses.replace(GPT2, norm="rms"),
    "RoPE": dataclasses.replace(GPT2, positions="rope"),
    "sinusoidal": dataclasses.replace(GPT2, positions="sinusoidal"),
    "SwiGLU": dataclasses.replace(GPT2, ffn="swiglu"),
    "no biases": dataclasses.replace(GPT2, bias=False),
    "GQA": dataclasses.replace(GPT2, n_kv_heads=2),
    "Llama-style": LLAMA,
}
LONG = 256  # the evaluation windows of the extrapolation test
EXTRAPOLATE = ("RoPE", "sinusoidal", "Llama-style")
STEPS = 500  # chapter 9 trains for 1000


@torch.no_grad()
def loss_per_position(model, ids, context: int, batch_size: int = 16) -> torch.Tensor:
    """Mean next-token loss at each position of the windows of ``ids``: ``(context,)``."""
    inputs, targets = corpus.sequential_windows(ids, context)  # (W, T) each
    model.eval()
    total = torch.zeros(context)
    for i in range(0, len(inputs), batch_size):
        logits = model(inputs[i : i + batch_size])  # (b, T, V)
        total += F.cross_entropy(logits.transpose(1, 2), targets[i : i + batch_size],
                                 reduction="none").sum(0)
    return total / len(inputs)


def train(switches, seed: int, train_ids, steps: int = STEPS) -> ModernLM:
    """Chapter 9's recipe for ``ModernLM(ch09.config(), switches)``, its cosine over ``steps``."""
    tl.seed_everything(seed)
    model = ModernLM(ch09.config(), switches)
    optimizer = ch09.adamw(model)
    schedule = functools.partial(ch09.warmup_cosine, steps=steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    batches = corpus.RandomWindows(train_ids, batch_size=ch09.BATCH, context=ch09.CONTEXT,
                                   seed=seed)
    training.fit(model, optimizer, batches, losses.lm_loss, steps, scheduler=scheduler,
                 progress=False, log=False)
    return model


def run(seed: int) -> dict[str, float]:
    train_ids, val_ids, test_ids = ch09.data()
    validation, test, past = {}, {}, {}
    for name, switches in VARIANTS.items():
        model = train(switches, seed, train_ids)
        validation[f"{name}: val"] = ch09.held_out(model, val_ids)
        test[f"{name}: test"] = ch09.held_out(model, test_ids)  # once, after training
        if name in EXTRAPOLATE:
            past[f"{name}: past 64"] = loss_per_position(model, val_ids, LONG)[64:].mean().item()
    return {**validation, **test, **past}
