"""Chapters 10 and 11: what sits on top of an encoder to classify a text or tag its tokens.

A sequence classifier pools the encoder's ``(B, S, D)`` output into one ``(B, D)`` vector per
sequence (the mean over the real tokens, or the vector of a ``[CLS]`` token put in front, as BERT
does) and maps it to ``C`` class scores. A token tagger maps every token vector to tag scores.

See: notebooks/10_classification.ipynb, notebooks/11_named_entities.ipynb
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib import _validate
from transformer_lib.config import TransformerConfig
from transformer_lib.attention import padding_mask_from_ids
from transformer_lib.encoder import Encoder, transformer_embedding

__all__ = [
    "ClassificationHead",
    "EncoderClassifier",
    "EncoderTagger",
    "FeatureEmbedding",
    "TokenClassificationHead",
    "cls_pool",
    "mean_pool",
    "token_classification_loss",
]

POOLINGS = ("mean", "cls")


def _token_mask(mask: object, h: torch.Tensor) -> torch.Tensor:
    """A ``(B, S)`` or ``(B, 1, S)`` bool mask as ``(B, S)``, checked against ``h (B, S, D)``."""
    mask = _validate.rank("mask", mask, (2, 3), "(B, S) or (B, 1, S)")
    if mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a bool tensor (True at real tokens), got dtype {mask.dtype}"
        )
    if mask.dim() == 3:
        if mask.shape[1] != 1:
            raise ValueError(f"mask of rank 3 must have shape (B, 1, S), got {tuple(mask.shape)}")
        mask = mask[:, 0]  # (B, S)
    if mask.shape != h.shape[:2]:
        raise ValueError(
            f"mask has shape {tuple(mask.shape)} but h has (B, S) = {tuple(h.shape[:2])}; "
            f"expected one entry per token"
        )
    return mask


def mean_pool(h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The mean of each sequence's token vectors over its real tokens only.

    .. math:: \\bar h_b = \\frac{\\sum_s m_{bs} h_{bs}}{\\max(1, \\sum_s m_{bs})}

    Args:
        h: ``(B, S, D)`` float, the encoder's output.
        mask: bool ``(B, S)`` or ``(B, 1, S)`` (the encoder's padding mask), True at real
            tokens; None: every position is real.

    Returns:
        ``(B, D)``; a sequence with no real token gets the zero vector (the count is clamped to
        1 instead of being checked, which would make a GPU wait at every step).
    """
    h = _validate.rank("h", h, (3,), "(B, S, D)")
    _validate.floating("h", h)
    if mask is None:
        return h.mean(dim=1)  # (B, D)
    keep = _token_mask(mask, h).unsqueeze(-1).to(h.dtype)  # (B, S, 1)
    return (h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)  # (B, D)


def cls_pool(h: torch.Tensor) -> torch.Tensor:
    """The vector at position 0, where the ``[CLS]`` token sits (Devlin et al., 2019).

    Shape:
        h ``(B, S, D)``; returns ``(B, D)``.
    """
    h = _validate.rank("h", h, (3,), "(B, S, D)")
    if h.shape[1] == 0:
        raise ValueError("h has no position (S=0); expected the [CLS] token at position 0")
    return h[:, 0]  # (B, D)


