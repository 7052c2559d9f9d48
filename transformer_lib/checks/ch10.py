"""Checks for the exercises of chapter 10 (classifying text)."""

from collections.abc import Callable

import torch

from transformer_lib.attention import padding_mask
from transformer_lib.checks._compare import compare
from transformer_lib.checks._core import Failure, call, check


def _cases(seed: int):
    """Batches of encoder outputs with padding, some with only negative real values."""
    generator = torch.Generator().manual_seed(seed)
    for batch, length, d_model, lengths, shift in [
            (2, 5, 4, [5, 2], 0.0), (3, 7, 8, [1, 7, 4], -10.0), (1, 3, 6, [3], 0.0),
            (2, 6, 5, [3, 2], -3.0)]:
        mask = padding_mask(torch.tensor(lengths), length)  # (B, 1, S)
        h = torch.randn(batch, length, d_model, generator=generator) + shift  # (B, S, D)
        yield h, mask


@check("masked max pooling")
def check_masked_max_pool(student_fn: Callable):
    """``student_fn(h (B, S, D), mask (B, 1, S) bool)`` -> ``(B, D)``, the largest value of each
    feature over the real tokens only."""
    for h, mask in _cases(10):
        keep = mask.transpose(1, 2)  # (B, S, 1)
        for fill in (50.0, 0.0):  # at the padding; with 0 first, two hints would both match
            h_filled = h.masked_fill(~keep, fill)
            expected = h_filled.masked_fill(~keep, float("-inf")).amax(dim=1)  # (B, D), exact
            got = call(student_fn, h_filled, mask)
            compare(got, expected, {"h": h_filled, "mask": mask}, mistakes={
                "the padded positions took part in the max: hide them (masked_fill with -inf) "
                "before taking it": h_filled.amax(dim=1),
                "you filled the padding with 0 before the max: when every real value is "
                "negative, the 0 of the padding wins; fill with -inf":
                    h_filled.masked_fill(~keep, 0.0).amax(dim=1),
                "that is the mean, not the max": (h_filled * keep).sum(1) / keep.sum(1),
            })


@check("attention pooling", seed=11)
def check_attention_pool(student_fn: Callable, generator):
    """``student_fn(h (B, S, D), mask (B, 1, S) bool, w (D,))`` -> ``(B, D)``: softmax over the
    real positions of the scores ``h @ w``, then the weighted sum of the token vectors."""
    for given, mask in _cases(12):
        real = mask[:, 0]  # (B, S)
        given = given.masked_fill(~real.unsqueeze(-1), 3.0)  # visible garbage at the padding
        w = torch.randn(given.shape[-1], generator=generator)  # (D,)
        got = call(student_fn, given, mask, w)
        h = given.double()  # the reference in float64
        scores = h @ w.double()  # (B, S)
        masked = scores.masked_fill(~real, float("-inf"))
        mistakes = {
            "the padded positions got attention weight: set their scores to -inf before the "
            "softmax": (scores.softmax(-1).unsqueeze(-1) * h).sum(1),
            "the scores were used as weights without a softmax (weights must be positive and "
            "sum to 1)": ((scores * real).unsqueeze(-1) * h).sum(1),
            "you computed the weights but returned their sum over the features, not the "
            "weighted sum of the token vectors": masked.softmax(-1),
        }
        if h.shape[0] > 1:
            over_batch = masked.softmax(0).nan_to_num()  # (B, S)
            mistakes["the softmax runs over the batch: it must run over the positions (dim=-1 of "
                     "the (B, S) scores)"] = (over_batch.unsqueeze(-1) * h).sum(1)
        expected = (masked.softmax(-1).unsqueeze(-1) * h).sum(1)
        compare(got, expected, {"h": given, "mask": mask, "w": w}, mistakes=mistakes)


@check("confusion matrix", seed=13)
def check_confusion_matrix(student_fn: Callable, generator):
    """``student_fn(true (N,), pred (N,), n_classes)`` -> ``(C, C)`` integer counts, entry
    ``(i, j)`` the number of examples of true class i predicted as j."""
    for n, n_classes in [(20, 3), (50, 5), (7, 6), (1, 2)]:
        true = torch.randint(0, n_classes - 1, (n,), generator=generator)  # last class unused
        pred = torch.randint(0, n_classes, (n,), generator=generator)
        expected = torch.bincount(true * n_classes + pred, minlength=n_classes**2).view(
            n_classes, n_classes)  # entry (i, j): true i, predicted j
        got = call(student_fn, true, pred, n_classes)
        inputs = {"true": true, "pred": pred, "n_classes": n_classes}
        transposed = ("the matrix is transposed: rows are the true classes, columns the "
                      "predictions (entry (i, j): true i, predicted j)")
        if isinstance(got, torch.Tensor):
            if got.shape != expected.shape and got.numel() < expected.numel():
                raise Failure(f"wrong shape for {inputs}: expected ({n_classes}, {n_classes}) "
                              f"got {tuple(got.shape)}; use n_classes, not the largest label, "
                              f"so that classes that never occur still get a row and a column")
            if got.is_floating_point():
                raise Failure(f"expected integer counts, got dtype {got.dtype}")
            if got.shape == expected.shape and int(got.sum()) != n:
                raise Failure(f"the counts must add up to the number of examples N={n}, "
                              f"got {int(got.sum())}")
        compare(got, expected, inputs, mistakes={transposed: expected.T})
