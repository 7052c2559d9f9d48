"""Checks for the exercises of chapter 12 (a real pretrained encoder)."""

import re
from collections.abc import Callable

import torch
import torch.nn.functional as F

from transformer_lib.checks._compare import Case, compare, diagnose, int_list, matches
from transformer_lib.checks._core import Failure, call, check
from transformer_lib.pretrained import NAME_MAP, bert_name_to_ours
from transformer_lib.task_heads import mean_pool

_LAYER_NAMES = [(bert, ours) for bert, ours in NAME_MAP if "{i}" in bert]
_LAYER_PARTS = [bert.split("{i}.")[1].removesuffix(".{p}") for bert, _ in _LAYER_NAMES]
_OUR_LAYERS = _LAYER_NAMES[0][1].split("{i}")[0]  # what our layer names start with
_NAME_HINTS = {  # (BERT part, wrong module of ours) -> hint
    ("attention.self.query", "k_proj"): "query is W^Q: it goes to self_attn.q_proj",
    ("attention.self.key", "q_proj"): "key is W^K: it goes to self_attn.k_proj",
    ("attention.output.dense", "ffn.linear2"): "attention.output.dense is the attention's output "
    "projection W^O (self_attn.out_proj); BERT's FFN output is output.dense",
    ("output.dense", "self_attn.out_proj"): "output.dense (without 'attention.') is the second "
    "linear map of the feed-forward network, ffn.linear2",
    ("intermediate.dense", "ffn.linear2"): "intermediate.dense widens D to F: it is ffn.linear1",
    ("output.dense", "ffn.linear1"): "output.dense narrows F back to D: it is ffn.linear2",
    ("attention.output.LayerNorm", "ffn_block.norm"): "the LayerNorm under 'attention.output' is "
    "the Add & Norm after self-attention: attn_block.norm",
    ("output.LayerNorm", "attn_block.norm"): "output.LayerNorm is the Add & Norm after the "
    "feed-forward network: ffn_block.norm",
}


@check("BERT layer tensor name")
def check_bert_layer_name(student_fn: Callable[[str], str]):
    """``student_fn("encoder.layer.{i}.<part>.<weight|bias>")`` -> our name, such as
    ``stack.layers.{i}.ffn.linear1.weight``."""
    our_layer = re.compile(rf"^{re.escape(_OUR_LAYERS)}\d+\.")
    for i, part in enumerate(_LAYER_PARTS):
        for layer, kind in ((i % 6, "weight"), ((i + 3) % 6, "bias")):
            name = f"encoder.layer.{layer}.{part}.{kind}"
            got = call(student_fn, name)
            expected = bert_name_to_ours(name)
            if not isinstance(got, str):
                raise Failure(f"for {name!r} expected a str, got {type(got).__name__}")
            if got == expected:
                continue
            if not our_layer.match(got):
                raise Failure(f"for {name!r} expected {expected!r}, got {got!r} (the tensors "
                              f"of our layer {layer} start with '{_OUR_LAYERS}{layer}.')")
            for (bert_part, wrong), hint in _NAME_HINTS.items():
                if part == bert_part and f".{wrong}." in got:
                    raise Failure(f"for {name!r} you returned {got!r}: {hint}")
            if our_layer.sub("", got) == our_layer.sub("", expected):
                raise Failure(f"for {name!r} you returned {got!r}: keep the layer index {layer}")
            if not got.endswith(kind):
                raise Failure(f"for {name!r} you returned {got!r}: a {kind} stays a {kind}")
            raise Failure(f"for {name!r} expected {expected!r}, got {got!r}")


