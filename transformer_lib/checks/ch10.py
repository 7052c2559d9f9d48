"""Checks for the exercises of chapter 10 (classifying text)."""

from collections.abc import Callable

import torch

from transformer_lib.attention import padding_mask
from transformer_lib.checks._compare import Case, compare, diagnose, matches
from transformer_lib.checks._core import Failure, call, check, describe


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


def _ngram_scores(train, valid, settings, *, score_on=None, fit_on=None, lowercase=False,
                  ignore=()) -> list[float]:
    """The reference (no keyword set), or a known mistake: scoring ``score_on`` pairs, fitting on
    ``fit_on`` pairs, lowercasing, or ignoring the settings named in ``ignore``."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    scored, train = score_on or valid, fit_on or train
    scores = []
    for setting in settings:
        ngram_range = (1, 1) if "ngram_range" in ignore else setting["ngram_range"]
        vectorizer = CountVectorizer(analyzer="char_wb", ngram_range=ngram_range,
                                     lowercase=lowercase)
        vectorizer.fit([name for name, _ in train])
        model = LogisticRegression(C=1.0 if "C" in ignore else setting["C"], max_iter=2000)
        model.fit(vectorizer.transform([name for name, _ in train]), [y for _, y in train])
        predicted = model.predict(vectorizer.transform([name for name, _ in scored]))
        scores.append(sum(int(p) == y for p, (_, y) in zip(predicted, scored)) / len(scored))
    return scores


@check("validation scores of the baseline's settings")
def check_validation_scores(student_fn: Callable):
    """``student_fn(train_pairs, valid_pairs, settings)`` -> one validation accuracy per setting
    (a dict with ``ngram_range`` and ``C``), vectorizer and model fitted on the training pairs."""
    from transformer_lib.data import name_origins

    names = name_origins.load_names(("fi_FI", "pl_PL", "tr_TR", "it_IT"), per_language=100,
                                    test_fraction=0.3, seed=7)
    train, valid = names.train, names.test
    settings = [{"ngram_range": (1, 1), "C": 0.05}, {"ngram_range": (1, 3), "C": 1.0},
                {"ngram_range": (2, 4), "C": 10.0}]
    expected = _ngram_scores(train, valid, settings)
    got = call(student_fn, list(train), list(valid), [dict(s) for s in settings])
    if not isinstance(got, (list, tuple)) and not hasattr(got, "tolist"):
        raise Failure(f"expected a list of {len(settings)} accuracies, one per setting, got "
                      f"{describe(got)}")
    got = got.tolist() if hasattr(got, "tolist") else list(got)
    if len(got) != len(settings) or not all(isinstance(v, (int, float)) for v in got):
        raise Failure(f"expected a list of {len(settings)} accuracies (numbers), one per setting, "
                      f"got {describe(got)}")
    got = [float(v) for v in got]
    if matches(got, expected, atol=1e-6):
        return
    mistakes = {
        "these are accuracies on the training pairs: score each setting on the validation pairs":
            _ngram_scores(train, valid, settings, score_on=train),
        "the model was fitted on the validation pairs too: fit on the training pairs only, "
        "validation must stay unseen": _ngram_scores(train, valid, settings, fit_on=train + valid),
        "the names were lowercased (CountVectorizer's default): pass lowercase=False, capitals are "
        "evidence": _ngram_scores(train, valid, settings, lowercase=True),
        "every setting used C=1.0: pass each setting's C to LogisticRegression":
            _ngram_scores(train, valid, settings, ignore=("C",)),
        "every setting used single characters: pass each setting's ngram_range to the vectorizer":
            _ngram_scores(train, valid, settings, ignore=("ngram_range",)),
        "these are percentages: return accuracies between 0 and 1": [100 * v for v in expected],
    }
    diagnose([Case(got, expected, mistakes,
                   shown=f"for settings {settings} expected {[round(v, 4) for v in expected]}, "
                         f"got {[round(v, 4) for v in got]}")], atol=1e-6)
