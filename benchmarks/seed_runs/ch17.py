"""Chapter 17's induction heads over seeds: the page's recipe, seeding weights and batches.

``python -m benchmarks.seeds ch17 --seeds 3 --threads 1``. Each seed trains the page's two-layer
attention-only model (V = 64, T = 32, D = 64, 4 heads, positions in the queries and keys, AdamW
5e-3, 2000 steps of 32 sequences), the one-layer control with the same recipe, and the two-layer
model with its positions added to the residual stream instead. The validation and test sequences
are those of the page (seeds 1, 2 and 3) for every seed; the training batches change with it.
"""

from __future__ import annotations

import torch

import transformer_lib as tl
from transformer_lib import induction, losses, training

TITLE = "Chapter 17's induction heads, 3 seeds (weights and training batches)."
DIGITS = 2
NOTE = ("Losses in nats per token on the 200 validation sequences (first: tokens before the "
        "repeat; repeat: repeated tokens after the first), and on the 500 test sequences; "
        "log V = 4.16. prev and ind: the highest previous-token score in layer 0 and induction "
        "score in layer 1 on the 200 probe sequences; no prev, no ind: the validation repeat "
        "loss with that one head removed (zero ablation), no layer 1: with every head of layer 1 "
        "removed; phase: the first step (of every 100) at which the validation repeat loss is "
        "below 2; 1-layer: the one-layer control's repeat loss; residual: the two-layer model "
        "with positions in the residual stream, its repeat loss and its highest previous-token "
        "score in layer 0.")

V, T, D, H = 64, 32, 64, 4
STEPS, BATCH, LR, MIN_SEGMENT = 2000, 32, 5e-3, 4


def _train(n_layers, seed, val, positions="attention"):
    tl.seed_everything(seed)
    model = induction.AttentionOnlyTransformer(V, D, H, n_layers, T, positions=positions)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)

    def get_batch(step):
        ids, _ = induction.repeated_sequences(BATCH, T, V, seed=1000 + 10_000 * seed + step,
                                              min_segment=MIN_SEGMENT)
        return ids[:, :-1], ids[:, 1:]  # (B, T - 1) inputs, targets

    def evaluate(model):
        first, repeat = induction.split_losses(model, *val)
        return {"val first": first, "val repeat": repeat}

    history = training.fit(model, optimizer, get_batch, losses.lm_loss, STEPS, evaluate=evaluate,
                           eval_every=100, progress=False, log=False)
    return model.eval(), history


def run(seed: int) -> dict[str, float]:
    val = induction.repeated_sequences(200, T, V, seed=1, min_segment=MIN_SEGMENT)
    test = induction.repeated_sequences(500, T, V, seed=2, min_segment=MIN_SEGMENT)
    probe, _ = induction.repeated_sequences(200, T, V, seed=3)
    model, history = _train(2, seed, val)
    scores = induction.head_scores(model, probe)
    prev_head = (0, scores["previous token"][0].argmax().item())
    ind_head = (1, scores["induction"][1].argmax().item())
    repeats = history.evals["val repeat"]
    phase = next((s for s, r in zip(history.eval_steps, repeats) if r < 2.0), float("nan"))
    first, repeat = induction.split_losses(model, *val)
    one_layer, _ = _train(1, seed, val)
    residual, _ = _train(2, seed, val, positions="residual")
    return {
        "first": first,
        "repeat": repeat,
        "test repeat": induction.split_losses(model, *test)[1],
        "prev": scores["previous token"][0].max().item(),
        "ind": scores["induction"][1].max().item(),
        "no prev": induction.split_losses(model, *val, ablate=[prev_head])[1],
        "no ind": induction.split_losses(model, *val, ablate=[ind_head])[1],
        "no layer 1": induction.split_losses(model, *val, ablate=[(1, h) for h in range(H)])[1],
        "phase": phase,
        "1-layer": induction.split_losses(one_layer, *val)[1],
        "residual": induction.split_losses(residual, *val)[1],
        "residual prev": induction.head_scores(residual, probe)["previous token"][0].max().item(),
    }
