"""Checks for the exercises of chapter 7 (training)."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from transformer_lib.checks._compare import Case, compare, diagnose, matches, python_number, unpack
from transformer_lib.checks._core import Failure, call, check
from transformer_lib.data.batching import make_seq2seq_batch, pad_sequences
from transformer_lib.training import noam_lr


def _noam_mistakes(step: int, d_model: int, warmup: int) -> dict[str, float]:
    scale, decay, warm = d_model**-0.5, step**-0.5, step * warmup**-1.5
    return {
        "the warmup is missing: the rate must grow as step * warmup^-1.5 first, so take the min "
        "of the two terms": scale * decay,
        "the decay is missing: after the warmup the rate decays as step^-0.5, so take the min of "
        "the two terms": scale * warm,
        "you took the max of the two terms; the schedule is their min": scale * max(decay, warm),
        "the factor d_model^-0.5 is missing": min(decay, warm),
        "the warmup term is step * warmup^-1.5 (so that both terms meet at step = warmup), "
        "not step * warmup^-0.5": scale * min(decay, step * warmup**-0.5),
        "step starts at 1 in the paper's formula; you computed the rate of step + 1":
            noam_lr(step + 1, d_model, warmup),
    }


@check("Noam learning-rate schedule")
def check_noam_lr(student_fn: Callable[[int, int, int], float]):
    """``student_fn(step, d_model, warmup)`` -> ``D^-0.5 * min(step^-0.5, step * warmup^-1.5)``;
    a mistake's hint is given when it explains every wrong case."""
    cases = []
    for step, d_model, warmup in [(1, 512, 4000), (100, 512, 4000), (4000, 512, 4000),
                                  (10_000, 512, 4000), (1, 64, 200), (200, 64, 200),
                                  (5000, 64, 200), (37, 128, 50)]:
        inputs = f"step={step}, d_model={d_model}, warmup={warmup}"
        got = float(python_number(call(student_fn, step, d_model, warmup), inputs, (int, float)))
        expected = noam_lr(step, d_model, warmup)
        shown = f"for {inputs} expected {expected:.6g}, got {got:.6g}"
        cases.append(Case(got, expected, _noam_mistakes(step, d_model, warmup), shown))
    diagnose(cases, atol=0, rtol=1e-6)


def _wrong_losses(logits, targets, eps, pad_id) -> dict[str, torch.Tensor]:
    """hint -> that mistake's loss, from float64 ``logits``."""
    keep = targets != pad_id
    plain = F.cross_entropy(logits, targets, reduction="none")  # (N,)
    other = torch.full_like(logits, eps / (logits.shape[-1] - 1)).scatter(-1, targets[:, None],
                                                                          1 - eps)
    smooth = F.cross_entropy(logits, targets, label_smoothing=eps, reduction="none")
    return {
        "the smoothing is missing: the target must put 1 - eps + eps/V on the right class and "
        "eps/V on every other class": plain[keep].mean(),
        "you spread eps over the V - 1 wrong classes (1 - eps on the right one); PyTorch and the "
        "library spread eps over all V classes, the right one included":
            F.cross_entropy(logits[keep], other[keep]),
        "the padding positions are counted: leave out every position whose target is pad_id":
            smooth.mean(),
        "you divided by all N positions, padding included; average over the positions kept":
            smooth[keep].sum() / len(targets),
        "you summed over the positions; the loss is their average": smooth[keep].sum(),
    }


@check("label-smoothed cross-entropy", seed=7)
def check_smoothed_cross_entropy(student_fn: Callable, generator):
    """``student_fn(logits (N, V), targets (N,), eps, pad_id)`` -> the loss, a scalar, as
    ``F.cross_entropy(logits, targets, label_smoothing=eps, ignore_index=pad_id)`` in float64."""
    for n, n_classes, eps, pad_id in [(6, 5, 0.1, 0), (20, 11, 0.2, 0), (15, 30, 0.1, 3)]:
        logits = torch.randn(n, n_classes, generator=generator) * 3  # (N, V)
        targets = torch.randint(0, n_classes, (n,), generator=generator)  # (N,)
        targets[::4] = pad_id  # some padding
        targets[1] = (pad_id + 1) % n_classes  # at least one real position
        got = call(student_fn, logits, targets, eps, pad_id)
        exact = logits.double()
        expected = F.cross_entropy(exact, targets, label_smoothing=eps, ignore_index=pad_id)
        inputs = {"logits": logits, "targets": targets, "eps": eps, "pad_id": pad_id}
        compare(got, expected, inputs, mistakes=_wrong_losses(exact, targets, eps, pad_id))


def _seq2seq_mistakes(targets, pad_id, bos_id, eos_id) -> dict[str, dict[str, torch.Tensor]]:
    """For tgt_in and tgt_out: hint -> what that mistake builds."""

    def pad(make):
        return pad_sequences([make(t) for t in targets], pad_id)

    return {
        "tgt_in": {
            "tgt_in is not shifted: it must start with bos_id, then the target":
                pad(lambda t: [*t, eos_id]),
            "tgt_in must not end with eos_id: it is bos_id followed by the target":
                pad(lambda t: [bos_id, *t, eos_id]),
            "tgt_in is the target without bos_id; prepend bos_id": pad(list),
        },
        "tgt_out": {
            "tgt_out must end with eos_id, so that the model learns where to stop": pad(list),
            "tgt_out must not start with bos_id: it is the target followed by eos_id":
                pad(lambda t: [bos_id, *t, eos_id]),
            "tgt_out is shifted like tgt_in; it is the target followed by eos_id":
                pad(lambda t: [bos_id, *t]),
        },
    }


