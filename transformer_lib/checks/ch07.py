"""Checks for the exercises of chapter 7 (training): the loss, the training step, batches by
length and BERT's masking. The capstone's check is in ``capstone``."""

from collections.abc import Callable

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib.checks._compare import Case, compare, diagnose, matches, unpack
from transformer_lib.checks._core import Failure, call, check
from transformer_lib.config import TransformerConfig
from transformer_lib.data.batching import make_seq2seq_batch
from transformer_lib.losses import seq2seq_loss
from transformer_lib.models import Transformer
from transformer_lib.training import train_step



def _tiny_transformer(seed: int) -> Transformer:
    """A small post-LN Transformer on 12 tokens (pad 0), seeded, without dropout."""
    with torch.random.fork_rng(devices=[]):  # the learner's random stream stays as it was
        torch.manual_seed(seed)
        return Transformer(TransformerConfig(vocab_size=12, d_model=16, n_heads=2, d_ff=32,
                                             n_layers=1, dropout=0.0, max_len=32))


def _seq2seq_batches(generator, n: int = 3):
    """Batches of 4 to 6 pairs of random lengths over the ids 3..11 (0 pad, 1 bos, 2 eos)."""
    batches = []
    for _ in range(n):
        size = int(torch.randint(4, 7, (), generator=generator))
        lengths = torch.randint(1, 8, (size, 2), generator=generator).tolist()
        pairs = [(torch.randint(3, 12, (s,), generator=generator).tolist(),
                  torch.randint(3, 12, (t,), generator=generator).tolist()) for s, t in lengths]
        batches.append(make_seq2seq_batch(pairs, 0, 1, 2))
    return batches


def _wrong_losses(model, batch, smoothing) -> dict[str, torch.Tensor]:
    """hint -> the loss that mistake computes."""
    logits = model(batch.src, batch.tgt_in).flatten(0, 1)  # (B*T, V)
    labels, n_classes = batch.tgt_out.flatten(), logits.shape[-1]
    keep = labels != 0
    spread = torch.full_like(logits, smoothing / (n_classes - 1)).scatter(
        -1, labels[:, None], 1 - smoothing)
    smooth = F.cross_entropy(logits, labels, label_smoothing=smoothing, reduction="none")
    return {
        "the padding positions are counted: leave out every position whose label is the "
        "padding id (ignore_index)": smooth.mean(),
        "the labels are not shifted: the model reads batch.tgt_in and is scored on batch.tgt_out, "
        "the next token": F.cross_entropy(logits, batch.tgt_in.flatten(), ignore_index=0,
                                          label_smoothing=smoothing),
        "the decoder reads the answer: feed it batch.tgt_in (<bos> then the target), and score "
        "it on batch.tgt_out": F.cross_entropy(
            model(batch.src, batch.tgt_out).flatten(0, 1), labels, ignore_index=0,
            label_smoothing=smoothing),
        "the label smoothing is missing (label_smoothing=smoothing)": F.cross_entropy(
            logits, labels, ignore_index=0),
        "you spread the smoothing over the V - 1 wrong tokens; PyTorch and the library spread it "
        "over all V, the right one included": F.cross_entropy(logits[keep], spread[keep]),
        "you summed over the positions; the loss is their average": smooth[keep].sum(),
    }


@check("sequence-to-sequence loss", seed=5)
def check_seq2seq_loss(student_fn: Callable, generator):
    """``student_fn(model, batch, smoothing)`` -> the label-smoothed cross-entropy of the model's
    next-token predictions under teacher forcing, padding left out: ``losses.seq2seq_loss``."""
    model = _tiny_transformer(0).eval()
    for batch, smoothing in zip(_seq2seq_batches(generator), (0.1, 0.0, 0.2)):
        with torch.no_grad():
            got = call(student_fn, model, batch, smoothing)
            expected = seq2seq_loss(model, batch, smoothing)
            wrong = _wrong_losses(model, batch, smoothing)
        inputs = {"batch.src": batch.src, "batch.tgt_in": batch.tgt_in, "smoothing": smoothing}
        if isinstance(got, torch.Tensor) and got.dim() != 0:
            raise Failure(f"the loss must be one number (a 0-dim tensor), got {got.dim()} "
                          "dimensions: average over the positions")
        compare(got, expected, inputs, mistakes=wrong, what="the loss")


