"""Turning a trained model's next-token distributions into output sequences.

Encoder-decoder: ``greedy_decode`` and ``beam_search``, and ``sequence_log_prob`` to score any
output under the model. Decoder-only: ``generate`` with greedy choice or sampling (temperature,
top-k, top-p). None of them changes ``model.train()``/``model.eval()``: call ``model.eval()`` first.

See: notebooks/07_training.ipynb, 08_translation.ipynb, 09_text_generation.ipynb
"""

from __future__ import annotations

import torch
from torch import nn

from transformer_lib import _validate

__all__ = [
    "beam_search",
    "exact_match",
    "generate",
    "greedy_decode",
    "sample_next_token",
    "sequence_log_prob",
    "top_k_filter",
    "top_p_filter",
]


def _cut_at_eos(ids: list[int], eos_id: int) -> list[int]:
    return ids[: ids.index(eos_id)] if eos_id in ids else ids


@torch.no_grad()
def greedy_decode(
    model: nn.Module, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int
) -> list[list[int]]:
    """Pick the most likely next token at every step, for a whole batch at once.

    Shape:
        src ``(B, S)``; returns B lists of token ids, without ``<bos>`` and cut before ``<eos>``.
    """
    src = _validate.rank("src", src, (2,), "(B, S)")
    _validate.positive_int("max_len", max_len)
    src_mask = model.source_mask(src)  # (B, 1, S) or None
    memory = model.encode(src, src_mask)  # (B, S, D)
    ys = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)  # (B, 1)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        next_token = model.decode(ys, memory, memory_mask=src_mask)[:, -1].argmax(dim=-1)  # (B,)
        ys = torch.cat([ys, next_token[:, None]], dim=1)
        done |= next_token == eos_id
        if done.all():
            break
    return [_cut_at_eos(row[1:], eos_id) for row in ys.tolist()]


@torch.no_grad()
def sequence_log_prob(
    model: nn.Module, src: torch.Tensor, outputs: list[list[int]], bos_id: int, eos_id: int
) -> torch.Tensor:
    """The model's log-probability of each output, ``<eos>`` included:
    ``sum_t log p(y_t | y_<t, x)``.

    Shape:
        src ``(B, S)``, B output lists (without ``<bos>``/``<eos>``); returns ``(B,)``.
    """
    src = _validate.rank("src", src, (2,), "(B, S)")
    if len(outputs) != src.shape[0]:
        raise ValueError(f"outputs has {len(outputs)} sequences but src has B={src.shape[0]}")
    pad = model.cfg.pad_id if model.cfg.pad_id is not None else eos_id
    length = max(len(y) for y in outputs) + 1
    tgt_in = torch.full((len(outputs), length), pad, dtype=torch.long)
    tgt_out = torch.full((len(outputs), length), -100, dtype=torch.long)
    for row, y in enumerate(outputs):
        tgt_in[row, : len(y) + 1] = torch.tensor([bos_id, *y])
        tgt_out[row, : len(y) + 1] = torch.tensor([*y, eos_id])
    tgt_in, tgt_out = tgt_in.to(src.device), tgt_out.to(src.device)
    log_probs = model(src, tgt_in).log_softmax(dim=-1)  # (B, T, V)
    picked = log_probs.gather(-1, tgt_out.clamp(min=0)[..., None]).squeeze(-1)  # (B, T)
    return picked.masked_fill(tgt_out == -100, 0.0).sum(dim=1)