@check("seq2seq batch with shifted targets")
def check_seq2seq_batch(student_fn: Callable):
    """``student_fn(pairs, pad_id, bos_id, eos_id)`` -> ``(src, tgt_in, tgt_out)``, padded on
    the right. The reference is ``transformer_lib.data.make_seq2seq_batch``."""
    cases = [
        ([([5, 6, 7], [7, 6, 5]), ([8, 9], [9, 8])], 0, 1, 2),
        ([([4], [4, 4, 4, 4]), ([5, 6, 7, 8, 9], [9]), ([3, 3], [3, 5])], 0, 1, 2),
        ([([10, 11, 12, 13], [13, 12, 11]), ([10], [12])], 9, 7, 8),  # pad_id is not 0
    ]
    names = ("src", "tgt_in", "tgt_out")
    for pairs, pad_id, bos_id, eos_id in cases:
        got = call(student_fn, [(list(s), list(t)) for s, t in pairs], pad_id, bos_id, eos_id)
        if all(hasattr(got, name) for name in names):  # a Seq2SeqBatch, as the library's
            got = tuple(getattr(got, name) for name in names)
        expected = make_seq2seq_batch(pairs, pad_id, bos_id, eos_id)
        mistakes = _seq2seq_mistakes([t for _, t in pairs], pad_id, bos_id, eos_id)
        for name, value in zip(names, unpack(got, ", ".join(names))):
            reference = getattr(expected, name)
            left = torch.stack([row.roll(int((row == pad_id).sum())) for row in reference])
            wrong = {**mistakes.get(name, {}),
                     f"{name} is padded on the left; pad on the right": left,
                     f"{name} is padded with 0; pad with pad_id": reference.where(
                         reference != pad_id, 0)}
            compare(value, reference, {"pairs": pairs}, mistakes=wrong, what=name, long=True)


@check("BERT masking", seed=11)
def check_mask_tokens(student_fn: Callable, generator):
    """``student_fn(ids (B, S), mask_id, vocab_size, pad_id, generator)`` -> ``(inputs, labels)``
    of BERT's masking (15% chosen: 80/10/10), the fractions measured on 24,000 tokens."""
    vocab_size, mask_id, pad_id = 40, 40, 1  # pad_id is not 0: an answer must read it
    ids = torch.randint(2, vocab_size, (300, 80), generator=generator)  # (B, S)
    lengths = torch.randint(40, 81, (300,), generator=generator)
    ids[torch.arange(80)[None, :] >= lengths[:, None]] = pad_id  # right padding
    got = call(student_fn, ids, mask_id, vocab_size, pad_id, torch.Generator().manual_seed(3))
    inputs, labels = unpack(got, "inputs, labels")
    for name, value in (("inputs", inputs), ("labels", labels)):
        if not isinstance(value, torch.Tensor):
            raise Failure(f"expected {name} to be a torch.Tensor, got {type(value).__name__}")
        if value.shape != ids.shape:
            raise Failure(f"{name} has shape {tuple(value.shape)}, expected {tuple(ids.shape)}")
        if value.dtype != torch.long:
            raise Failure(f"{name} must hold token ids with dtype torch.long, got {value.dtype}")
    inputs, labels = inputs.cpu(), labels.cpu()
    real = ids != pad_id
    chosen = labels != -100
    fraction = chosen.sum().item() / real.sum().item()
    if torch.equal(labels, ids):
        raise Failure("labels equal ids everywhere: set them to -100 where a token was not "
                      "chosen, so that the loss ignores those positions")
    if (chosen & ~real).any():
        raise Failure("a padding position was chosen (or its label is not -100): never choose "
                      "pad_id")
    if not torch.equal(labels[chosen], ids[chosen]):
        raise Failure("at a chosen position the label must be the original token id")
    if 0.10 <= fraction <= 0.13:
        if (inputs[chosen] == mask_id).all() and (inputs[~chosen] != ids[~chosen]).any():
            raise Failure("labels are set only where the input became mask_id: the chosen tokens "
                          "that got a random id or stayed unchanged need their labels too")
    if not torch.equal(inputs[~chosen], ids[~chosen]):
        raise Failure("inputs differ from ids at positions that were not chosen (label -100); "
                      "only the chosen tokens may change")
    if not 0.13 <= fraction <= 0.17:
        only_masks = 0.10 <= fraction < 0.13
        hint = " (you chose only the tokens that became mask_id?)" if only_masks else ""
        raise Failure(f"{fraction:.1%} of the real tokens were chosen, expected about 15%{hint}")
    masked = (inputs[chosen] == mask_id).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    replaced = 1 - masked - kept
    if masked > 0.95:
        raise Failure(f"{masked:.0%} of the chosen tokens became mask_id: only 80% should; 10% "
                      "get a random id and 10% stay as they are")
    if replaced < 0.02:
        raise Failure("no chosen token got a random id: 10% of them must (and 10% stay unchanged)")
    expected = {"became mask_id": (masked, 0.8), "stayed unchanged": (kept, 0.1 + 0.1 / vocab_size),
                "got a random id": (replaced, 0.1 * (1 - 1 / vocab_size))}
    for what, (measured, target) in expected.items():
        if abs(measured - target) > 0.04:
            raise Failure(f"{measured:.1%} of the chosen tokens {what}, expected about "
                          f"{target:.0%} (80% become mask_id, 10% a random id, 10% stay unchanged)")
    if not ((inputs >= 0) & (inputs <= max(vocab_size - 1, mask_id))).all():
        raise Failure(f"inputs hold ids outside [0, {vocab_size}) other than mask_id")
    again = call(student_fn, ids, mask_id, vocab_size, pad_id, torch.Generator().manual_seed(3))
    if not matches(again, (inputs, labels)):
        raise Failure("two calls with generators of the same seed gave different results: draw "
                      "every random number with generator (torch.rand(..., generator=generator))")
