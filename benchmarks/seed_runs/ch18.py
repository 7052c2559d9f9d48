"""Chapter 18: an LSTM and a Transformer of the same size, same data, same steps, over seeds.

The recipe of notebooks/18_transformers_vs_rnns.ipynb: chapter 9's corpus, split and tokenizer,
the Transformer of chapter 9 and an LSTM sized to its parameter count, each at the learning rate
the chapter chose on validation, trained on the same batches. The chapter trains 300 steps (what
its time budget allows; it continues the winning run of its learning-rate grid, which draws the
same batches with the same optimizer and schedule as training straight on). Here each run goes on
to 1000 steps, about a million tokens as in chapter 9: with a constant rate after the warm-up,
its first 300 steps are exactly the chapter's run. Reported: validation loss at 300 and 1000
steps, test loss at 1000, validation loss at equal training time, time per training step at
T = 64 and T = 256 (same tokens per batch), and the recall probe's validation accuracy.
"""

from __future__ import annotations

import functools
import statistics
import time

import torch

from benchmarks.seed_runs import ch09
import transformer_lib as tl
from transformer_lib import losses, training
from transformer_lib.data import corpus, recall
from transformer_lib.recurrent import LSTMLanguageModel, lstm_hidden_for

TITLE = ("Chapter 18: an LSTM and a Transformer (TF) of the same size on chapter 9's text, "
         "16 windows of 64 tokens per step; step times; the recall probe; by seed.")
NOTE = ("Seed s seeds the initialization, the batches and the probe's training sequences; corpus, "
        "split, tokenizer and learning rates are the same for every seed. Losses in nats per "
        "token after 300 or 1000 steps; 'eq. time': validation loss (32 windows) of each model "
        "at the last evaluation within the 1000-step training time of the faster one; ms: one "
        "training step on 2048 tokens, one thread; probe: accuracy at distance k, 500 "
        "validation sequences.")
DIGITS = 3

VOCAB, CONTEXT, BATCH, STEPS, WARMUP, EVAL_EVERY = 1024, 64, 16, 300, 20, 25
LONG_STEPS = 1000
RATES = {"LSTM": 1e-2, "Transformer": 1e-2}  # chosen on validation in the chapter
PROBE_LENGTH, PROBE_DISTANCES, PROBE_SYMBOLS = 34, (1, 2, 4, 8, 16, 32), 16
PROBE_STEPS, PROBE_BATCH, PROBE_RATE, PROBE_N = 300, 32, 3e-3, 500


# Chapter 9's training, validation and test ids (the same corpus, split and tokenizer), built once.
data = functools.cache(ch09.data)


def transformer_config(vocab=VOCAB, d_model=96, n_layers=3, max_len=CONTEXT):
    return tl.TransformerConfig(
        vocab_size=vocab, d_model=d_model, n_heads=4, d_ff=4 * d_model, n_layers=n_layers,
        dropout=0.0, max_len=max_len, norm_first=True, activation="gelu", positional="learned",
        pad_id=None)


def build(name, vocab=VOCAB, d_model=96, n_layers=3, max_len=CONTEXT):
    """The Transformer, or the one-layer LSTM with (within 0.2 %) its parameter count."""
    cfg = transformer_config(vocab, d_model, n_layers, max_len)
    if name == "Transformer":
        return tl.DecoderOnlyLM(cfg)
    target = tl.count_parameters(tl.DecoderOnlyLM(cfg))
    return LSTMLanguageModel(vocab, d_model, lstm_hidden_for(target, vocab, d_model), n_layers=1)


def warmup_constant(step):
    return min(1.0, (step + 1) / WARMUP)


def held_out(model, ids, windows=None):
    inputs, targets = corpus.sequential_windows(ids, CONTEXT)
    return losses.held_out_lm_loss(model, inputs[:windows], targets[:windows], batch_size=256)


