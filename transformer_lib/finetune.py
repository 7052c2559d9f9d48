"""Chapter 13: fine-tuning a pretrained encoder on labelled texts.

A ``torch.utils.data.Dataset`` of tokenized texts, a collate function that pads each batch to its
own longest text (dynamic padding), a seeded ``DataLoader`` wrapped as ``training.fit``'s
``get_batch(step)``, AdamW parameter groups with no weight decay on biases and norms, the
warmup-then-linear-decay schedule of BERT, and a sequence classifier (a body, the masked mean
pooling of chapter 10 and a new head). ``frozen_features`` runs the frozen lower layers of an
encoder once, so that only the top layers are trained, from their cached outputs.

See: notebooks/13_fine_tuning.ipynb
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from transformer_lib import _validate
from transformer_lib.encoder import Encoder, LayerStack
from transformer_lib.task_heads import ClassificationHead, mean_pool

__all__ = ["SequenceClassifier", "TextDataset", "collate", "frozen_features", "full_classifier",
           "loader_batches", "param_groups", "top_layers", "warmup_linear"]


class TextDataset(Dataset):
    """Examples and their labels; item i is ``(x_i, label_i)``.

    Args:
        inputs: N examples, each a list of token ids or a ``(L_i, D)`` tensor (cached vectors).
        labels: N integer class labels.
    """

    def __init__(self, inputs: Sequence, labels: Sequence[int]):
        if len(inputs) != len(labels):
            raise ValueError(f"inputs has {len(inputs)} examples but labels has {len(labels)}")
        if len(inputs) == 0:
            raise ValueError("inputs is empty; expected at least one example")
        self.inputs, self.labels = list(inputs), [int(label) for label in labels]

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int):
        return self.inputs[i], self.labels[i]


def collate(batch: Sequence, pad_id: int = 0):
    """Pad a list of ``(x_i, label_i)`` to the batch's longest example (dynamic padding).

    Returns ``(x, mask, labels)``: ``x`` ``(B, S)`` long ids padded with ``pad_id`` (or
    ``(B, S, D)`` float vectors padded with zeros), ``mask`` ``(B, S)`` bool, True at real
    tokens, ``labels`` ``(B,)`` long. ``S`` is the longest ``x_i`` of this batch.
    """
    if len(batch) == 0:
        raise ValueError("batch is empty; expected a list of (x, label) pairs")
    xs = [torch.as_tensor(x) for x, _ in batch]
    if any(x.shape[0] == 0 for x in xs):
        raise ValueError("an example has no token; expected at least one")
    floating = xs[0].is_floating_point()
    x = pad_sequence(xs, batch_first=True, padding_value=0.0 if floating else pad_id)
    lengths = torch.tensor([len(x_i) for x_i in xs])  # (B,)
    mask = torch.arange(x.shape[1]) < lengths[:, None]  # (B, S)
    return x, mask, torch.tensor([int(label) for _, label in batch])


def loader_batches(dataset: Dataset, batch_size: int, seed: int = 0,
                   collate_fn: Callable = collate) -> Callable[[int], object]:
    """``get_batch(step)`` for ``training.fit``, from a shuffling ``DataLoader``.

    Epoch e's order is drawn by a ``torch.Generator`` seeded with ``(seed, e)``, so the batch of a
    step depends on the step alone (as with ``data.BatchSampler``): a run resumed at step k sees
    the batches the uninterrupted run saw. Steps asked in order cost one batch each; a jump
    rebuilds the epoch's loader and skips to the step's position. The last incomplete batch of an
    epoch is dropped.
    """
    _validate.positive_int("batch_size", batch_size)
    per_epoch = len(dataset) // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch_size={batch_size} is larger than the dataset ({len(dataset)})")
    state = {"next_step": None, "batches": None}

    def get_batch(step: int):
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step={step!r} must be a non-negative integer")
        epoch, position = divmod(step, per_epoch)
        if state["next_step"] != step or position == 0:
            generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            loader = DataLoader(dataset, batch_size, shuffle=True, generator=generator,
                                collate_fn=collate_fn, drop_last=True)
            state["batches"] = itertools.islice(iter(loader), position, None)
        state["next_step"] = step + 1
        return next(state["batches"])

    return get_batch


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: ``weight_decay`` on the trainable matrices, none on biases and norm weights.

    A parameter with fewer than 2 dimensions (a bias, a LayerNorm's gain or shift) gets no decay;
    frozen parameters (``requires_grad=False``) are left out.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in trainable if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0}]


def warmup_linear(step: int, warmup: int, steps: int) -> float:
    """The factor of the peak learning rate at ``step`` (0-based): linear warmup over ``warmup``
    steps to 1, then linear decay to 0 at ``steps`` (BERT's schedule). Use it with ``LambdaLR``."""
    if not 0 <= warmup < steps:
        raise ValueError(f"warmup={warmup} must be >= 0 and smaller than steps={steps}")
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (steps - step) / (steps - warmup))


