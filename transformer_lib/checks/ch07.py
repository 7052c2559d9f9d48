"""Checks for the exercises of chapter 7 (training)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from transformer_lib.checks._core import CheckResult, Failure, call, compare, run
from transformer_lib.data.batching import make_seq2seq_batch, pad_sequences
from transformer_lib.training import noam_lr

__all__ = [
    "check_noam_lr",
    "check_smoothed_cross_entropy",
    "check_seq2seq_batch",
    "check_mask_tokens",
]


def _noam_mistakes(step: int, d_model: int, warmup: int) -> dict[str, float]:
    scale = d_model**-0.5
    return {
        "the warmup is missing: the rate must grow as step * warmup^-1.5 first, so take the min "
        "of the two terms": scale * step**-0.5,
        "the decay is missing: after the warmup the rate decays as step^-0.5, so take the min of "
        "the two terms": scale * step * warmup**-1.5,
        "you took the max of the two terms; the schedule is their min":
            scale * max(step**-0.5, step * warmup**-1.5),
        "the factor d_model^-0.5 is missing": min(step**-0.5, step * warmup**-1.5),
        "the warmup term is step * warmup^-1.5 (so that both terms meet at step = warmup), "
        "not step * warmup^-0.5": scale * min(step**-0.5, step * warmup**-0.5),
        "step starts at 1 in the paper's formula; you computed the rate of step + 1":
            noam_lr(step + 1, d_model, warmup),
    }


def check_noam_lr(student_fn: Callable[[int, int, int], float]) -> CheckResult:
    """``student_fn(step, d_model, warmup)`` -> ``D^-0.5 * min(step^-0.5, step * warmup^-1.5)``."""

    def body():
        cases = [(1, 512, 4000), (100, 512, 4000), (4000, 512, 4000), (10_000, 512, 4000),
                 (1, 64, 200), (200, 64, 200), (5000, 64, 200), (37, 128, 50)]
        answers = []
        for step, d_model, warmup in cases:
            got = call(student_fn, step, d_model, warmup)
            if isinstance(got, bool) or not isinstance(got, (int, float)):
                use = " (use .item() or plain Python arithmetic)" if isinstance(got, torch.Tensor) else ""
                raise Failure(f"expected a Python float for step={step}, d_model={d_model}, "
                              f"warmup={warmup}, got {type(got).__name__}{use}")
            answers.append(float(got))
        close = lambda a, b: abs(a - b) <= 1e-6 * abs(b)  # noqa: E731
        for hint in _noam_mistakes(1, 1, 1):  # a mistake's hint when it explains every case
            if all(close(got, _noam_mistakes(*case)[hint]) for got, case in zip(answers, cases)):
                raise Failure(hint)
        for got, (step, d_model, warmup) in zip(answers, cases):
            expected = noam_lr(step, d_model, warmup)
            if not close(got, expected):
                raise Failure(f"for step={step}, d_model={d_model}, warmup={warmup} expected "
                              f"{expected:.6g}, got {got:.6g}")

    return run("Noam learning-rate schedule", body)


def _wrong_losses(logits, targets, eps, pad_id) -> dict[str, torch.Tensor]:
    keep = targets != pad_id
    n_classes = logits.shape[-1]
    log_probs = logits.log_softmax(-1)
    per_position_plain = -log_probs.gather(-1, targets[:, None]).squeeze(-1)
    other = torch.full_like(log_probs, eps / (n_classes - 1)).scatter(-1, targets[:, None], 1 - eps)
    per_position_other = -(other * log_probs).sum(-1)
    smooth = F.cross_entropy(logits, targets, label_smoothing=eps, reduction="none")
    return {
        "the smoothing is missing: the target must put 1 - eps + eps/V on the right class and "
        "eps/V on every other class": per_position_plain[keep].mean(),
        "you spread eps over the V - 1 wrong classes (1 - eps on the right one); PyTorch and the "
        "library spread eps over all V classes, the right one included": per_position_other[keep].mean(),
        "the padding positions are counted: leave out every position whose target is pad_id":
            smooth.mean(),
        "you divided by all N positions, padding included; average over the positions kept":
            smooth[keep].sum() / len(targets),
        "you summed over the positions; the loss is their average": smooth[keep].sum(),
    }


def check_smoothed_cross_entropy(student_fn: Callable) -> CheckResult:
    """``student_fn(logits (N, V), targets (N,), eps, pad_id)`` -> the label-smoothed loss, a scalar.

    The reference is ``F.cross_entropy(logits, targets, label_smoothing=eps, ignore_index=pad_id)``.
    """

    def body():
        generator = torch.Generator().manual_seed(7)
        for n, n_classes, eps, pad_id in [(6, 5, 0.1, 0), (20, 11, 0.2, 0), (15, 30, 0.1, 3)]:
            logits = torch.randn(n, n_classes, generator=generator) * 3  # (N, V)
            targets = torch.randint(0, n_classes, (n,), generator=generator)  # (N,)
            targets[::4] = pad_id  # some padding
            targets[1] = (pad_id + 1) % n_classes  # at least one real position
            got = call(student_fn, logits.clone(), targets.clone(), eps, pad_id)
            expected = F.cross_entropy(logits, targets, label_smoothing=eps, ignore_index=pad_id)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape:
                got_value = got.detach().cpu().double()
                if not torch.allclose(got_value, expected.double(), atol=1e-5, rtol=1e-4):
                    for hint, wrong in _wrong_losses(logits, targets, eps, pad_id).items():
                        if torch.allclose(got_value, wrong.double(), atol=1e-5, rtol=1e-4):
                            raise Failure(hint)
            compare(got, expected, {"logits": logits, "targets": targets, "eps": eps, "pad_id": pad_id})

    return run("label-smoothed cross-entropy", body)


def check_seq2seq_batch(student_fn: Callable) -> CheckResult:
    """``student_fn(pairs, pad_id, bos_id, eos_id)`` -> ``(src, tgt_in, tgt_out)``, padded on the right.

    The reference is ``transformer_lib.data.make_seq2seq_batch``.
    """

    def body():
        cases = [
            ([([5, 6, 7], [7, 6, 5]), ([8, 9], [9, 8])], 0, 1, 2),
            ([([4], [4, 4, 4, 4]), ([5, 6, 7, 8, 9], [9]), ([3, 3], [3, 5])], 0, 1, 2),
            ([([10, 11, 12, 13], [13, 12, 11])], 9, 7, 8),
        ]
        for pairs, pad_id, bos_id, eos_id in cases:
            got = call(student_fn, [(list(s), list(t)) for s, t in pairs], pad_id, bos_id, eos_id)
            if hasattr(got, "src") and hasattr(got, "tgt_in"):
                got = (got.src, got.tgt_in, got.tgt_out)
            if not isinstance(got, (tuple, list)) or len(got) != 3:
                raise Failure(f"expected a tuple (src, tgt_in, tgt_out), got {type(got).__name__}")
            expected = make_seq2seq_batch(pairs, pad_id, bos_id, eos_id)
            targets = [t for _, t in pairs]
            hints = {
                "tgt_in": {
                    "tgt_in is not shifted: it must start with bos_id, then the target": pad_sequences(
                        [[*t, eos_id] for t in targets], pad_id),
                    "tgt_in must not end with eos_id: it is bos_id followed by the target": pad_sequences(
                        [[bos_id, *t, eos_id] for t in targets], pad_id),
                    "tgt_in is the target without bos_id; prepend bos_id": pad_sequences(targets, pad_id),
                },
                "tgt_out": {
                    "tgt_out must end with eos_id, so that the model learns where to stop":
                        pad_sequences(targets, pad_id),
                    "tgt_out must not start with bos_id: it is the target followed by eos_id":
                        pad_sequences([[bos_id, *t, eos_id] for t in targets], pad_id),
                    "tgt_out is shifted like tgt_in; it is the target followed by eos_id":
                        pad_sequences([[bos_id, *t] for t in targets], pad_id),
                },
            }
            for name, value, reference in zip(("src", "tgt_in", "tgt_out"), got,
                                              (expected.src, expected.tgt_in, expected.tgt_out)):
                if isinstance(value, torch.Tensor):
                    value = value.detach().cpu()
                    for hint, wrong in hints.get(name, {}).items():
                        if value.shape == wrong.shape and torch.equal(value.long(), wrong):
                            raise Failure(hint)
                    if value.shape == reference.shape and not torch.equal(value.long(), reference):
                        flipped = torch.stack([row.roll(int((row == pad_id).sum())) for row in reference])
                        if torch.equal(value.long(), flipped):
                            raise Failure(f"{name} is padded on the left; pad on the right")
                    if value.dtype != torch.long:
                        raise Failure(f"{name} must hold token ids with dtype torch.long, got {value.dtype}")
                compare(value, reference, {"pairs": pairs})

    return run("seq2seq batch with shifted targets", body)


def check_mask_tokens(student_fn: Callable) -> CheckResult:
    """``student_fn(ids (B, S), mask_id, vocab_size, pad_id, generator)`` -> ``(inputs, labels)``.

    BERT's masking: 15% of the non-padding tokens are chosen; labels hold their ids (-100
    elsewhere); 80% of the chosen become ``mask_id``, 10% a random id, 10% stay. The answer is
    random, so the check measures those fractions on 24,000 tokens.
    """

    def body():
        generator = torch.Generator().manual_seed(11)
        vocab_size, mask_id, pad_id = 40, 40, 0
        ids = torch.randint(1, vocab_size, (300, 80), generator=generator)  # (B, S)
        lengths = torch.randint(40, 81, (300,), generator=generator)
        ids[torch.arange(80)[None, :] >= lengths[:, None]] = pad_id  # right padding
        original = ids.clone()
        got = call(student_fn, ids, mask_id, vocab_size, pad_id, torch.Generator().manual_seed(3))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Failure(f"expected a tuple (inputs, labels), got {type(got).__name__}")
        if not torch.equal(ids, original):
            raise Failure("your function changed ids in place: build new tensors (clone first)")
        inputs, labels = got
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
        if torch.equal(labels, ids):
            raise Failure("labels equal ids everywhere: set them to -100 where a token was not chosen, "
                          "so that the loss ignores those positions")
        if (chosen & ~real).any():
            raise Failure("a padding position was chosen (or its label is not -100): never choose pad_id")
        if not torch.equal(labels[chosen], ids[chosen]):
            raise Failure("at a chosen position the label must be the original token id")
        if 0.10 <= chosen.sum().item() / real.sum().item() <= 0.13:
            if (inputs[chosen] == mask_id).all() and (inputs[~chosen] != ids[~chosen]).any():
                raise Failure("labels are set only where the input became mask_id: the chosen tokens "
                              "that got a random id or stayed unchanged need their labels too")
        if not torch.equal(inputs[~chosen], ids[~chosen]):
            raise Failure("inputs differ from ids at positions that were not chosen (label -100); "
                          "only the chosen tokens may change")
        fraction = chosen.sum().item() / real.sum().item()
        if not 0.13 <= fraction <= 0.17:
            hint = " (you chose only the tokens that became mask_id?)" if 0.10 <= fraction <= 0.13 else ""
            raise Failure(f"{fraction:.1%} of the real tokens were chosen, expected about 15%{hint}")
        masked = (inputs[chosen] == mask_id).float().mean().item()
        kept = (inputs[chosen] == ids[chosen]).float().mean().item()
        replaced = 1 - masked - kept
        if masked > 0.95:
            raise Failure(f"{masked:.0%} of the chosen tokens became mask_id: only 80% should; 10% get "
                          "a random id and 10% stay as they are")
        if replaced < 0.02:
            raise Failure("no chosen token got a random id: 10% of them must (and 10% stay unchanged)")
        expected = {"became mask_id": (masked, 0.8), "stayed unchanged": (kept, 0.1 + 0.1 / vocab_size),
                    "got a random id": (replaced, 0.1 * (1 - 1 / vocab_size))}
        for what, (measured, target) in expected.items():
            if abs(measured - target) > 0.04:
                raise Failure(f"{measured:.1%} of the chosen tokens {what}, expected about {target:.0%} "
                              f"(80% become mask_id, 10% a random id, 10% stay unchanged)")
        if not ((inputs >= 0) & (inputs <= max(vocab_size - 1, mask_id))).all():
            raise Failure(f"inputs hold ids outside [0, {vocab_size}) other than mask_id")

    return run("BERT masking", body)