def _flat_parameters(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _step_variant(order: str):
    """A training step whose parts come in ``order`` (z zero_grad, b backward, c clip, o
    optimizer step, s scheduler step); a missing letter is a missing part."""
    def step(model, batch, loss_fn, optimizer, scheduler, clip_norm):
        loss = None
        for part in order:
            if part == "z":
                optimizer.zero_grad()
            elif part == "b":
                loss = loss_fn(model, batch)
                loss.backward()
            elif part == "c":
                nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            elif part == "o":
                optimizer.step()
            elif part == "s":
                scheduler.step()
        return loss.detach()
    return step


_STEP_MISTAKES = {
    "the gradients of the last step are still there: call optimizer.zero_grad() before "
    "loss.backward(), or they add up": "bcos",
    "the gradient is not clipped: call nn.utils.clip_grad_norm_(model.parameters(), clip_norm) "
    "between backward() and optimizer.step()": "zbos",
    "you clip after optimizer.step(), too late: clip between backward() and the step": "zbocs",
    "the schedule never moves: call scheduler.step() after optimizer.step()": "zbco",
    "scheduler.step() comes before optimizer.step(), so every step uses the next step's "
    "learning rate": "zbcso",
}


def _run_steps(step_fn, batches, clip_norm, student: bool):
    """Three steps of ``step_fn`` on a fresh copy of the same model; -> (parameters, losses)."""
    model = _tiny_transformer(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: (i + 1) / 3)
    loss_fn = lambda m, b: seq2seq_loss(m, b, 0.1)  # noqa: E731
    returned = []
    for batch in batches:
        args = (model, batch, loss_fn, optimizer, scheduler, clip_norm)
        returned.append(call(step_fn, *args) if student else step_fn(*args))
    return _flat_parameters(model), returned


@check("training step", seed=6)
def check_train_step(student_fn: Callable, generator):
    """``student_fn(model, batch, loss_fn, optimizer, scheduler, clip_norm)`` -> the loss; it
    must do what ``training.train_step`` does: three steps from the same model must leave the
    same parameters, with the clipping binding (a small ``clip_norm``) and with None."""
    batches = _seq2seq_batches(generator)
    for clip_norm in (0.05, None):
        expected, losses = _run_steps(train_step, batches, clip_norm, student=False)
        got, returned = _run_steps(student_fn, batches, clip_norm, student=True)
        with warnings.catch_warnings():  # PyTorch warns about the mistake of stepping order
            warnings.simplefilter("ignore")
            mistakes = {} if clip_norm is None else {
                hint: _run_steps(_step_variant(order), batches, clip_norm, student=False)[0]
                for hint, order in _STEP_MISTAKES.items()}
        if torch.equal(got, _flat_parameters(_tiny_transformer(1))):
            raise Failure("the parameters did not move in three steps; expected an update: call "
                          "loss.backward() and optimizer.step(), and zero the gradients before "
                          "backward(), not between backward() and the step")
        diagnose([Case(got, expected, mistakes, f"with clip_norm={clip_norm}, the parameters "
                       "after three steps differ from those of training.train_step")])
        for i, (value, loss) in enumerate(zip(returned, losses)):
            if isinstance(value, torch.Tensor) and value.requires_grad:
                raise Failure("return loss.detach(): the loss you return still holds the whole "
                              "graph of the step, which fit would keep alive for every step")
            compare(value if isinstance(value, torch.Tensor) else torch.as_tensor(value),
                    loss, {}, what=f"the loss returned by step {i + 1} (before its update)")


@check("batches of similar lengths")
def check_token_batches(student_fn: Callable):
    """``student_fn(lengths, max_tokens)`` -> lists of example indices: every example in exactly
    one batch, each batch's padded size ``len(batch) * its longest length <= max_tokens``, and
    little padding: at most 5 points more than sorting and filling greedily, in at most 25 %
    more batches."""
    generator = torch.Generator().manual_seed(8)
    cases = [([5, 1, 4, 2, 3], 8), ([3] * 10, 9)]
    for n, low, high, budget in ((200, 3, 40, 200), (500, 1, 100, 1000)):
        lengths = torch.randint(low, high + 1, (n,), generator=generator).tolist()
        cases.append((lengths, budget))
    for lengths, max_tokens in cases:
        inputs = (f"{len(lengths)} examples of lengths {min(lengths)} to {max(lengths)}, "
                  f"max_tokens={max_tokens}")
        batches = call(student_fn, list(lengths), max_tokens)
        if not isinstance(batches, (list, tuple)) or not all(
                isinstance(b, (list, tuple)) and b and all(isinstance(i, int) for i in b)
                for b in batches):
            raise Failure(f"expected a list of non-empty lists of indices for {inputs}")
        seen = sorted(i for b in batches for i in b)
        if seen != list(range(len(lengths))):
            missing = sorted(set(range(len(lengths))) - set(seen))
            raise Failure(f"every example must be in exactly one batch ({inputs}): "
                          + (f"{len(missing)} are missing (the last, partly filled batch?)"
                             if missing else "some appear twice"))
        cost = [len(b) * max(lengths[i] for i in b) for b in batches]
        if max(cost) > max_tokens:
            raise Failure(f"a batch of {max(cost)} padded tokens is over max_tokens ({inputs}): "
                          "a batch costs len(batch) x its longest length, padding included")
        ordered = sorted(range(len(lengths)), key=lengths.__getitem__)
        greedy = []
        for i in ordered:  # sorted lengths: the longest so far is the one added last
            if greedy and (len(greedy[-1]) + 1) * lengths[i] <= max_tokens:
                greedy[-1].append(i)
            else:
                greedy.append([i])
        padding = 1 - sum(lengths) / sum(cost)
        best = 1 - sum(lengths) / sum(len(b) * lengths[b[-1]] for b in greedy)
        if padding > best + 0.05:
            raise Failure(f"{padding:.0%} of the tokens are padding ({inputs}); sorted by length "
                          f"it can be {best:.0%}: put examples of similar length together")
        if len(batches) > 1.25 * len(greedy):
            raise Failure(f"{len(batches)} batches for {inputs}, where {len(greedy)} can do: "
                          "fill each batch up to max_tokens")


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
