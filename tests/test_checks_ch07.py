"""Chapter 7's exercise checks accept right answers and explain the typical wrong ones."""

import torch
import torch.nn.functional as F

from transformer_lib import checks, losses, training
from transformer_lib.data import make_seq2seq_batch, pad_sequences


def right_noam(step, d_model, warmup):
    return d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def noam_in_float32(step, d_model, warmup):
    step, d_model, warmup = (torch.tensor(float(x)) for x in (step, d_model, warmup))
    return (d_model**-0.5 * torch.minimum(step**-0.5, step * warmup**-1.5)).item()


def right_smoothed(logits, targets, eps, pad_id):
    keep = targets != pad_id
    log_probs = logits[keep].log_softmax(-1)  # (N_kept, V)
    n_classes = logits.shape[-1]
    dist = torch.full_like(log_probs, eps / n_classes)
    dist.scatter_add_(-1, targets[keep][:, None], torch.full_like(log_probs[:, :1], 1 - eps))
    return -(dist * log_probs).sum(-1).mean()


def notebook_smoothed(logits, targets, eps, pad_id):
    """The notebook's solution: a float32 one-hot target, so float64 logits give a float64 loss."""
    keep = targets != pad_id
    n_classes = logits.shape[-1]
    q = (1 - eps) * F.one_hot(targets[keep], n_classes).float() + eps / n_classes
    return -(q * logits[keep].log_softmax(dim=-1)).sum(dim=-1).mean()


def other_convention(logits, targets, eps, pad_id):
    keep = targets != pad_id
    log_probs = logits[keep].log_softmax(-1)
    dist = torch.full_like(log_probs, eps / (logits.shape[-1] - 1))
    dist.scatter_(-1, targets[keep][:, None], 1 - eps)
    return -(dist * log_probs).sum(-1).mean()


def right_batch(pairs, pad_id, bos_id, eos_id):
    src = pad_sequences([s for s, _ in pairs], pad_id)
    tgt_in = pad_sequences([[bos_id, *t] for _, t in pairs], pad_id)
    tgt_out = pad_sequences([[*t, eos_id] for _, t in pairs], pad_id)
    return src, tgt_in, tgt_out


def left_padded_batch(pairs, pad_id, bos_id, eos_id):
    def left(seqs):
        longest = max(map(len, seqs))
        return torch.tensor([[pad_id] * (longest - len(s)) + list(s) for s in seqs])

    return (left([s for s, _ in pairs]), left([[bos_id, *t] for _, t in pairs]),
            left([[*t, eos_id] for _, t in pairs]))


def right_mask(ids, mask_id, vocab_size, pad_id, generator):
    return losses.mask_tokens(ids, mask_id, vocab_size, (pad_id,), 0.15, generator)


def mask_all_chosen(ids, mask_id, vocab_size, pad_id, generator):
    chosen = (torch.rand(ids.shape, generator=generator) < 0.15) & (ids != pad_id)
    return ids.masked_fill(chosen, mask_id), ids.masked_fill(~chosen, -100)


def labels_everywhere(ids, mask_id, vocab_size, pad_id, generator):
    inputs, _ = right_mask(ids, mask_id, vocab_size, pad_id, generator)
    return inputs, ids.clone()


def pad_chosen_too(ids, mask_id, vocab_size, pad_id, generator):
    return losses.mask_tokens(ids, mask_id, vocab_size, (), 0.15, generator)


def labels_only_on_masks(ids, mask_id, vocab_size, pad_id, generator):
    inputs, labels = right_mask(ids, mask_id, vocab_size, pad_id, generator)
    return inputs, labels.masked_fill(inputs != mask_id, -100)


def global_random_stream(ids, mask_id, vocab_size, pad_id, generator):
    return right_mask(ids, mask_id, vocab_size, pad_id, None)  # ignores generator


def masks_in_place(ids, mask_id, vocab_size, pad_id, generator):
    inputs, labels = right_mask(ids, mask_id, vocab_size, pad_id, generator)
    ids.copy_(inputs)
    return inputs, labels


def no_random_tokens(ids, mask_id, vocab_size, pad_id, generator):
    inputs, labels = right_mask(ids, mask_id, vocab_size, pad_id, generator)
    chosen = labels != -100
    return torch.where(chosen & (inputs != mask_id), ids, inputs), labels


RIGHT = [
    (checks.check_noam_lr, right_noam),
    (checks.check_noam_lr, lambda s, d, w: training.noam_lr(s, d, w)),
    (checks.check_noam_lr, noam_in_float32),
    (checks.check_smoothed_cross_entropy, right_smoothed),
    (checks.check_smoothed_cross_entropy,
     lambda lo, t, e, p: losses.label_smoothed_cross_entropy(lo, t, e, p)),
    (checks.check_smoothed_cross_entropy, notebook_smoothed),
    (checks.check_smoothed_cross_entropy,
     lambda lo, t, e, p: notebook_smoothed(lo.double(), t, e, p)),
    (checks.check_seq2seq_batch, right_batch),
    (checks.check_seq2seq_batch, make_seq2seq_batch),
    (checks.check_mask_tokens, right_mask),
]

