"""Checks for the exercises of chapter 10 (classifying text)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from transformer_lib.attention import padding_mask
from transformer_lib.checks._core import CheckResult, Failure, call, compare, run

__all__ = ["check_masked_max_pool", "check_attention_pool", "check_confusion_matrix"]


def _same(got, wrong: torch.Tensor) -> bool:
    """True when ``got`` is a tensor equal to ``wrong`` (what a known mistake computes)."""
    return (
        isinstance(got, torch.Tensor)
        and tuple(got.shape) == tuple(wrong.shape)
        and torch.allclose(got.detach().cpu().double(), wrong.double(), atol=1e-5, rtol=1e-4,
                           equal_nan=True)
    )


def _cases(seed: int):
    """Batches of encoder outputs with padding, some with only negative real values."""
    generator = torch.Generator().manual_seed(seed)
    for batch, length, d_model, lengths, shift in [(2, 5, 4, [5, 2], 0.0), (3, 7, 8, [1, 7, 4], -10.0),
                                                   (1, 3, 6, [3], 0.0), (2, 6, 5, [3, 2], -3.0)]:
        mask = padding_mask(torch.tensor(lengths), length)  # (B, 1, S)
        h = torch.randn(batch, length, d_model, generator=generator) + shift  # (B, S, D)
        yield h, mask


def check_masked_max_pool(student_fn: Callable) -> CheckResult:
    """``student_fn(h (B, S, D), mask (B, 1, S) bool)`` -> ``(B, D)``, the largest value of each
    feature over the real tokens only."""

    def body():
        for h, mask in _cases(10):
            keep = mask.transpose(1, 2)  # (B, S, 1)
            for fill in (0.0, 50.0):  # what sits at the padded positions
                h_filled = h.masked_fill(~keep, fill)
                expected = h_filled.masked_fill(~keep, float("-inf")).amax(dim=1)  # (B, D)
                got = call(student_fn, h_filled.clone(), mask.clone())
                hints = {
                    "the padded positions took part in the max: hide them (masked_fill with -inf) "
                    "before taking it": h_filled.amax(dim=1),
                    "you filled the padding with 0 before the max: when every real value is "
                    "negative, the 0 of the padding wins; fill with -inf":
                        h_filled.masked_fill(~keep, 0.0).amax(dim=1),
                    "that is the mean, not the max": (h_filled * keep).sum(1) / keep.sum(1),
                }
                for hint, wrong in hints.items():
                    if not _same(expected, wrong) and _same(got, wrong):
                        raise Failure(hint)
                compare(got, expected, {"h": h_filled, "mask": mask})

    return run("masked max pooling", body)


def check_attention_pool(student_fn: Callable) -> CheckResult:
    """``student_fn(h (B, S, D), mask (B, 1, S) bool, w (D,))`` -> ``(B, D)``: softmax over the
    real positions of the scores ``h @ w``, then the weighted sum of the token vectors."""

    def body():
        generator = torch.Generator().manual_seed(11)
        for h, mask in _cases(12):
            real = mask[:, 0]  # (B, S)
            h = h.masked_fill(~real.unsqueeze(-1), 3.0)  # visible garbage at the padding
            w = torch.randn(h.shape[-1], generator=generator)  # (D,)
            scores = h @ w  # (B, S)
            expected = (scores.masked_fill(~real, float("-inf")).softmax(-1).unsqueeze(-1) * h).sum(1)
            got = call(student_fn, h.clone(), mask.clone(), w.clone())
            hints = {
                "the padded positions got attention weight: set their scores to -inf before the "
                "softmax": (scores.softmax(-1).unsqueeze(-1) * h).sum(1),
                "the scores were used as weights without a softmax (weights must be positive and "
                "sum to 1)": ((scores * real).unsqueeze(-1) * h).sum(1),
                "you computed the weights but returned their sum over the features, not the "
                "weighted sum of the token vectors": scores.masked_fill(~real, float("-inf")).softmax(-1),
            }
            if h.shape[0] > 1:
                hints["the softmax runs over the batch: it must run over the positions (dim=-1 of "
                      "the (B, S) scores)"] = (
                    scores.masked_fill(~real, float("-inf")).softmax(0).nan_to_num().unsqueeze(-1) * h
                ).sum(1)
            for hint, wrong in hints.items():
                if not _same(expected, wrong) and _same(got, wrong):
                    raise Failure(hint)
            compare(got, expected, {"h": h, "mask": mask, "w": w})

    return run("attention pooling", body)


def check_confusion_matrix(student_fn: Callable) -> CheckResult:
    """``student_fn(true (N,), pred (N,), n_classes)`` -> ``(C, C)`` integer counts, entry
    ``(i, j)`` the number of examples of true class i predicted as j."""

    def body():
        generator = torch.Generator().manual_seed(13)
        for n, n_classes in [(20, 3), (50, 5), (7, 6), (1, 2)]:
            true = torch.randint(0, n_classes - 1, (n,), generator=generator)  # the last class unused
            pred = torch.randint(0, n_classes, (n,), generator=generator)
            expected = torch.zeros(n_classes, n_classes, dtype=torch.long)
            for t, p in zip(true.tolist(), pred.tolist()):
                expected[t, p] += 1
            got = call(student_fn, true.clone(), pred.clone(), n_classes)
            inputs = {"true": true, "pred": pred, "n_classes": n_classes}
            if isinstance(got, torch.Tensor):
                if _same(got, expected.T) and not torch.equal(expected, expected.T):
                    raise Failure("the matrix is transposed: rows are the true classes, columns the "
                                  "predictions (entry (i, j): true i, predicted j)")
                if got.shape != expected.shape and got.numel() < expected.numel():
                    raise Failure(f"wrong shape for {inputs}: expected ({n_classes}, {n_classes}) "
                                  f"got {tuple(got.shape)}; use n_classes, not the largest label, "
                                  f"so that classes that never occur still get a row and a column")
                if got.is_floating_point():
                    raise Failure(f"expected integer counts, got dtype {got.dtype}")
                if got.shape == expected.shape and int(got.sum()) != n:
                    raise Failure(f"the counts must add up to the number of examples N={n}, "
                                  f"got {int(got.sum())}")
            compare(got, expected, inputs)

    return run("confusion matrix", body)
