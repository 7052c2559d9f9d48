"""Chapter 10's exercise checks accept right answers and explain the typical wrong ones."""

import torch

from transformer_lib import checks


def right_max_pool(h, mask):
    return h.masked_fill(~mask.transpose(1, 2), float("-inf")).amax(dim=1)


def max_pool_loop(h, mask):
    """Another right answer: one sequence at a time."""
    lengths = mask[:, 0].sum(-1)
    return torch.stack([h[b, : lengths[b]].max(dim=0).values for b in range(h.shape[0])])


def right_attention_pool(h, mask, w):
    scores = (h @ w).masked_fill(~mask[:, 0], float("-inf"))
    return (scores.softmax(-1).unsqueeze(-1) * h).sum(1)


def right_confusion(true, pred, n_classes):
    counts = torch.bincount(true * n_classes + pred, minlength=n_classes**2)
    return counts.view(n_classes, n_classes)


def confusion_loop(true, pred, n_classes):
    counts = torch.zeros(n_classes, n_classes, dtype=torch.int32)
    for t, p in zip(true.tolist(), pred.tolist()):
        counts[t, p] += 1
    return counts


RIGHT = [
    (checks.check_masked_max_pool, right_max_pool),
    (checks.check_masked_max_pool, max_pool_loop),
    (checks.check_masked_max_pool, lambda h, m: right_max_pool(h.double(), m)),
    (checks.check_attention_pool, right_attention_pool),
    (checks.check_attention_pool, lambda h, m, w: right_attention_pool(h.double(), m, w.double())),
    (checks.check_confusion_matrix, right_confusion),
    (checks.check_confusion_matrix, confusion_loop),
]

WRONG = [
    (checks.check_masked_max_pool, lambda h, m: h.amax(dim=1), "padded positions took part"),
    (checks.check_masked_max_pool, lambda h, m: h.masked_fill(~m.transpose(1, 2), 0.0).amax(dim=1),
     "fill with -inf"),
    (checks.check_masked_max_pool, lambda h, m: h.masked_fill(~m.transpose(1, 2), 0.0).amax(dim=1),
     "filled the padding with 0"),
    (checks.check_masked_max_pool,
     lambda h, m: (h * m.transpose(1, 2)).sum(1) / m.transpose(1, 2).sum(1), "that is the mean"),
    (checks.check_masked_max_pool, lambda h, m: h.amax(dim=2), "wrong shape"),
    (checks.check_attention_pool, lambda h, m, w: ((h @ w).softmax(-1).unsqueeze(-1) * h).sum(1),
     "padded positions got attention weight"),
    (checks.check_attention_pool, lambda h, m, w: (((h @ w) * m[:, 0]).unsqueeze(-1) * h).sum(1),
     "without a softmax"),
    (checks.check_attention_pool,
     lambda h, m, w: (h @ w).masked_fill(~m[:, 0], float("-inf")).softmax(-1), "weighted sum"),
    (checks.check_attention_pool,
     lambda h, m, w: ((h @ w).masked_fill(~m[:, 0], float("-inf")).softmax(0).nan_to_num()
                      .unsqueeze(-1) * h).sum(1), "runs over the batch"),
    (checks.check_confusion_matrix, lambda t, p, c: right_confusion(t, p, c).T, "transposed"),
    (checks.check_confusion_matrix,
     lambda t, p, c: right_confusion(t, p, int(max(t.max(), p.max())) + 1)[: c - 1, : c - 1],
     "classes that never occur"),
    (checks.check_confusion_matrix, lambda t, p, c: right_confusion(t, p, c).float(),
     "expected integer counts"),
    (checks.check_confusion_matrix, lambda t, p, c: right_confusion(t, p, c) * 2, "add up"),
]


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_attention_pool(right_attention_pool)
    checks.check_confusion_matrix(right_confusion)
    torch.testing.assert_close(torch.rand(3), expected)