WRONG = [
    (checks.check_noam_lr, lambda s, d, w: d**-0.5 * s**-0.5, "the warmup is missing"),
    (checks.check_noam_lr, lambda s, d, w: d**-0.5 * s * w**-1.5, "the decay is missing"),
    (checks.check_noam_lr, lambda s, d, w: d**-0.5 * max(s**-0.5, s * w**-1.5), "max"),
    (checks.check_noam_lr, lambda s, d, w: min(s**-0.5, s * w**-1.5), "d_model^-0.5 is missing"),
    (checks.check_noam_lr, lambda s, d, w: d**-0.5 * min(s**-0.5, s * w**-0.5), "warmup^-1.5"),
    (checks.check_noam_lr, lambda s, d, w: right_noam(s + 1, d, w), "step starts at 1"),
    (checks.check_noam_lr, lambda s, d, w: torch.tensor(right_noam(s, d, w)), "use .item()"),
    (checks.check_noam_lr, lambda s, d, w: 2 * right_noam(s, d, w), "expected"),
    (checks.check_smoothed_cross_entropy,
     lambda lo, t, e, p: F.cross_entropy(lo, t, ignore_index=p), "the smoothing is missing"),
    (checks.check_smoothed_cross_entropy,
     lambda lo, t, e, p: F.cross_entropy(lo, t, label_smoothing=e),
     "padding positions are counted"),
    (checks.check_smoothed_cross_entropy,
     lambda lo, t, e, p: F.cross_entropy(lo, t, label_smoothing=e, ignore_index=p, reduction="sum"),
     "summed"),
    (checks.check_smoothed_cross_entropy,
     lambda lo, t, e, p: F.cross_entropy(lo, t, label_smoothing=e, ignore_index=p, reduction="sum")
     / len(t), "divided by all N positions"),
    (checks.check_smoothed_cross_entropy, other_convention, "V - 1 wrong classes"),
    (checks.check_smoothed_cross_entropy,
     lambda lo, t, e, p: F.cross_entropy(lo, t, label_smoothing=e, ignore_index=p).item(),
     "expected a torch.Tensor"),
    (checks.check_seq2seq_batch,
     lambda pairs, p, b, e: (right_batch(pairs, p, b, e)[0],)
     + (right_batch(pairs, p, b, e)[2],) * 2,
     "tgt_in is not shifted"),
    (checks.check_seq2seq_batch,
     lambda pairs, p, b, e: right_batch([(s, t) for s, t in pairs], p, b, e)[:2]
     + (pad_sequences([t for _, t in pairs], p),), "must end with eos_id"),
    (checks.check_seq2seq_batch,
     lambda pairs, p, b, e: (right_batch(pairs, p, b, e)[0],
                             pad_sequences([[b, *t, e] for _, t in pairs], p),
                             right_batch(pairs, p, b, e)[2]), "must not end with eos_id"),
    (checks.check_seq2seq_batch, left_padded_batch, "padded on the left"),
    (checks.check_seq2seq_batch, lambda pairs, p, b, e: right_batch(pairs, 0, b, e),
     "pad with pad_id"),
    (checks.check_seq2seq_batch,
     lambda pairs, p, b, e: (right_batch(pairs, p, b, e)[0],
                             pad_sequences([t for _, t in pairs], p),
                             right_batch(pairs, p, b, e)[2]), "prepend bos_id"),
    (checks.check_seq2seq_batch,
     lambda pairs, p, b, e: right_batch(pairs, p, b, e)[:2] + (right_batch(pairs, p, b, e)[1],),
     "tgt_out is shifted like tgt_in"),
    (checks.check_seq2seq_batch,
     lambda pairs, p, b, e: right_batch(pairs, p, b, e)[:2]
     + (pad_sequences([[b, *t, e] for _, t in pairs], p),), "must not start with bos_id"),
    (checks.check_seq2seq_batch, lambda pairs, p, b, e: right_batch(pairs, p, b, e)[1], "expected"),
    (checks.check_seq2seq_batch,
     lambda pairs, p, b, e: tuple(x.float() for x in right_batch(pairs, p, b, e)),
     "dtype torch.long"),
    (checks.check_mask_tokens, mask_all_chosen, "only 80% should"),
    (checks.check_mask_tokens, labels_everywhere, "set them to -100"),
    (checks.check_mask_tokens, pad_chosen_too, "never choose pad_id"),
    (checks.check_mask_tokens, lambda ids, m, v, p, g: right_mask(ids, m, v, 0, g),
     "never choose pad_id"),
    (checks.check_mask_tokens, labels_only_on_masks, "need their labels too"),
    (checks.check_mask_tokens, no_random_tokens, "no chosen token got a random id"),
    (checks.check_mask_tokens, masks_in_place, "changed its input ids in place"),
    (checks.check_mask_tokens, global_random_stream, "generators of the same seed"),
    (checks.check_mask_tokens, lambda ids, m, v, p, g: (ids, ids), "set them to -100"),
    (checks.check_mask_tokens, lambda ids, m, v, p, g: (ids.float(), ids), "dtype torch.long"),
]


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_smoothed_cross_entropy(right_smoothed)
    checks.check_seq2seq_batch(right_batch)
    checks.check_mask_tokens(right_mask)
    torch.testing.assert_close(torch.rand(3), expected)
