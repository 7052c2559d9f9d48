"""Table 3: training throughput of the chapter 9 model, and its share of the machine's peak.

The peak is measured in the same run: the best float32 matrix-multiply rate of this machine
(``torch.mm`` of square matrices, several sizes, the fastest of several calls each, all cores).
The model is trained with ``transformer_lib.training.fit`` and ``losses.lm_loss``, as the
chapter does (gradient clipping, AdamW), on random token ids, alternating with the same
architecture built from PyTorch's modules.

A training step's work is counted the usual way (Kaplan et al. 2020; nanoGPT's MFU): a
multiply-add is 2 FLOPs, the backward pass costs twice the forward, so a step costs
``6 * tokens * N_matmul + 12 * layers * B * T^2 * D`` FLOPs, where N_matmul counts the weights of
the matrix products (Q, K, V, output and feed-forward projections, and the output layer); the
second term is attention's two (T x T) products, counted in full although half of them are masked.
"""

from __future__ import annotations

import time

import torch

import transformer_lib as tl
from transformer_lib import reference
from transformer_lib.history import History
from transformer_lib.losses import lm_loss
from transformer_lib.training import fit
from benchmarks.report import markdown_table
from benchmarks.timing import interleaved
from benchmarks.modules import CH9_LAYERS, CH9_VOCAB, lm_config, shapes

CH9_DROPOUT = 0.0  # as chapter 9 trains its model


def matmul_peak(sizes: tuple[int, ...], repeats: int) -> dict:
    """The best fp32 ``torch.mm`` rate of this machine, in FLOP/s, over square sizes."""
    rates = {}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
        rates[n] = 2 * n**3 / min(times)  # the best call: a peak, least disturbed by other work
    best = max(rates, key=rates.get)
    return {"flops": rates[best], "size": best, "by_size": rates}


def step_flops(cfg: tl.TransformerConfig, batch: int, length: int) -> float:
    """FLOPs of one training step (forward + backward) of a ``DecoderOnlyLM``."""
    D, F = cfg.d_model, cfg.d_ff
    n_matmul = cfg.n_layers * (4 * D * D + 2 * D * F) + cfg.vocab_size * D
    tokens = batch * length
    return 6 * tokens * n_matmul + 12 * cfg.n_layers * batch * length**2 * D


def run(quick: bool, log=print) -> dict:
    sizes, repeats = ((128, 256), 3) if quick else ((512, 1024, 2048), 7)
    peak = matmul_peak(sizes, repeats)
    log(f"Throughput: matmul peak {peak['flops'] / 1e9:.1f} GFLOP/s (n={peak['size']})")

    shape = shapes(quick)[1]
    torch.manual_seed(0)
    cfg = lm_config(shape, dropout=CH9_DROPOUT)
    ours = tl.DecoderOnlyLM(cfg)
    theirs = reference.torch_decoder_only_lm(ours)
    generator = torch.Generator().manual_seed(0)
    data = torch.randint(0, cfg.vocab_size, (8, shape.batch, shape.length + 1), generator=generator)

    def get_batch(step: int):
        chunk = data[step % len(data)]  # (B, T + 1)
        return chunk[:, :-1], chunk[:, 1:]  # inputs, targets shifted by one

    steps_per_call = 1 if quick else 5
    trainers = {}
    for name, model in (("ours", ours), ("theirs", theirs)):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        history = History()

        def train(model=model, optimizer=optimizer, history=history):
            fit(model, optimizer, get_batch, lm_loss, steps=history.step + steps_per_call,
                history=history, progress=False, log=False)
        trainers[name] = train
    rounds, min_time = (2, 0.0) if quick else (7, 1.0)
    timing = interleaved(trainers["ours"], trainers["theirs"], rounds=rounds, min_time=min_time,
                         warmup=1)
    flops = step_flops(cfg, shape.batch, shape.length)
    tokens = shape.batch * shape.length
    rows = []
    for name, label in (("ours", "`DecoderOnlyLM` (transformer_lib)"),
                        ("theirs", "same architecture from `nn.TransformerEncoderLayer`")):
        step_s = timing.median(name) / steps_per_call
        rows.append({"model": label, "step_s": step_s, "tokens_per_s": tokens / step_s,
                     "flops_per_s": flops / step_s, "fraction": flops / step_s / peak["flops"]})
        log(f"  {label}: {step_s * 1000:.1f} ms per step, {tokens / step_s:,.0f} tokens/s")
    params = tl.count_parameters(ours)
    config = (f"chapter 9 model: {CH9_LAYERS} layers, D={shape.d_model}, H={shape.n_heads}, "
              f"F={shape.d_ff}, context {shape.length}, V={CH9_VOCAB}, dropout {CH9_DROPOUT}, "
              f"pre-LN, GELU, learned positions, {params:,} parameters; batch {shape.batch} "
              f"({tokens} tokens per step); {flops / 1e9:.2f} GFLOP per step")
    return {"peak": peak, "rows": rows, "config": config, "ratio": timing.ratio,
            "markdown": table(rows, peak), "flops_per_step": flops}


def table(rows: list[dict], peak: dict) -> str:
    body = [[r["model"], f"{r['step_s'] * 1000:.1f}", f"{r['tokens_per_s']:,.0f}",
             f"{r['flops_per_s'] / 1e9:.1f}", f"{100 * r['fraction']:.0f} %"] for r in rows]
    body.append(["matrix-multiply peak of this machine (`torch.mm`, float32, "
                 f"{peak['size']}x{peak['size']})", "", "", f"{peak['flops'] / 1e9:.1f}", "100 %"])
    return markdown_table(["model", "training step (ms, median)", "tokens per second",
                           "GFLOP/s", "fraction of the matmul peak"], body)
