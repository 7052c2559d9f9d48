"""Chapter 17's exercise checks accept right answers and explain the typical wrong ones."""

import torch
import torch.nn.functional as F

from transformer_lib import checks, induction


def previous_with(offset=-1, first_row=1):
    """A previous-token score with one of the known mistakes (the defaults are right)."""

    def score(weights):
        rows = torch.arange(first_row, weights.shape[-1])
        return weights[..., rows, (rows + offset).clamp_min(0)].mean(dim=(0, 2))

    return score


def induction_with(shift=1, first=0):
    """An induction score, key t - L + shift for t >= L + first (the defaults are right)."""

    def score(weights, half):
        rows = torch.arange(half + first, weights.shape[-1])
        return weights[..., rows, rows - half + shift].mean(dim=(0, 2))

    return score


def increase_with(first_target=1, sign=1.0, plain=False):
    """A repeat-loss increase with a known mistake (defaults right)."""

    def increase(model, ids, starts, heads):
        def repeat_loss(ablate):
            with torch.no_grad():
                logits = model(ids[:, :-1], ablate=ablate)  # (B, T - 1, V)
            losses = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
            target = torch.arange(1, ids.shape[1])
            return losses[target[None] >= starts[:, None] + first_target].mean().item()

        if plain:
            return repeat_loss(heads)
        return sign * (repeat_loss(heads) - repeat_loss([]))

    return increase


def test_previous_token_scores():
    assert checks.check_previous_token_scores(induction.previous_token_scores).passed
    assert checks.check_previous_token_scores(previous_with()).passed
    for wrong, hint in [(previous_with(offset=0, first_row=0), "main diagonal"),
                        (previous_with(first_row=0), "row 0 has no previous token"),
                        (lambda w: w.diagonal(-1, -2, -1).sum(-1).mean(0) / w.shape[-1],
                         "not over all T rows"),
                        (lambda w: w.diagonal(1, -2, -1).mean(dim=(0, 2)), "below the diagonal"),
                        (lambda w: w.diagonal(-1, -2, -1).mean(-1), "average over the batch")]:
        result = checks.check_previous_token_scores(wrong)
        assert not result.passed and hint in result.message, result.message


def test_induction_scores():
    assert checks.check_induction_scores(induction.induction_scores).passed
    assert checks.check_induction_scores(induction_with()).passed
    for wrong, hint in [(induction_with(shift=0), "previous occurrence of the current token"),
                        (induction_with(shift=2), "off by one the other way"),
                        (induction_with(first=-1), "score the repeat only")]:
        result = checks.check_induction_scores(wrong)
        assert not result.passed and hint in result.message, result.message


def test_repeat_loss_increase():
    assert checks.check_repeat_loss_increase(increase_with()).passed
    for wrong, hint in [(increase_with(first_target=0), "cannot be predicted"),
                        (increase_with(sign=-1.0), "not the other way round"),
                        (increase_with(plain=True), "return the increase")]:
        result = checks.check_repeat_loss_increase(wrong)
        assert not result.passed and hint in result.message, result.message


def right_offsets(weights):
    return torch.stack([weights.diagonal(-k, -2, -1).mean(dim=(0, 2))
                        for k in range(weights.shape[-1])], dim=-1)


def test_attention_by_offset():
    assert checks.check_attention_by_offset(right_offsets).passed
    all_rows = lambda w: torch.stack([w.diagonal(-k, -2, -1).sum(-1).mean(0) / w.shape[-1]  # noqa: E731
                                      for k in range(w.shape[-1])], dim=-1)
    upper = lambda w: torch.stack([w.diagonal(k, -2, -1).mean(dim=(0, 2))  # noqa: E731
                                   for k in range(w.shape[-1])], dim=-1)
    for wrong, hint in [(all_rows, "T - k of them"), (upper, "below the diagonal"),
                        (lambda w: right_offsets(w).T, "not (T, H)")]:
        result = checks.check_attention_by_offset(wrong)
        assert not result.passed and hint in result.message, result.message


def test_crashing_answers_give_a_message_not_a_traceback():
    def crash(*args):
        raise RuntimeError("boom")

    for check in (checks.check_previous_token_scores, checks.check_induction_scores,
                  checks.check_repeat_loss_increase, checks.check_attention_by_offset):
        result = check(crash)
        assert not result.passed and "boom" in result.message, result.message
    result = checks.check_repeat_loss_increase(lambda *args: "no")
    assert not result.passed and "float" in result.message, result.message


RIGHT = [
    (checks.check_previous_token_scores, induction.previous_token_scores),
    (checks.check_previous_token_scores, previous_with()),
    (checks.check_induction_scores, induction.induction_scores),
    (checks.check_induction_scores, induction_with()),
    (checks.check_repeat_loss_increase, increase_with()),
    (checks.check_attention_by_offset, right_offsets),
]

WRONG = [
    (checks.check_previous_token_scores, previous_with(offset=0, first_row=0), "main diagonal"),
    (checks.check_previous_token_scores, previous_with(first_row=0),
     "row 0 has no previous token"),
    (checks.check_induction_scores, induction_with(shift=0),
     "previous occurrence of the current token"),
    (checks.check_induction_scores, induction_with(first=-1), "score the repeat only"),
    (checks.check_repeat_loss_increase, increase_with(first_target=0), "cannot be predicted"),
    (checks.check_repeat_loss_increase, increase_with(sign=-1.0), "not the other way round"),
    (checks.check_attention_by_offset, lambda w: right_offsets(w).T, "not (T, H)"),
    (checks.check_attention_by_offset,
     lambda w: torch.stack([w.diagonal(-k, -2, -1).sum(-1).mean(0) / w.shape[-1]
                            for k in range(w.shape[-1])], dim=-1), "T - k of them"),
]
