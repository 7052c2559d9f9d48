"""Chapter 13's exercise checks accept right answers and explain the typical wrong ones."""

import torch

from transformer_lib import checks, finetune


def collate_with(pad_to=None, left=False, inverted=False, zeros=False, as_long=False):
    def collate(batch, pad_id=0):
        longest = pad_to or max(len(seq) for seq, _ in batch)
        fill = 0 if zeros else pad_id
        ids = torch.full((len(batch), longest), fill, dtype=torch.long)
        for row, (seq, _) in enumerate(batch):
            if left:
                ids[row, longest - len(seq):] = torch.tensor(seq)
            else:
                ids[row, : len(seq)] = torch.tensor(seq)
        lengths = torch.tensor([len(seq) for seq, _ in batch])
        mask = torch.arange(longest)[None] < lengths[:, None]
        if left:
            mask = mask.flip(1)
        mask = ~mask if inverted else mask
        return ids, mask.long() if as_long else mask, torch.tensor([y for _, y in batch])

    return collate


def test_collate_right_answers_pass():
    assert checks.check_collate(collate_with())
    assert checks.check_collate(finetune.collate)


def test_collate_mistakes_get_their_hint():
    cases = {"the padding": collate_with(left=True),
             "longest text of THIS batch": collate_with(pad_to=32),
             "True at the real tokens": collate_with(inverted=True),
             "fill the padding with pad_id": collate_with(zeros=True),
             "bool tensor": collate_with(as_long=True)}
    for hint, wrong in cases.items():
        result = checks.check_collate(wrong)
        assert not result and hint in result.message, (hint, result.message)


def test_collate_crash_and_wrong_type_are_feedback():
    def crashes(batch, pad_id=0):
        return torch.stack([torch.tensor(seq) for seq, _ in batch])

    result = checks.check_collate(crashes)
    assert not result and "your code raised RuntimeError" in result.message
    result = checks.check_collate(lambda batch, pad_id=0: None)
    assert not result and "expected a tuple (ids, mask, labels)" in result.message


def groups_with(rule, frozen_too=False, decay_for_none=0.0):
    def param_groups(model, weight_decay):
        params = [(n, p) for n, p in model.named_parameters() if frozen_too or p.requires_grad]
        decay = [p for n, p in params if rule(n, p)]
        rest = [p for n, p in params if not rule(n, p)]
        return [{"params": decay, "weight_decay": weight_decay},
                {"params": rest, "weight_decay": decay_for_none}]

    return param_groups


def test_param_groups_right_answers_pass():
    assert checks.check_param_groups(finetune.param_groups)
    assert checks.check_param_groups(groups_with(lambda n, p: p.dim() >= 2))
    assert checks.check_param_groups(groups_with(lambda n, p: "bias" not in n and "norm" not in n))


def test_param_groups_mistakes_get_their_hint():
    cases = {"the biases get no weight decay": groups_with(lambda n, p: "norm" not in n),
             "LayerNorm weights get no decay": groups_with(lambda n, p: "bias" not in n),
             "frozen parameters": groups_with(lambda n, p: p.dim() >= 2, frozen_too=True),
             "weight matrices are decayed": groups_with(lambda n, p: False),
             "a list of dicts": lambda model, weight_decay: list(model.parameters()),
             "use weight_decay": groups_with(lambda n, p: p.dim() >= 2, decay_for_none=0.3)}
    for hint, wrong in cases.items():
        result = checks.check_param_groups(wrong)
        assert not result and hint in result.message, (hint, result.message)


def threshold_with(strict=False, highest=False, measure="precision"):
    def threshold_for_precision(scores, labels, min_precision):
        candidates = sorted(set(scores.tolist()), reverse=highest)
        for t in candidates:
            flagged = scores > t if strict else scores >= t
            if not flagged.any():
                continue
            hits = (flagged & labels).sum().item()
            base = flagged.sum().item() if measure == "precision" else labels.sum().item()
            if hits / base >= min_precision:
                return float(t)
        return None

    return threshold_for_precision


def test_threshold_right_answer_passes():
    assert checks.check_threshold_for_precision(threshold_with())


def test_threshold_mistakes_get_their_hint():
    cases = {">= the threshold, not >": threshold_with(strict=True),
             "the lowest one keeps the most recall": threshold_with(highest=True),
             "RECALL": threshold_with(measure="recall"),
             "return None": lambda scores, labels, p: threshold_with()(scores, labels, p) or 0.0,
             "expected a number": lambda scores, labels, p: "0.5"}
    for hint, wrong in cases.items():
        result = checks.check_threshold_for_precision(wrong)
        assert not result and hint in result.message, (hint, result.message)


def test_threshold_crash_is_feedback():
    def crashes(scores, labels, min_precision):
        return scores[len(scores) + 5].item()

    result = checks.check_threshold_for_precision(crashes)
    assert not result and "your code raised IndexError" in result.message


RIGHT = [
    (checks.check_collate, collate_with()),
    (checks.check_collate, finetune.collate),
    (checks.check_param_groups, finetune.param_groups),
    (checks.check_param_groups, groups_with(lambda n, p: "bias" not in n and "norm" not in n)),
    (checks.check_threshold_for_precision, threshold_with()),
]

WRONG = [
    (checks.check_collate, collate_with(left=True), "the padding"),
    (checks.check_collate, collate_with(pad_to=32), "longest text of THIS batch"),
    (checks.check_collate, collate_with(inverted=True), "True at the real tokens"),
    (checks.check_collate, collate_with(zeros=True), "fill the padding with pad_id"),
    (checks.check_param_groups, groups_with(lambda n, p: "norm" not in n), "the biases get no"),
    (checks.check_param_groups, groups_with(lambda n, p: "bias" not in n), "LayerNorm weights"),
    (checks.check_param_groups, groups_with(lambda n, p: p.dim() >= 2, frozen_too=True),
     "frozen parameters"),
    (checks.check_threshold_for_precision, threshold_with(strict=True), "not >"),
    (checks.check_threshold_for_precision, threshold_with(highest=True), "most recall"),
    (checks.check_threshold_for_precision, threshold_with(measure="recall"), "RECALL"),
]