class SequenceClassifier(nn.Module):
    """A body, the mean of its output over the real tokens, and a new ``ClassificationHead``.

    Args:
        body: maps ``(x, mask (B, 1, S))`` to ``(B, S, D)``: an ``Encoder`` (x = ids) or the
            top layers of one (x = the cached ``(B, S, D)`` vectors of the layers below).
        d_model: D.
        n_classes: C.
        dropout: dropout before the head's linear map.

    Shape:
        x ``(B, S)`` ids or ``(B, S, D)`` vectors, mask ``(B, S)`` bool; returns ``(B, C)``.
    """

    def __init__(self, body: nn.Module, d_model: int, n_classes: int, dropout: float = 0.1):
        super().__init__()
        self.body = body
        self.head = ClassificationHead(d_model, n_classes, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = _validate.rank("mask", mask, (2,), "(B, S)")
        h = self.body(x, mask.unsqueeze(1))  # (B, S, D)
        return self.head(mean_pool(h, mask))  # (B, C)


def top_layers(encoder: Encoder, n_top: int) -> LayerStack:
    """A trainable copy of the last ``n_top`` layers of ``encoder``, as a ``LayerStack``."""
    n_layers = len(encoder.stack.layers)
    if not isinstance(n_top, int) or not 1 <= n_top <= n_layers:
        raise ValueError(f"n_top={n_top!r} must be an int from 1 to the {n_layers} layers")
    layers = copy.deepcopy(encoder.stack.layers[n_layers - n_top:])
    return LayerStack(layers, encoder.cfg)


def full_classifier(encoder: Encoder, tuned: SequenceClassifier) -> SequenceClassifier:
    """The classifier that reads token ids: a copy of ``encoder`` whose top layers are those of
    ``tuned.body`` (trained on cached vectors, e.g. from ``top_layers``), and ``tuned.head``."""
    layers = getattr(tuned.body, "layers", None)
    if layers is None or not 1 <= len(layers) <= len(encoder.stack.layers):
        raise ValueError("tuned.body must be a LayerStack of the encoder's top layers "
                         "(from top_layers)")
    full = copy.deepcopy(encoder)
    first = len(full.stack.layers) - len(layers)
    for i, layer in enumerate(copy.deepcopy(layers)):
        full.stack.layers[first + i] = layer
    model = SequenceClassifier(full, tuned.head.d_model, tuned.head.n_classes)
    model.head = copy.deepcopy(tuned.head)
    return model


@torch.no_grad()
def frozen_features(encoder: Encoder, ids: Sequence[Sequence[int]], n_frozen: int,
                    batch_size: int = 64) -> list[torch.Tensor]:
    """Run the embedding and the first ``n_frozen`` layers once over every text.

    Returns one ``(L_i, D)`` tensor per text (its real tokens only), computed in evaluation mode
    (no dropout) in batches of similar length. Training the layers above on them is exact:
    frozen layers give the same outputs at every step.
    """
    n_layers = len(encoder.stack.layers)
    if not isinstance(n_frozen, int) or not 0 <= n_frozen <= n_layers:
        raise ValueError(f"n_frozen={n_frozen!r} must be an int from 0 to the {n_layers} layers")
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[torch.Tensor] = [torch.empty(0)] * len(ids)
    for start in range(0, len(ids), batch_size):
        rows = order[start:start + batch_size]
        x, mask, _ = collate([(ids[i], 0) for i in rows], encoder.cfg.pad_id or 0)
        x, mask = x.to(device), mask.to(device)
        h = encoder.embedding(x)  # (B, S, D)
        for layer in encoder.stack.layers[:n_frozen]:
            h = layer(h, mask.unsqueeze(1))  # (B, S, D)
        for j, i in enumerate(rows):
            out[i] = h[j, : len(ids[i])].cpu().clone()  # (L_i, D)
    encoder.train(was_training)
    return out