class ClassificationHead(nn.Module):
    """One sequence vector to ``C`` class scores (logits): dropout, then a linear map.

    Shape:
        x ``(B, D)``; returns ``(B, C)``.
    """

    def __init__(self, d_model: int, n_classes: int, dropout: float = 0.0):
        super().__init__()
        self.d_model = _validate.positive_int("d_model", d_model)
        self.n_classes = _validate.positive_int("n_classes", n_classes)
        self.dropout = nn.Dropout(_validate.probability("dropout", dropout))
        self.proj = nn.Linear(d_model, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _validate.rank("x", x, (2,), "(B, D)")
        _validate.last_dim("x", x, self.d_model, "d_model")
        return self.proj(self.dropout(x))  # (B, C)


class TokenClassificationHead(nn.Module):
    """Every token vector to scores over ``n_tags`` tags: dropout, then a linear map.

    Shape:
        h ``(B, S, D)``; returns ``(B, S, n_tags)``.
    """

    def __init__(self, d_model: int, n_tags: int, dropout: float = 0.0):
        super().__init__()
        self.d_model = _validate.positive_int("d_model", d_model)
        self.n_tags = _validate.positive_int("n_tags", n_tags)
        self.dropout = nn.Dropout(_validate.probability("dropout", dropout))
        self.proj = nn.Linear(d_model, n_tags)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = _validate.rank("h", h, (3,), "(B, S, D)")
        _validate.last_dim("h", h, self.d_model, "d_model")
        return self.proj(self.dropout(h))  # (B, S, n_tags)


class EncoderClassifier(nn.Module):
    """Token ids to class scores: ``Encoder``, pooling, ``ClassificationHead``.

    With ``pooling="cls"`` the caller puts a ``[CLS]`` token at position 0 of every sequence
    and its output vector is the sequence's vector; with ``"mean"`` the vectors of the real
    tokens are averaged. Padding (``cfg.pad_id``) is masked in attention and in the mean.

    Shape:
        ids ``(B, S)`` integer; mask bool ``(B, 1, S)`` (default: from ``cfg.pad_id``);
        returns logits ``(B, C)``.
    """

    def __init__(self, cfg: TransformerConfig, n_classes: int, pooling: str = "mean"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}; expected one of {POOLINGS}")
        self.cfg, self.pooling = cfg, pooling
        self.encoder = Encoder(cfg)
        self.head = ClassificationHead(cfg.d_model, n_classes, cfg.dropout)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.pool(ids, mask))  # (B, C)

    def pool(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The sequence vectors the head reads: ``(B, S) -> (B, D)``."""
        if mask is None:
            mask = padding_mask_from_ids(ids, self.cfg.pad_id)  # (B, 1, S) or None
        h = self.encoder(ids, mask)  # (B, S, D)
        return cls_pool(h) if self.pooling == "cls" else mean_pool(h, mask)  # (B, D)


class FeatureEmbedding(nn.Module):
    """The paper's input layer plus a second embedding, of one extra id per token.

    ``x = token(ids) + feature(features) + position``, then dropout: the feature vector (a word's
    shape, say) is added before the positions, the way BERT adds its segment embeddings.

    Args:
        cfg: the encoder's configuration.
        n_features: number of feature ids.

    Shape:
        ids ``(B, S)`` integer, features ``(B, S)`` integer in ``[0, n_features)`` ->
        ``(B, S, D)``.
    """

    def __init__(self, cfg: TransformerConfig, n_features: int):
        super().__init__()
        self.n_features = _validate.positive_int("n_features", n_features)
        self.words = transformer_embedding(cfg)  # token table and positions
        self.feature = nn.Embedding(n_features, cfg.d_model)

    def forward(self, ids: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        if features is None:
            raise ValueError(f"features is None, but the tagger has n_features={self.n_features}; "
                             f"pass a (B, S) tensor of feature ids")
        features = _validate.token_ids("features", features, self.n_features)
        if features.shape != ids.shape:
            raise ValueError(f"features has shape {tuple(features.shape)}; expected ids' shape "
                             f"{tuple(ids.shape)}")
        x = self.words.token(ids) + self.feature(features)  # (B, S, D)
        return self.words.position(x)  # (B, S, D): + positions, then dropout


class EncoderTagger(nn.Module):
    """Token ids to tag scores at every position: ``Encoder`` then ``TokenClassificationHead``.

    ``n_features > 0`` gives the encoder a ``FeatureEmbedding``: one extra id per token (a word's
    shape, say) whose vector is added to the token's.

    Args:
        cfg: the encoder's configuration (``cfg.pad_id`` marks the padding).
        n_tags: number of tags, the width of the output.
        n_features: number of feature ids (0: no feature embedding).

    Shape:
        ids ``(B, S)`` integer; features ``(B, S)`` integer in ``[0, n_features)``, required
        exactly when ``n_features > 0``; mask bool ``(B, 1, S)``, True at real tokens (default:
        ``ids != cfg.pad_id``). Returns logits ``(B, S, n_tags)``.
    """

    def __init__(self, cfg: TransformerConfig, n_tags: int, n_features: int = 0):
        super().__init__()
        if not isinstance(n_features, int) or isinstance(n_features, bool) or n_features < 0:
            raise ValueError(f"n_features={n_features!r} must be a non-negative integer")
        self.cfg, self.n_features = cfg, n_features
        embedding = FeatureEmbedding(cfg, n_features) if n_features else None
        self.encoder = Encoder(cfg, embedding)
        self.head = TokenClassificationHead(cfg.d_model, n_tags, cfg.dropout)

    def forward(
        self,
        ids: torch.Tensor,
        features: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.n_features:
            h = self.encoder(ids, mask, features=features)  # (B, S, D)
        elif features is not None:
            raise ValueError("features were given, but the tagger was built with n_features=0")
        else:
            h = self.encoder(ids, mask)  # (B, S, D)
        return self.head(h)  # (B, S, n_tags)


def token_classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100
) -> torch.Tensor:
    """Cross-entropy averaged over the tokens whose label is not ``ignore_index`` (padding).

    .. math:: \\mathcal{L} = -\\frac{1}{|R|} \\sum_{(b, s) \\in R} \\log p_{bs}(y_{bs})

    where ``p_bs = softmax(logits[b, s])`` and ``R`` holds the positions whose label is not
    ``ignore_index``.

    Shape:
        logits ``(B, S, n_tags)`` float, labels ``(B, S)`` integer; returns a scalar.
    """
    logits = _validate.rank("logits", logits, (3,), "(B, S, n_tags)")
    labels = _validate.rank("labels", labels, (2,), "(B, S)")
    if labels.shape != logits.shape[:2]:
        raise ValueError(f"labels has shape {tuple(labels.shape)}; expected logits' (B, S) = "
                         f"{tuple(logits.shape[:2])}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must hold integer tag ids, got dtype {labels.dtype}")
    if labels.device.type == "cpu" and not bool((labels != ignore_index).any()):  # no GPU wait
        raise ValueError(f"every label is ignore_index={ignore_index}: there is no token to score")
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=ignore_index)
