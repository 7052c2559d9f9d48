"""Chapter 14: extractive question answering, BERT's way (Devlin et al. 2019, SQuAD).

The input is one sequence ``[CLS] question [SEP] context [SEP]`` whose token types (segments) say
which part a token belongs to (0: the question, 1: the context). The encoder turns every token into
a vector; a linear layer gives each token a start score and an end score; training adds the
cross-entropies of the true start and the true end. The answer is the best span inside the
context with ``start <= end <= start + L``. Scores are SQuAD's exact match and token F1 after the
official script's normalisation (Rajpurkar et al. 2016, evaluate-v1.1.py).

See: notebooks/14_question_answering.ipynb
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib import _validate


@dataclass
class QABatch:
    """Encoded question-context pairs.

    ids, token_type_ids ``(B, S)`` long; mask ``(B, S)`` bool, True at real tokens;
    context_mask ``(B, S)`` bool, True at the context's tokens; starts, ends ``(B,)`` long, the
    answer's first and last token (-1 without answers); offsets: per pair, each token's
    ``(start, end)`` characters in its own text.
    """

    ids: torch.Tensor
    token_type_ids: torch.Tensor
    mask: torch.Tensor
    context_mask: torch.Tensor
    starts: torch.Tensor
    ends: torch.Tensor
    offsets: list[list[tuple[int, int]]]

    def to(self, device) -> QABatch:
        moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v
                 for k, v in self.__dict__.items()}
        return QABatch(**moved)


def load_tokenizer(folder=None):
    """The MiniLM WordPiece tokenizer (chapter 12's files), without its fixed padding."""
    from tokenizers import Tokenizer

    from transformer_lib import pretrained

    folder = pretrained.minilm_path() if folder is None else folder
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def char_span_to_tokens(offsets, in_context, start_char: int, end_char: int) -> tuple[int, int]:
    """The first and last context token that overlap characters ``[start_char, end_char)``."""
    hits = [i for i, ((a, b), c) in enumerate(zip(offsets, in_context))
            if c and a < end_char and b > start_char]
    if not hits:
        raise ValueError(f"no context token overlaps characters [{start_char}, {end_char})")
    return hits[0], hits[-1]


def encode(tokenizer, questions: list[str], contexts: list[str], answer_starts=None,
           answer_texts=None, pad_id: int = 0) -> QABatch:
    """Tokenize pairs as ``[CLS] question [SEP] context [SEP]`` and pad them to the longest.

    With ``answer_starts`` (character offsets in the contexts) and ``answer_texts``, ``starts``
    and ``ends`` hold each answer's first and last token; else -1."""
    if len(questions) != len(contexts) or not questions:
        raise ValueError(f"expected as many questions as contexts, at least one; got "
                         f"{len(questions)} and {len(contexts)}")
    pairs = tokenizer.encode_batch(list(zip(questions, contexts)))
    n, S = len(pairs), max(len(p.ids) for p in pairs)
    ids = torch.full((n, S), pad_id, dtype=torch.long)
    types, context = torch.zeros(n, S, dtype=torch.long), torch.zeros(n, S, dtype=torch.bool)
    mask, spans = torch.zeros(n, S, dtype=torch.bool), torch.full((n, 2), -1, dtype=torch.long)
    for i, pair in enumerate(pairs):
        k = len(pair.ids)
        ids[i, :k], types[i, :k] = torch.tensor(pair.ids), torch.tensor(pair.type_ids)
        mask[i, :k] = True
        in_context = [s == 1 for s in pair.sequence_ids]  # None at [CLS] and [SEP]
        context[i, :k] = torch.tensor(in_context)
        if answer_starts is not None:
            start = answer_starts[i]
            spans[i] = torch.tensor(char_span_to_tokens(
                pair.offsets, in_context, start, start + len(answer_texts[i])))
    return QABatch(ids, types, mask, context, spans[:, 0], spans[:, 1],
                   [list(p.offsets) for p in pairs])


class SpanHead(nn.Module):
    """Each token's vector to a start score and an end score: one linear layer ``D -> 2``.

    Shape: h ``(B, S, D)`` -> start_logits ``(B, S)``, end_logits ``(B, S)``.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.linear = nn.Linear(_validate.positive_int("d_model", d_model), 2)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start_logits, end_logits = self.linear(h).unbind(-1)  # (B, S) each
        return start_logits, end_logits


class SpanQA(nn.Module):
    """An encoder with a ``SpanHead``: token ids, token types and mask to start and end scores.

    Args:
        encoder: an ``Encoder`` whose embedding takes ``token_type_ids``
            (``pretrained.bert_encoder``, ``pretrained.load_minilm().encoder``).

    Shape: ids, token_type_ids ``(B, S)``, mask ``(B, S)`` bool -> two ``(B, S)``.
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = SpanHead(encoder.cfg.d_model)

    def forward(self, ids, token_type_ids, mask) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(ids, mask.unsqueeze(1), token_type_ids=token_type_ids)  # (B, S, D)
        return self.head(h)


def span_loss(start_logits, end_logits, starts, ends, context_mask) -> torch.Tensor:
    """CE(start) + CE(end), each a softmax over the context's tokens only; a scalar."""
    if not bool((context_mask.gather(1, starts[:, None]) & context_mask.gather(1, ends[:, None]))
                .all()):
        raise ValueError("starts and ends must point at context tokens (context_mask True)")
    outside = ~context_mask  # (B, S)
    return (F.cross_entropy(start_logits.masked_fill(outside, -1e9), starts)
            + F.cross_entropy(end_logits.masked_fill(outside, -1e9), ends))


def best_span(start_logits, end_logits, context_mask, max_len: int = 10):
    """The span with the largest start + end score under start <= end <= start + max_len - 1,
    both inside the context.

    Shape: three ``(B, S)`` -> starts ``(B,)``, ends ``(B,)`` long, scores ``(B,)``.
    """
    _validate.positive_int("max_len", max_len)
    S = start_logits.shape[-1]
    scores = start_logits[:, :, None] + end_logits[:, None, :]  # (B, S start, S end)
    band = torch.ones(S, S, dtype=torch.bool, device=scores.device)
    band = band.triu() & ~band.triu(max_len)  # 0 <= end - start < max_len
    allowed = band & context_mask[:, :, None] & context_mask[:, None, :]  # (B, S, S)
    best, flat = scores.masked_fill(~allowed, -torch.inf).flatten(1).max(-1)  # (B,)
    return flat // S, flat % S, best


def span_text(context: str, offsets, start: int, end: int) -> str:
    """The characters of ``context`` from token ``start``'s first to token ``end``'s last."""
    return context[offsets[start][0]:offsets[end][1]]


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, drop punctuation, then the articles a, an and the, then
    collapse whitespace (evaluate-v1.1.py)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def exact_match(prediction: str, truth: str) -> float:
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(truth))


def token_f1(prediction: str, truth: str) -> float:
    """SQuAD's token F1: the harmonic mean of the precision and recall of the normalised words
    (a multiset); 0.0 when they share no word (also when both are empty, as in v1.1)."""
    pred, true = normalize_answer(prediction).split(), normalize_answer(truth).split()
    same = sum((Counter(pred) & Counter(true)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(true)
    return 2 * precision * recall / (precision + recall)
