"""Chapter 7: the losses the training loop minimizes, one per kind of model.

Label-smoothed cross-entropy (Szegedy et al., 2016), the sequence-to-sequence loss with teacher
forcing, the language-model loss, and BERT's masked language modelling (Devlin et al., 2019).
Each ``*_loss(model, batch)`` returns a scalar and plugs into :func:`transformer_lib.training.fit`.

See: notebooks/07_training.ipynb
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib import _validate

__all__ = [
    "held_out_lm_loss",
    "label_smoothed_cross_entropy",
    "lm_loss",
    "mask_tokens",
    "mlm_loss",
    "perplexity",
    "seq2seq_loss",
    "smoothed_targets",
]


def smoothed_targets(targets: torch.Tensor, n_classes: int, smoothing: float) -> torch.Tensor:
    """The target distribution of label smoothing: ``(1 - eps)`` on the right class + ``eps / V``.

    This is PyTorch's definition (``nn.CrossEntropyLoss(label_smoothing=eps)``): the mass ``eps``
    is spread uniformly over all ``V`` classes, the right one included.

    Shape:
        targets ``(N,)`` class ids; returns ``(N, V)``, each row summing to 1.
    """
    _validate.probability("smoothing", smoothing)
    spread = torch.full((len(targets), n_classes), smoothing / n_classes, device=targets.device)
    right = targets.unsqueeze(1)  # (N, 1): the column of each row's right class
    return spread.scatter(1, right, 1 - smoothing + smoothing / n_classes)  # (N, V)


def label_smoothed_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    smoothing: float = 0.1,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Cross-entropy against the smoothed targets, averaged over the positions not ignored.

    Equal to ``F.cross_entropy(logits, targets, label_smoothing=smoothing, ignore_index=...)``.

    Shape:
        logits ``(N, V)``, targets ``(N,)``; returns a scalar.
    """
    logits = _validate.rank("logits", logits, (2,), "(N, V)")
    if targets.shape != logits.shape[:1]:
        raise ValueError(
            f"targets must have shape ({logits.shape[0]},), got {tuple(targets.shape)}"
        )
    keep = (torch.ones_like(targets, dtype=torch.bool) if ignore_index is None
            else targets != ignore_index)
    log_probs = logits.log_softmax(dim=-1)  # (N, V)
    # Ignored positions get any valid class here; their loss is multiplied by 0 below. (Indexing
    # with keep would make a GPU report how many positions are kept, a wait at every step.)
    target_dist = smoothed_targets(targets.masked_fill(~keep, 0), logits.shape[-1], smoothing)
    per_position = -(target_dist * log_probs).sum(dim=-1)  # (N,)
    return (per_position * keep).sum() / keep.sum()


def seq2seq_loss(model: nn.Module, batch, smoothing: float = 0.0) -> torch.Tensor:
    """Teacher forcing: the decoder reads ``batch.tgt_in`` and is scored on ``batch.tgt_out``.

    Padding positions (``model.cfg.pad_id``) are left out of the average.
    """
    logits = model(batch.src, batch.tgt_in)  # (B, T, V)
    pad = model.cfg.pad_id
    return label_smoothed_cross_entropy(
        logits.flatten(0, 1), batch.tgt_out.flatten(), smoothing, pad
    )


def lm_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Next-token prediction: ``batch = (inputs, targets)``, targets are the inputs shifted by one.

    Shape: inputs ``(B, T)``, targets ``(B, T)``; positions whose target is -100 are ignored.
    """
    inputs, targets = batch
    logits = model(inputs)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)


@torch.no_grad()
def held_out_lm_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                     batch_size: int = 64) -> float:
    """The mean next-token loss (nats per token) over windows of held-out text.

    Shape: inputs and targets ``(W, T)``, run ``batch_size`` windows at a time on the model's
    device, in eval mode; the model goes back to the mode it was in. Chapter 9 builds it.
    """
    _validate.positive_int("batch_size", batch_size)
    if len(inputs) == 0 or inputs.shape != targets.shape:
        raise ValueError(f"inputs and targets must be (W, T) with W >= 1 and the same shape, got "
                         f"{tuple(inputs.shape)} and {tuple(targets.shape)}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(inputs), batch_size):
        x, y = inputs[i : i + batch_size].to(device), targets[i : i + batch_size].to(device)
        total += lm_loss(model, (x, y)).item() * len(x)
    model.train(was_training)
    return total / len(inputs)


def mask_tokens(
    ids: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    special_ids: tuple[int, ...] = (0,),
    mask_prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking (Devlin et al., 2019): choose ``mask_prob`` of the tokens to predict.

    Of the chosen tokens, 80% become ``mask_id``, 10% a random token, 10% stay as they are.
    Special tokens (padding, ...) are never chosen, and never drawn as a random token (nor is
    ``mask_id``).

    Shape:
        ids ``(B, S)``; returns ``(inputs, labels)``, both ``(B, S)``, labels -100 where nothing
        is to be predicted.
    """
    _validate.probability("mask_prob", mask_prob)
    device = ids.device
    ids = ids.cpu()
    draw = torch.rand(ids.shape, generator=generator)
    special = torch.isin(ids, torch.tensor(special_ids))
    chosen = (draw < mask_prob) & ~special
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    how = torch.rand(ids.shape, generator=generator)
    ordinary = torch.tensor([i for i in range(vocab_size) if i not in special_ids and i != mask_id])
    if len(ordinary) == 0:
        raise ValueError(f"no ordinary token to draw random replacements from: vocab_size="
                         f"{vocab_size} with special_ids={special_ids} and mask_id={mask_id}")
    random_ids = ordinary[torch.randint(0, len(ordinary), ids.shape, generator=generator)]
    inputs = torch.where(chosen & (how < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (how >= 0.8) & (how < 0.9), random_ids, inputs)
    return inputs.to(device), labels.to(device)


def mlm_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Masked language modelling: predict the original token at each chosen position.

    ``batch = mask_tokens(...)``: the inputs with masks, and labels (-100 where not chosen).
    """
    inputs, labels = batch
    logits = model(inputs)  # (B, S, V)
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


def perplexity(loss: float) -> float:
    """``exp(loss)``: the effective number of equally likely next tokens."""
    return math.exp(loss)
