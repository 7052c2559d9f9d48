"""Chapter 5: the one configuration object of the composite models (encoder, decoder, Transformer).

Leaf modules (``MultiHeadAttention``, ``FeedForward``, ``LayerNorm``) take keyword arguments like
``torch.nn``; the layers and models built from them take a ``TransformerConfig``.

See: notebooks/05_encoder.ipynb (and 06_decoder.ipynb for the paper's Table 3)
"""

from __future__ import annotations

from dataclasses import dataclass

from transformer_lib import _validate


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes and switches of a Transformer. Defaults are the paper's base model (Table 3).

    The paper's base model: ``TransformerConfig(vocab_size=37000)``; the big one:
    ``TransformerConfig.big(vocab_size=37000)``.
    """

    vocab_size: int  # V: source vocabulary (and target, unless tgt_vocab_size is given)
    tgt_vocab_size: int | None = None  # target vocabulary of an encoder-decoder; None: same as V
    d_model: int = 512  # D: width of every token vector
    n_heads: int = 8  # H: attention heads; must divide d_model
    d_ff: int = 2048  # F: hidden width of the feed-forward network
    n_layers: int = 6  # N: encoder layers (decoder layers too, unless n_decoder_layers is given)
    n_decoder_layers: int | None = None  # decoder layers; None: same as n_layers
    dropout: float = 0.1  # P_drop: on embeddings+positions, attention weights, sublayer outputs
    max_len: int = 5000  # longest sequence the positional table covers
    norm_first: bool = False  # False: the paper's post-LN "Add & Norm"; True: pre-LN
    activation: str = "relu"  # feed-forward non-linearity: "relu" (paper) or "gelu"
    positional: str = "sinusoidal"  # "sinusoidal" (paper) or "learned" (BERT, GPT)
    pad_id: int | None = 0  # id of the padding token, or None when there is no padding
    share_embeddings: bool = True  # one matrix for source, target and output layer (paper 3.4)
    layer_norm_eps: float = 1e-5

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_heads", "d_ff", "n_layers", "max_len"):
            _validate.positive_int(name, getattr(self, name))
        for name in ("tgt_vocab_size", "n_decoder_layers"):
            if getattr(self, name) is not None:
                _validate.positive_int(name, getattr(self, name))
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        _validate.probability("dropout", self.dropout)
        if self.activation not in ("relu", "gelu"):
            raise ValueError(f"activation={self.activation!r}; expected 'relu' or 'gelu'")
        if self.positional not in ("sinusoidal", "learned"):
            raise ValueError(f"positional={self.positional!r}; expected 'sinusoidal' or 'learned'")
        if (self.pad_id is not None
                and not 0 <= self.pad_id < min(self.vocab_size, self.target_vocab_size)):
            raise ValueError(f"pad_id={self.pad_id} must be a token id of both vocabularies")
        if self.share_embeddings and self.target_vocab_size != self.vocab_size:
            raise ValueError(
                f"share_embeddings=True needs one vocabulary, but vocab_size={self.vocab_size} "
                f"and tgt_vocab_size={self.tgt_vocab_size}; pass share_embeddings=False"
            )
        _validate.positive("layer_norm_eps", self.layer_norm_eps)

    @property
    def head_dim(self) -> int:
        """Dh = D / H."""
        return self.d_model // self.n_heads

    @property
    def target_vocab_size(self) -> int:
        return self.vocab_size if self.tgt_vocab_size is None else self.tgt_vocab_size

    @property
    def decoder_layers(self) -> int:
        return self.n_layers if self.n_decoder_layers is None else self.n_decoder_layers

    @classmethod
    def base(cls, vocab_size: int, **overrides) -> TransformerConfig:
        """The paper's base model: N=6, D=512, F=2048, H=8, P_drop=0.1."""
        return cls(vocab_size=vocab_size, **overrides)

    @classmethod
    def big(cls, vocab_size: int, **overrides) -> TransformerConfig:
        """The paper's big model: N=6, D=1024, F=4096, H=16, P_drop=0.3."""
        settings = dict(d_model=1024, d_ff=4096, n_heads=16, dropout=0.3) | overrides
        return cls(vocab_size=vocab_size, **settings)