class TimedStep:
    """``step_fn`` for ``training.fit`` that adds up the seconds spent in training steps."""

    def __init__(self):
        self.seconds, self.elapsed = 0.0, []

    def __call__(self, *args):
        start = time.perf_counter()
        loss = training.train_step(*args)
        self.seconds += time.perf_counter() - start
        self.elapsed.append(self.seconds)
        return loss


def train_lm(name, seed, train_ids, val_ids):
    """Train to STEPS, measure, go on to LONG_STEPS: the model, its history, its clock and the
    full validation loss at STEPS."""
    tl.seed_everything(seed)
    model = build(name)
    optimizer = torch.optim.AdamW(model.parameters(), lr=RATES[name], betas=(0.9, 0.99))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_constant)
    batches = corpus.RandomWindows(train_ids, BATCH, CONTEXT, seed=seed)
    clock, history = TimedStep(), None
    for steps in (STEPS, LONG_STEPS):
        history = training.fit(
            model, optimizer, batches, losses.lm_loss, steps, scheduler=scheduler,
            evaluate=lambda m: {"val": held_out(m, val_ids, windows=32)},
            eval_every=EVAL_EVERY, history=history, progress=False, log=False, step_fn=clock)
        if steps == STEPS:
            val_short = held_out(model, val_ids)
    return model, history, clock, val_short


def step_ms(model, context, repeats=3):
    """Median milliseconds of a training step on 2048 tokens (B = 2048 / T), after a warm-up."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, VOCAB, (2048 // context, context + 1))
    batch = (ids[:, :-1], ids[:, 1:])
    training.train_step(model, batch, losses.lm_loss, optimizer)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        training.train_step(model, batch, losses.lm_loss, optimizer)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def probe(name, seed):
    """Validation accuracy of a briefly trained probe model at distances 4 and 8."""
    vocab = PROBE_SYMBOLS + len(PROBE_DISTANCES)
    tl.seed_everything(seed)
    model = build(name, vocab, d_model=48, n_layers=2, max_len=PROBE_LENGTH)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PROBE_RATE)
    batches = recall.RecallBatches(PROBE_BATCH, PROBE_LENGTH, PROBE_DISTANCES, PROBE_SYMBOLS,
                                   seed=100 + seed)
    training.fit(model, optimizer, batches, losses.lm_loss, PROBE_STEPS, progress=False,
                 log=False)
    return {k: recall.recall_accuracy(model, PROBE_LENGTH, PROBE_DISTANCES, k, PROBE_N,
                                      PROBE_SYMBOLS, seed=1) / PROBE_N for k in (4, 8)}


def run(seed: int) -> dict[str, float]:
    train_ids, val_ids, test_ids = data()
    runs = {name: train_lm(name, seed, train_ids, val_ids) for name in RATES}
    budget = min(clock.seconds for _, _, clock, _ in runs.values())  # the faster run's time
    short = {"LSTM": "LSTM", "Transformer": "TF"}
    row = {}
    for name, (_, _, _, val_short) in runs.items():
        row[f"{short[name]} val {STEPS}"] = val_short
    for name, (model, _, _, _) in runs.items():
        row[f"{short[name]} val {LONG_STEPS}"] = held_out(model, val_ids)
    for name, (model, _, _, _) in runs.items():
        row[f"{short[name]} test {LONG_STEPS}"] = held_out(model, test_ids)
    for name, (_, history, clock, _) in runs.items():
        in_time = [v for s, v in zip(history.eval_steps, history.evals["val"])
                   if clock.elapsed[s - 1] <= budget * 1.0001]
        row[f"{short[name]} val eq. time"] = in_time[-1]
    for context in (64, 256):
        for name in RATES:
            tl.seed_everything(seed)
            model = build(name, max_len=256) if name == "Transformer" else build(name)
            row[f"{short[name]} ms T={context}"] = step_ms(model, context)
    accuracy = {name: probe(name, seed) for name in RATES}
    for k in (4, 8):
        for name in RATES:
            row[f"{short[name]} probe k={k}"] = accuracy[name][k]
    return row
