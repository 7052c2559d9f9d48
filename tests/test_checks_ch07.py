"""Chapter 7's exercise checks accept right answers and explain the typical wrong ones."""

import torch
import torch.nn.functional as F
from torch import nn

import transformer_lib as tl
from transformer_lib import checks, losses, training
from transformer_lib.data import EOS_ID, PAD_ID


def right_loss(model, batch, smoothing=0.0):
    logits = model(batch.src, batch.tgt_in)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD_ID,
                           label_smoothing=smoothing)


def loss_with(logits_of, labels_of, **options):
    def loss(model, batch, smoothing):
        logits = logits_of(model, batch).flatten(0, 1)
        return F.cross_entropy(logits, labels_of(batch).flatten(), **{
            "ignore_index": PAD_ID, "label_smoothing": smoothing, **options})
    return loss


def teacher_forced(model, batch):
    return model(batch.src, batch.tgt_in)


def right_step(model, batch, loss_fn, optimizer, scheduler, clip_norm):
    optimizer.zero_grad()
    loss = loss_fn(model, batch)
    loss.backward()
    if clip_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    scheduler.step()
    return loss.item()


def step_without(part):
    def step(model, batch, loss_fn, optimizer, scheduler, clip_norm):
        if part != "zero_grad":
            optimizer.zero_grad()
        loss = loss_fn(model, batch)
        loss.backward()
        if part != "clip" and clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        if part != "scheduler":
            scheduler.step()
        return loss if part == "detach" else loss.detach()
    return step


def zero_grad_too_late(model, batch, loss_fn, optimizer, scheduler, clip_norm):
    loss = loss_fn(model, batch)
    loss.backward()
    optimizer.zero_grad()  # the mistake: the gradient is gone before the step
    optimizer.step()
    scheduler.step()
    return loss.detach()


def right_batches(lengths, max_tokens):
    batches = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if batches and (len(batches[-1]) + 1) * lengths[i] <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def unsorted_batches(lengths, max_tokens):
    batches = []
    for i, n in enumerate(lengths):
        if batches and (len(batches[-1]) + 1) * max(n, *(lengths[j] for j in batches[-1])) \
                <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def batches_counting_real_tokens(lengths, max_tokens):
    batches, used = [], 0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if batches and used + lengths[i] <= max_tokens:
            batches[-1].append(i)
            used += lengths[i]
        else:
            batches.append([i])
            used = lengths[i]
    return batches


class Reverser(nn.Module):
    """A model that reverses by construction: what a perfectly trained one decodes."""

    def __init__(self, vocab_size=8):
        super().__init__()
        self.vocab_size = vocab_size
        self.unused = nn.Parameter(torch.zeros(1))

    def source_mask(self, src):
        return None

    def encode(self, src, src_mask=None):
        return src.unsqueeze(-1).float()  # (B, S, 1)

    def decode(self, tgt, memory, tgt_mask=None, memory_mask=None):
        src = memory.squeeze(-1).long()  # (B, S)
        lengths = (src != PAD_ID).sum(dim=1)
        answer = torch.full((len(src), tgt.shape[1]), EOS_ID)
        for row, n in enumerate(lengths.tolist()):
            steps = min(n, tgt.shape[1])
            answer[row, :steps] = src[row, :n].flip(0)[:steps]
        return nn.functional.one_hot(answer, self.vocab_size).float() * 10  # (B, T, V)

    def forward(self, src, tgt):
        return self.decode(tgt, self.encode(src))


class Copier(Reverser):
    """Writes the source back unreversed, with one of the learner's parts broken inside."""

    def __init__(self):
        super().__init__()
        self.ffn = type("FeedForward", (nn.Module,), {
            "__module__": "my_transformer",
            "__init__": lambda self, d_model, d_ff, dropout=0.0: nn.Module.__init__(self),
            "forward": lambda self, x: x,
        })(4, 8)

    def encode(self, src, src_mask=None):
        return src.flip(1).unsqueeze(-1).float()


def untrained_transformer():
    torch.manual_seed(0)
    return tl.Transformer(tl.TransformerConfig(vocab_size=8, d_model=16, n_heads=2, d_ff=32,
                                               n_layers=1, dropout=0.0, max_len=32))


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
    (checks.check_seq2seq_loss, right_loss),
    (checks.check_seq2seq_loss, losses.seq2seq_loss),
    (checks.check_train_step, right_step),
    (checks.check_train_step, training.train_step),
    (checks.check_token_batches, right_batches),
    (checks.check_mask_tokens, right_mask),
    (checks.check_trained_transformer, Reverser()),
]

WRONG = [
    (checks.check_seq2seq_loss, loss_with(teacher_forced, lambda b: b.tgt_out, ignore_index=-100),
     "padding positions are counted"),
    (checks.check_seq2seq_loss, loss_with(teacher_forced, lambda b: b.tgt_in),
     "the labels are not shifted"),
    (checks.check_seq2seq_loss, loss_with(lambda m, b: m(b.src, b.tgt_out), lambda b: b.tgt_out),
     "the decoder reads the answer"),
    (checks.check_seq2seq_loss, lambda m, b, s: right_loss(m, b, 0.0),
     "label smoothing is missing"),
    (checks.check_seq2seq_loss, lambda m, b, s: right_loss(m, b, s) * 2, "expected"),
    (checks.check_seq2seq_loss, lambda m, b, s: m(b.src, b.tgt_in).mean(dim=-1), "one number"),
    (checks.check_train_step, step_without("zero_grad"), "call optimizer.zero_grad()"),
    (checks.check_train_step, step_without("clip"), "the gradient is not clipped"),
    (checks.check_train_step, step_without("scheduler"), "the schedule never moves"),
    (checks.check_train_step, step_without("detach"), "return loss.detach()"),
    (checks.check_train_step, zero_grad_too_late, "the parameters did not move"),
    (checks.check_token_batches, lambda lengths, m: [[i] for i in range(len(lengths))],
     "fill each batch up to max_tokens"),
    (checks.check_token_batches, unsorted_batches, "put examples of similar length together"),
    (checks.check_token_batches, batches_counting_real_tokens, "padding included"),
    (checks.check_token_batches, lambda lengths, m: right_batches(lengths, m)[:-1],
     "are missing"),
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
    (checks.check_trained_transformer, untrained_transformer(), "look at the training"),
    (checks.check_trained_transformer, Copier(), "your FeedForward fails chapter 3's check"),
]


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_seq2seq_loss(right_loss)
    checks.check_train_step(right_step)
    checks.check_mask_tokens(right_mask)
    torch.testing.assert_close(torch.rand(3), expected)
