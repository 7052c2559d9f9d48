"""Tagged sentences as tensors for a tagger, and the tagger's output back as tags.

Words are looked up lower-cased, so that "On" at the start of a sentence is the "on" seen in the
middle of others; their case, which is strong evidence of a name, goes into a separate *shape*
feature (``Xx`` capitalized, ``x`` lower case, ``d`` digits, ...), as in Collobert et al. (2011).
Labels are the ids of ``entities.TAGS``, with ``IGNORE_INDEX`` at the padding so that the loss
and the metrics skip it.

See: notebooks/11_named_entities.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from transformer_lib import _validate
from transformer_lib.data.batching import pad_sequences
from transformer_lib.data.entities import TAGS, TaggedSentence
from transformer_lib.data.name_origins import Vocab

TAG_IDS = {tag: i for i, tag in enumerate(TAGS)}
SHAPES = ("<pad>", "Xx", "X", "x", "d", "p", "other")
SHAPE_IDS = {shape: i for i, shape in enumerate(SHAPES)}
IGNORE_INDEX = -100  # the label of padding: F.cross_entropy skips it


def word_shape(word: str) -> str:
    """The word's shape, one of ``SHAPES[1:]``.

    ``Xx`` capitalized (``"Paris"``, ``"McDonald"``, ``"A"``), ``X`` two or more capitals only
    (``"LLC"``), ``x`` lower case, ``d`` digits only, ``p`` punctuation only, ``other`` any mix
    (``"3rd"``, ``"iPhone"``).
    """
    if not isinstance(word, str) or not word:
        raise ValueError(f"word={word!r} must be a non-empty string")
    if word.isdigit():
        return "d"
    if not any(c.isalnum() for c in word):
        return "p"
    if word.isalpha():
        if word.isupper():
            return "X" if len(word) > 1 else "Xx"
        if word.islower():
            return "x"
        if word[0].isupper():
            return "Xx"
    return "other"


def word_vocab(sentences: Sequence[TaggedSentence], min_freq: int = 2) -> Vocab:
    """The lower-cased words seen at least ``min_freq`` times (ids 0, 1, 2: pad, unk, cls)."""
    return Vocab((t.lower() for s in sentences for t in s.tokens), min_freq)


@dataclass
class TaggingBatch:
    """A padded batch for a tagger.

    Shape:
        ids ``(B, S)`` lower-cased word ids (``<pad>`` = 0), shapes ``(B, S)`` ids of
        ``SHAPES`` (0 at padding), labels ``(B, S)`` ids of ``TAGS`` (``IGNORE_INDEX`` at
        padding); ``lengths`` the B sentence lengths.
    """

    ids: torch.Tensor
    shapes: torch.Tensor
    labels: torch.Tensor
    lengths: list[int]

    def to(self, device) -> TaggingBatch:
        return TaggingBatch(self.ids.to(device), self.shapes.to(device), self.labels.to(device),
                            self.lengths)

    def __len__(self) -> int:
        return self.ids.shape[0]


def encode_batch(sentences: Sequence[TaggedSentence], vocab: Vocab) -> TaggingBatch:
    """Sentences to a padded ``TaggingBatch``: words lower-cased (their case goes to the shape)."""
    if not sentences:
        raise ValueError("sentences is empty; expected at least one sentence")
    words = [vocab.encode(t.lower() for t in s.tokens) for s in sentences]
    ids = pad_sequences(words, vocab.pad_id)
    shapes = pad_sequences([[SHAPE_IDS[word_shape(t)] for t in s.tokens] for s in sentences], 0)
    labels = pad_sequences([[TAG_IDS[t] for t in s.tags] for s in sentences], IGNORE_INDEX)
    return TaggingBatch(ids, shapes, labels, [len(s.tokens) for s in sentences])


def decode_tags(tag_ids: torch.Tensor, lengths: Sequence[int]) -> list[list[str]]:
    """Tag ids ``(B, S)`` to B lists of tag names, each cut to its sentence's length."""
    tag_ids = _validate.rank("tag_ids", tag_ids, (2,), "(B, S)")
    if len(lengths) != tag_ids.shape[0]:
        raise ValueError(f"lengths has {len(lengths)} entries; expected one per row of tag_ids "
                         f"({tag_ids.shape[0]})")
    rows = tag_ids.tolist()
    return [[TAGS[j] for j in row[:n]] for row, n in zip(rows, lengths)]


def word_dropout(ids: torch.Tensor, p: float | torch.Tensor, unk_id: int, pad_id: int = 0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each real token by ``unk_id`` with probability ``p`` (a training augmentation).

    The tagger then meets ``<unk>`` in training, in every kind of context, as it will at test
    time for the words it has never seen. Random numbers are drawn on the CPU, so every device
    drops the same tokens.

    Args:
        ids: ``(B, S)`` token ids.
        p: one probability for every token, or a ``(B, S)`` tensor of probabilities, one per token.
        unk_id: the id written in place of a dropped token.
        pad_id: the padding id; padding is never replaced.
        generator: the random stream (default: torch's global one).

    Returns:
        ``(B, S)``, a new tensor.
    """
    ids = _validate.rank("ids", ids, (2,), "(B, S)")
    if isinstance(p, torch.Tensor):
        if p.shape != ids.shape or not p.is_floating_point():
            raise ValueError(f"p must be a float or a float tensor of ids' shape "
                             f"{tuple(ids.shape)}, got a {p.dtype} tensor of shape "
                             f"{tuple(p.shape)}")
        if bool(((p < 0) | (p >= 1)).any()):
            raise ValueError("p holds a value outside [0, 1); every entry must be a probability")
        p = p.cpu()
    else:
        _validate.probability("p", p)
    draw = torch.rand(ids.shape, generator=generator)  # (B, S), on the CPU
    drop = (draw < p).to(ids.device) & (ids != pad_id)
    return ids.masked_fill(drop, unk_id)
