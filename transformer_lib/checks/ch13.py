"""Checks for the exercises of chapter 13 (fine-tuning a pretrained encoder): a collate function
with dynamic padding, AdamW parameter groups, and a spam threshold for a required precision."""

from collections.abc import Callable

import torch
from torch import nn

from transformer_lib import finetune
from transformer_lib.checks._compare import compare, python_number, unpack
from transformer_lib.checks._core import Failure, call, check
from transformer_lib.config import TransformerConfig
from transformer_lib.encoder import EncoderLayer, LayerStack

_BATCHES = [([[101, 7, 8, 102], [101, 9, 102], [101, 5, 6, 7, 8, 102]], [1, 0, 1], 0),
            ([[3, 4], [5, 6]], [0, 1], 0),
            ([[11], [12, 13, 14], [15, 16]], [2, 0, 1], 99)]


@check("collate with dynamic padding")
def check_collate(student_fn: Callable):
    """``student_fn([(ids, label), ...], pad_id)`` -> ``(ids (B, S), mask (B, S), labels (B,))``."""
    for seqs, labels, pad_id in _BATCHES:
        batch = [(list(s), label) for s, label in zip(seqs, labels)]
        inputs = {"batch": batch, "pad_id": pad_id}
        got = unpack(call(student_fn, batch, pad_id), "ids, mask, labels", f"pad_id={pad_id}")
        ids, mask, labels_out = finetune.collate(batch, pad_id)
        longest = max(map(len, seqs))
        left = torch.stack([torch.cat([torch.full((longest - len(s),), pad_id),
                                       torch.tensor(s)]) for s in seqs])
        fixed = torch.full((len(seqs), 32), pad_id)
        for row, s in enumerate(seqs):
            fixed[row, : len(s)] = torch.tensor(s)
        compare(got[0], ids, inputs, what="ids", long=True, mistakes={
            "pad on the right: the real tokens come first, then the padding": left,
            "dynamic padding: pad to the longest text of THIS batch, not to a fixed length":
                fixed,
            "fill the padding with pad_id, not 0": torch.where(mask, ids, 0)})
        compare(got[1], mask, inputs, what="mask", mistakes={
            "the mask is True at the real tokens and False at the padding": ~mask,
            "the mask must be a bool tensor (True at real tokens)": mask.long()})
        compare(got[2], labels_out, inputs, what="labels", long=True)


def _model() -> nn.Module:
    cfg = TransformerConfig(vocab_size=10, d_model=8, n_heads=2, d_ff=16, n_layers=2, pad_id=0)
    body = LayerStack([EncoderLayer(cfg), EncoderLayer(cfg)], cfg)
    model = finetune.SequenceClassifier(body, 8, 3)
    for p in body.layers[0].parameters():  # a frozen layer
        p.requires_grad_(False)
    return model


@check("AdamW parameter groups")
def check_param_groups(student_fn: Callable):
    """``student_fn(model, weight_decay)`` -> list of two dicts {"params", "weight_decay"}."""
    model = _model()
    got = call(student_fn, model, 0.05)
    if not isinstance(got, (list, tuple)) or not all(
            isinstance(g, dict) and "params" in g and "weight_decay" in g for g in got):
        raise Failure("expected a list of dicts, each with the keys 'params' and "
                      "'weight_decay', as torch.optim.AdamW takes them")
    names = {id(p): n for n, p in model.named_parameters()}
    decay, no_decay = set(), set()
    for group in got:
        rate = python_number(group["weight_decay"], "a group's weight_decay", (int, float))
        params = list(group["params"])
        if any(id(p) not in names for p in params):
            raise Failure("a group holds something that is not a parameter of the model")
        (decay if rate > 0 else no_decay).update(names[id(p)] for p in params)
        if rate not in (0, 0.05):
            raise Failure(f"a group has weight_decay={rate}; use weight_decay (0.05 here) or 0")
    want_decay = {n for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2}
    want_none = {n for n, p in model.named_parameters() if p.requires_grad and p.dim() < 2}
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    if (decay | no_decay) & frozen:
        raise Failure(f"leave out the frozen parameters (requires_grad=False), such as "
                      f"{sorted((decay | no_decay) & frozen)[0]!r}")
    wrongly = sorted(decay & want_none)
    if any("norm" in n for n in wrongly):
        raise Failure(f"the LayerNorm weights get no decay either (a norm's gain and shift are "
                      f"vectors, like biases): {[n for n in wrongly if 'norm' in n][0]!r}")
    if wrongly:
        raise Failure(f"the biases get no weight decay: {wrongly[0]!r} is decayed")
    if no_decay & want_decay:
        raise Failure(f"the weight matrices are decayed: {sorted(no_decay & want_decay)[0]!r} "
                      f"has weight_decay 0")
    missing = (want_decay - decay) | (want_none - no_decay)
    if missing:
        raise Failure(f"every trainable parameter must be in a group: {sorted(missing)[0]!r} "
                      f"is in none")


def _reference(scores, labels, minimum, **kwargs):
    """The lowest threshold whose precision reaches ``minimum`` (the most recall), else None."""
    qualifying = [t for t in sorted(set(scores.tolist()))
                  if _threshold_ok(scores, labels, minimum, t, **kwargs)]
    return qualifying[0] if qualifying else None


def _threshold_ok(scores, labels, minimum, t, strict=False, measure="precision"):
    chosen = scores > t if strict else scores >= t
    hits = (chosen & labels).sum().item()
    if not chosen.any():
        return False
    value = hits / (chosen.sum().item() if measure == "precision" else labels.sum().item())
    return value >= minimum


@check("threshold for a required precision", seed=13)
def check_threshold_for_precision(student_fn: Callable, generator):
    """``student_fn(scores (N,), labels (N,) bool, min_precision)`` -> a float threshold or None."""
    cases = []
    for n, minimum in [(40, 0.9), (60, 0.8), (30, 0.95), (50, 0.75)]:
        labels = torch.rand(n, generator=generator) < 0.3
        scores = (0.5 * labels.float() + torch.rand(n, generator=generator)).div(1.5).round(
            decimals=4)  # (N,): the classes overlap
        cases.append((n, minimum, labels, scores))
    cases.append((3, 0.9, torch.tensor([False, True, False]), torch.tensor([0.9, 0.8, 0.3])))
    for n, minimum, labels, scores in cases:
        expected = _reference(scores, labels, minimum)
        got = call(student_fn, scores.clone(), labels.clone(), minimum)
        if expected is None:
            if got is not None:
                raise Failure(f"with min_precision={minimum} no threshold reaches it here: "
                              f"return None, got {got!r}")
            continue
        got = python_number(got, f"the threshold (min_precision={minimum})", (int, float),
                            item=True)
        if abs(got - expected) < 1e-6:
            continue
        hints = {"a text is spam when its score is >= the threshold, not >":
                 _reference(scores, labels, minimum, strict=True),
                 "that threshold reaches the RECALL; the precision is what must reach "
                 "min_precision": _reference(scores, labels, minimum, measure="recall")}
        highest = [t for t in sorted(set(scores.tolist()), reverse=True)
                   if _threshold_ok(scores, labels, minimum, t)]
        hints["that is the highest threshold with enough precision; the lowest one keeps the "
              "most recall"] = highest[0] if highest else None
        for hint, wrong in hints.items():
            if wrong is not None and abs(got - wrong) < 1e-6:
                raise Failure(f"for min_precision={minimum}: {hint}")
        raise Failure(f"for {n} scores and min_precision={minimum} expected the threshold "
                      f"{expected:.4f}, got {got:.4f}")
