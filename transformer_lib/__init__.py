"""transformer_lib: the Transformer built chapter by chapter in the book.

Shape legend, used verbatim in code, docstrings, comments and the book:

    B   batch size
    T   query / target length
    S   key / source length
    D   d_model, the width of every token vector
    H   number of attention heads
    Dh  head_dim = D / H
    F   d_ff, the hidden width of the feed-forward network
    V   vocabulary size

Everything is batch-first: a batch of token vectors is ``(B, T, D)``.
Masks are boolean with ``True`` meaning "may attend", as in ``F.scaled_dot_product_attention``.
"""

from transformer_lib.attention import (
    MultiHeadAttention,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from transformer_lib.config import TransformerConfig
from transformer_lib.decoder import Decoder, DecoderLayer
from transformer_lib.embeddings import (
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    TokenEmbedding,
    TransformerEmbedding,
    sinusoidal_positional_encoding,
)
from transformer_lib.encoder import Encoder, EncoderLayer, LayerStack
from transformer_lib.feed_forward import FeedForward
from transformer_lib.models import DecoderOnlyLM, MaskedLanguageModel, Transformer
from transformer_lib.normalization import LayerNorm, ResidualConnection
from transformer_lib.utils import count_parameters, get_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "Decoder",
    "DecoderLayer",
    "DecoderOnlyLM",
    "Encoder",
    "EncoderLayer",
    "FeedForward",
    "LayerNorm",
    "LayerStack",
    "LearnedPositionalEncoding",
    "MaskedLanguageModel",
    "MultiHeadAttention",
    "ResidualConnection",
    "SinusoidalPositionalEncoding",
    "TokenEmbedding",
    "Transformer",
    "TransformerConfig",
    "TransformerEmbedding",
    "causal_mask",
    "count_parameters",
    "get_device",
    "padding_mask",
    "scaled_dot_product_attention",
    "seed_everything",
    "sinusoidal_positional_encoding",
]
