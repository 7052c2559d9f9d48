"""The data the chapters train on: batching helpers and data sets built from installed packages.

Nothing is downloaded: every data set is generated (seeded) or read from a package that is
installed with the book's requirements. Train and test splits never overlap.
"""

from transformer_lib.data.batching import (
    BatchSampler,
    Seq2SeqBatch,
    make_seq2seq_batch,
    pad_sequences,
)
from transformer_lib.data.tasks import BOS_ID, EOS_ID, PAD_ID, SequenceTask

__all__ = [
    "BOS_ID",
    "BatchSampler",
    "EOS_ID",
    "PAD_ID",
    "Seq2SeqBatch",
    "SequenceTask",
    "make_seq2seq_batch",
    "pad_sequences",
]
