"""Chapter 10's exercise checks accept right answers and explain the typical wrong ones."""

import numpy as np
import torch
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

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


def right_scores(train_pairs, valid_pairs, settings, lowercase=False, fit_on_valid=False,
                 on_train=False, percent=False):
    """The right answer, or (with a flag) a realistic wrong one."""
    fit_pairs = train_pairs + valid_pairs if fit_on_valid else train_pairs
    scored = train_pairs if on_train else valid_pairs
    scores = []
    for setting in settings:
        ngrams = CountVectorizer(analyzer="char_wb", ngram_range=setting["ngram_range"],
                                 lowercase=lowercase).fit([n for n, _ in fit_pairs])
        model = LogisticRegression(C=setting["C"], max_iter=2000)
        model.fit(ngrams.transform([n for n, _ in fit_pairs]), [y for _, y in fit_pairs])
        right = model.predict(ngrams.transform([n for n, _ in scored])) == [y for _, y in scored]
        scores.append(float(np.mean(right)) * (100 if percent else 1))
    return scores


def scores_without_c(train_pairs, valid_pairs, settings):
    return right_scores(train_pairs, valid_pairs, [{**s, "C": 1.0} for s in settings])


RIGHT = [
    (checks.check_masked_max_pool, right_max_pool),
    (checks.check_masked_max_pool, max_pool_loop),
    (checks.check_masked_max_pool, lambda h, m: right_max_pool(h.double(), m)),
    (checks.check_attention_pool, right_attention_pool),
    (checks.check_attention_pool, lambda h, m, w: right_attention_pool(h.double(), m, w.double())),
    (checks.check_confusion_matrix, right_confusion),
    (checks.check_confusion_matrix, confusion_loop),
    (checks.check_validation_scores, right_scores),
    (checks.check_validation_scores, lambda t, v, s: np.array(right_scores(t, v, s))),
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
    (checks.check_validation_scores, lambda t, v, s: right_scores(t, v, s, on_train=True),
     "accuracies on the training pairs"),
    (checks.check_validation_scores, lambda t, v, s: right_scores(t, v, s, fit_on_valid=True),
     "fitted on the validation pairs too"),
    (checks.check_validation_scores, lambda t, v, s: right_scores(t, v, s, lowercase=True),
     "lowercase=False"),
    (checks.check_validation_scores, scores_without_c, "each setting's C"),
    (checks.check_validation_scores, lambda t, v, s: right_scores(t, v, s, percent=True),
     "percentages"),
    (checks.check_validation_scores, lambda t, v, s: right_scores(t, v, s)[0], "a list of 3"),
    (checks.check_validation_scores, lambda t, v, s: right_scores(t, v, s[:2]), "a list of 3"),
    (checks.check_validation_scores, lambda t, v, s: t[0][5], "raised IndexError"),
]


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_attention_pool(right_attention_pool)
    checks.check_confusion_matrix(right_confusion)
    torch.testing.assert_close(torch.rand(3), expected)