@check("sentence embedding (mean pooling + L2 normalisation)", seed=12)
def check_sentence_embedding(student_fn: Callable, generator):
    """``student_fn(h (B, S, D), attention_mask (B, S) 0/1 int)`` -> ``(B, D)`` unit vectors."""
    for lengths, width, dim in [([3, 5], 5, 4), ([1, 6, 2], 7, 8), ([9, 4, 4, 1], 9, 16)]:
        h = torch.randn(len(lengths), width, dim, generator=generator) + 0.5  # (B, S, D)
        mask = (torch.arange(width) < torch.tensor(lengths).unsqueeze(1)).long()  # (B, S) 0/1
        got = call(student_fn, h, mask)
        exact = h.double()
        pooled = mean_pool(exact, mask.bool())
        compare(got, F.normalize(pooled, dim=-1), {"h": h, "attention_mask": mask}, mistakes={
            "you averaged over the padding too: sum h * mask over S and divide by the "
            "number of real tokens": F.normalize(exact.mean(1), dim=-1),
            "the mean is right but not L2-normalised: divide each vector by its norm": pooled,
            "you normalised over the batch axis: normalise each sentence vector over "
            "its D features (dim=-1)": F.normalize(pooled, dim=0),
            "you took the first token ([CLS]); this model averages all real tokens":
                F.normalize(exact[:, 0], dim=-1),
        })


@check("cosine top-k retrieval", seed=13)
def check_cosine_top_k(student_fn: Callable, generator):
    """``student_fn(queries (Q, D), corpus (N, D), k)`` -> ``(Q, k)`` int indices, best first."""
    for n_queries, size, dim, k in [(1, 6, 4, 2), (3, 12, 8, 3), (4, 30, 16, 5)]:
        queries = torch.randn(n_queries, dim, generator=generator)
        scale = torch.rand(size, 1, generator=generator) * 4 + 0.2  # lengths 0.2 to 4.2
        corpus = torch.randn(size, dim, generator=generator) * scale  # (N, D)
        got = call(student_fn, queries, corpus, k)
        queries, corpus = queries.double(), corpus.double()  # the reference in float64
        cosine = F.normalize(queries, dim=-1) @ F.normalize(corpus, dim=-1).T  # (Q, N)
        expected = cosine.topk(k, dim=-1).indices
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            if got.is_floating_point():
                raise Failure("expected integer indices (topk(...).indices), got float values")
            diagnose([Case(got, expected, {
                "these are the largest raw dot products: normalise the corpus vectors first, or "
                "long vectors win": (queries @ corpus.T).topk(k, dim=-1).indices,
                "these are the k LEAST similar rows: take the largest scores":
                    cosine.topk(k, dim=-1, largest=False).indices,
            })])
            in_order = expected.sort(-1).values
            if matches(got.sort(-1).values, in_order) and not matches(got, expected):
                raise Failure("the right rows in the wrong order: put the most similar first")
        compare(got, expected, {"queries": queries, "corpus": corpus, "k": k})


@check("centroid summary", seed=14)
def check_centroid_summary(student_fn: Callable, generator):
    """``student_fn(vectors (N, D) unit rows, k)`` -> list of k indices, closest to the centroid,
    in document order."""
    for size, dim, k in [(5, 4, 1), (9, 8, 3), (20, 16, 4)]:
        theme = torch.randn(dim, generator=generator)
        vectors = F.normalize(theme + 1.5 * torch.randn(size, dim, generator=generator), dim=-1)
        got = call(student_fn, vectors, k)
        scores = vectors.double() @ F.normalize(vectors.double().mean(0), dim=0)  # (N,)
        expected = sorted(scores.topk(k).indices.tolist())
        got = int_list(got, f"expected a list of {k} int indices for N={size}, k={k}")
        if got == expected:
            continue
        if sorted(got) == expected:
            raise Failure("the right sentences, but keep them in document order (sort them)")
        if sorted(got) == sorted(scores.topk(k, largest=False).indices.tolist()):
            raise Failure("these are the sentences FARTHEST from the centroid")
        if got == list(range(k)):
            raise Failure("you took the first k sentences; rank them by similarity to the "
                          "centroid")
        raise Failure(f"for N={size}, k={k} expected {expected}, got {got}")