@torch.no_grad()
def beam_search(
    model: nn.Module,
    src: torch.Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
    beam_size: int = 4,
    length_penalty: float = 0.0,
) -> tuple[list[list[int]], torch.Tensor]:
    """Keep the ``beam_size`` most likely partial outputs at every step, for a batch at once.

    A finished hypothesis (it produced ``<eos>``) keeps its score. At the end the best one wins by
    ``log p / ((5 + length) / 6) ** length_penalty`` (Wu et al., 2016); 0 means plain log p.

    Shape:
        src ``(B, S)``; returns B lists of ids (without ``<bos>``/``<eos>``) and their log-probs
        ``(B,)`` under the model.
    """
    src = _validate.rank("src", src, (2,), "(B, S)")
    _validate.positive_int("max_len", max_len)
    _validate.positive_int("beam_size", beam_size)
    B, K = src.shape[0], beam_size
    src_mask = model.source_mask(src)
    memory = model.encode(src, src_mask).repeat_interleave(K, dim=0)  # (B*K, S, D)
    src_mask = None if src_mask is None else src_mask.repeat_interleave(K, dim=0)
    ys = torch.full((B * K, 1), bos_id, dtype=torch.long, device=src.device)  # (B*K, 1)
    scores = torch.zeros(B, K, device=src.device)
    scores[:, 1:] = float("-inf")  # at the start all beams are the same: keep only one
    finished = torch.zeros(B * K, dtype=torch.bool, device=src.device)
    lengths = torch.zeros(B * K, device=src.device)
    for _ in range(max_len):
        log_probs = (model.decode(ys, memory, memory_mask=src_mask)[:, -1]
                     .log_softmax(dim=-1))  # (B*K, V)
        V = log_probs.shape[-1]
        log_probs[finished] = float("-inf")
        log_probs[finished, eos_id] = 0.0  # a finished beam stays as it is, at no cost
        candidates = (scores.reshape(B * K, 1) + log_probs).reshape(B, K * V)
        scores, index = candidates.topk(K, dim=-1)  # (B, K)
        beam, token = index // V, index % V
        rows = (torch.arange(B, device=src.device)[:, None] * K + beam).reshape(-1)  # (B*K,)
        ys = torch.cat([ys[rows], token.reshape(-1, 1)], dim=1)
        lengths = lengths[rows] + (~finished[rows]).float()
        finished = finished[rows] | (token.reshape(-1) == eos_id)
        if finished.all():
            break
    penalty = ((5 + lengths) / 6) ** length_penalty  # (B*K,)
    best = (scores.reshape(-1) / penalty).reshape(B, K).argmax(dim=-1)  # (B,)
    rows = torch.arange(B, device=src.device) * K + best
    outputs = [_cut_at_eos(row[1:], eos_id) for row in ys[rows].tolist()]
    return outputs, scores.reshape(-1)[rows]


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row; the others become ``-inf`` (probability 0).

    Ties with the k-th largest are kept. Shape: ``(B, V)`` -> ``(B, V)``.
    """
    _validate.positive_int("top_k", k)
    kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al., 2020): keep the smallest set of most likely tokens
    whose probabilities add up to at least ``p``; the others become ``-inf``.

    Shape: ``(B, V)`` -> ``(B, V)``.
    """
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 < p <= 1:
        raise ValueError(f"top_p={p!r} must be in (0, 1]")
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V) each
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass of the tokens strictly more likely
    sorted_logits = sorted_logits.masked_fill(before >= p, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row from ``softmax(logits / temperature)``, optionally truncated.

    ``top_k`` keeps the k most likely tokens (``top_k_filter``); ``top_p`` keeps the smallest set
    of most likely tokens whose probabilities add up to at least p (``top_p_filter``). For the
    most likely token (what temperature 0 would mean) use ``logits.argmax(-1)``.

    Shape:
        logits ``(B, V)``; returns ``(B,)`` token ids.
    """
    logits = _validate.rank("logits", logits, (2,), "(B, V)")
    if not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(
            f"temperature={temperature!r} must be > 0 (it divides the logits); "
            "for the most likely token use greedy decoding, logits.argmax(-1)"
        )
    logits = logits.float() / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(logits.device)


@torch.no_grad()
def generate(
    model: nn.Module,
    ids: torch.Tensor,
    max_new_tokens: int,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Extend a decoder-only model's prompt by ``max_new_tokens`` tokens, one at a time.

    The context is cropped to the model's ``cfg.max_len`` most recent tokens.

    Shape:
        ids ``(B, T)``; returns ``(B, T + max_new_tokens)``.
    """
    ids = _validate.rank("ids", ids, (2,), "(B, T)")
    _validate.positive_int("max_new_tokens", max_new_tokens)
    for _ in range(max_new_tokens):
        logits = model(ids[:, -model.cfg.max_len :])[:, -1]  # (B, V)
        if greedy:
            next_token = logits.argmax(dim=-1)
        else:
            next_token = sample_next_token(logits, temperature, top_k, top_p, generator)
        ids = torch.cat([ids, next_token[:, None]], dim=1)
    return ids


def exact_match(predictions: list[list[int]], references: list[list[int]]) -> float:
    """The fraction of predictions equal to their reference, token for token."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise ValueError("predictions is empty")
    return sum(list(p) == list(r) for p, r in zip(predictions, references)) / len(predictions)

