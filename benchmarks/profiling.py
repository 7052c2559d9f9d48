"""Profiles of ours and PyTorch's side, and a sentence saying where the extra time goes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.report import markdown_table


@dataclass
class Profile:
    """Self CPU time (ms) and number of calls per ATen op, per call of the profiled function."""

    wall_ms: float
    ops: dict[str, tuple[float, float]]  # op name -> (self ms per call, calls per call)

    @property
    def op_ms(self) -> float:
        return sum(ms for ms, _ in self.ops.values())

    @property
    def outside_ms(self) -> float:
        """Wall time not spent inside any ATen op: Python, module calls, the dispatcher."""
        return max(self.wall_ms - self.op_ms, 0.0)


def profile(fn: Callable[[], object], iters: int) -> Profile:
    """Profile ``iters`` calls of ``fn`` (after one warm-up call) with torch.profiler."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    fn()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        wall = time.perf_counter() - start
    ops = {}
    for event in prof.key_averages():
        if event.key.startswith(("aten::", "cpu_op", "autograd::", "Optimizer.", "torch::")) or (
            "Backward" in event.key
        ):
            ops[event.key] = (event.self_cpu_time_total / 1000 / iters, event.count / iters)
    return Profile(wall_ms=wall * 1000 / iters, ops=ops)


# Where an op of a profile comes from in transformer_lib, written from the library's source
# (attention.py, feed_forward.py, normalization.py, embeddings.py, _validate.py). It only names the
# code; the profile is the evidence. tests/test_benchmarks.py checks that every op named here still
# runs when the library's side of table 2 runs; an op that several parts of the library (and
# PyTorch's optimizer) share, such as aten::mul, aten::div or aten::sum, is left out.
_MASKED_ROWS = "the zero fix-up of fully masked rows after the fused attention (attention.py)"
_ACTIVATION = ("the feed-forward activation, which PyTorch's inference fast path fuses into the "
               "matrix product (aten::_addmm_activation)")
WHAT_IT_IS = {
    "aten::add": "additions: the residual connections, and the positional encodings added to "
                 "the token embeddings",
    "aten::masked_fill": _MASKED_ROWS,
    "aten::masked_fill_": _MASKED_ROWS,
    "aten::any": _MASKED_ROWS,
    "aten::where": "the boolean mask turned into an additive float mask inside "
                   "F.scaled_dot_product_attention (PyTorch's modules pass is_causal instead)",
    "aten::min": "the token-id range check", "aten::max": "the token-id range check",
    "aten::addmm": "the matrix products: ours runs Q, K and V as three products where PyTorch "
                   "runs one packed (3D, D) product (and, in inference, fuses the feed-forward "
                   "activation into its product, aten::_addmm_activation)",
    "aten::gelu": _ACTIVATION,
    "aten::relu": _ACTIVATION,
    "aten::clamp_min": "the feed-forward ReLU, which PyTorch's inference fast path fuses into the "
                       "matrix product (aten::_addmm_activation)",
    "aten::copy_": "copies: each matrix product's bias copied into its output, and the heads "
                   "merged back (transpose, then reshape)",
    "aten::_scaled_dot_product_flash_attention_for_cpu":
        "the fused attention kernel ours calls (PyTorch's inference fast path computes attention "
        "with bmm and a masked softmax instead)",
}


def explain(ours: Profile, theirs: Profile, top: int = 3) -> str:
    """One sentence, from two profiles: where the extra time of ``ours`` goes."""
    extra = ours.wall_ms - theirs.wall_ms
    diffs = []
    for op in set(ours.ops) | set(theirs.ops):
        mine, other = ours.ops.get(op, (0.0, 0.0)), theirs.ops.get(op, (0.0, 0.0))
        diffs.append((mine[0] - other[0], op, mine[1], other[1]))
    diffs.sort(reverse=True)
    named = [d for d in diffs[:top] if d[0] > 0.05 * max(extra, 1e-9)]
    parts = [f"{op} +{delta:.3g} ms ({n_ours:g} vs {n_theirs:g} calls)"
             for delta, op, n_ours, n_theirs in named]
    outside = ours.outside_ms - theirs.outside_ms
    if outside > 0.05 * max(extra, 1e-9):
        parts.append(f"Python and dispatch outside ATen ops +{outside:.3g} ms")
    text = (f"profile: ours {extra:+.3g} ms per call; "
            + ("; ".join(parts) or "no single op stands out"))
    causes = []
    for _, op, _, _ in named:
        cause = WHAT_IT_IS.get(op)
        if cause and cause not in causes:
            causes.append(cause)
    if outside > 0.3 * max(extra, 1e-9):
        causes.append("per-call Python overhead (input checks, module calls), which dominates "
                      "at tiny shapes where PyTorch's inference fast path is one C++ call")
    if causes:
        text += ". What those are in ours: " + "; ".join(causes)
    return text


def profile_table(ours: Profile, theirs: Profile, rows: int = 10) -> str:
    """Markdown table of the ops with the largest self time in either profile."""
    ops = sorted(set(ours.ops) | set(theirs.ops),
                 key=lambda op: -max(ours.ops.get(op, (0, 0))[0], theirs.ops.get(op, (0, 0))[0]))
    body = []
    for op in ops[:rows]:
        (a, na), (b, nb) = ours.ops.get(op, (0.0, 0.0)), theirs.ops.get(op, (0.0, 0.0))
        body.append([f"`{op}`", f"{a:.3f}", f"{na:g}", f"{b:.3f}", f"{nb:g}", f"{a - b:+.3f}"])
    body.append(["outside ATen ops (Python, dispatch)", f"{ours.outside_ms:.3f}", "",
                 f"{theirs.outside_ms:.3f}", "", f"{ours.outside_ms - theirs.outside_ms:+.3f}"])
    body.append(["**wall time per call**", f"**{ours.wall_ms:.3f}**", "",
                 f"**{theirs.wall_ms:.3f}**", "", f"**{ours.wall_ms - theirs.wall_ms:+.3f}**"])
    return markdown_table(
        ["op", "ours ms", "ours calls", "PyTorch ms", "PyTorch calls", "difference ms"], body)
