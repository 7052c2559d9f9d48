"""Chapter 12's exercise checks accept right answers and explain the typical wrong ones."""

import re

import numpy as np
import torch
import torch.nn.functional as F

from transformer_lib import checks

PARTS = {
    "attention.self.query": "self_attn.q_proj",
    "attention.self.key": "self_attn.k_proj",
    "attention.self.value": "self_attn.v_proj",
    "attention.output.dense": "self_attn.out_proj",
    "attention.output.LayerNorm": "attn_block.norm",
    "intermediate.dense": "ffn.linear1",
    "output.dense": "ffn.linear2",
    "output.LayerNorm": "ffn_block.norm",
}


def right_name(name):
    _, _, layer, rest = name.split(".", 3)
    part, kind = rest.rsplit(".", 1)
    return f"stack.layers.{layer}.{PARTS[part]}.{kind}"


def name_with(parts):
    def rename(name):
        _, _, layer, rest = name.split(".", 3)
        part, kind = rest.rsplit(".", 1)
        return f"stack.layers.{layer}.{parts[part]}.{kind}"

    return rename


def right_embedding(h, attention_mask):
    keep = attention_mask.unsqueeze(-1).to(h.dtype)  # (B, S, 1)
    mean = (h * keep).sum(1) / keep.sum(1)  # (B, D)
    return mean / mean.norm(dim=-1, keepdim=True)


def right_top_k(queries, corpus, k):
    scores = F.normalize(queries, dim=-1) @ F.normalize(corpus, dim=-1).T
    return scores.topk(k, dim=-1).indices


def right_summary(vectors, k):
    centroid = vectors.mean(0)
    return sorted((vectors @ centroid).topk(k).indices.tolist())


def summary_unsorted(vectors, k):
    return (vectors @ vectors.mean(0)).topk(k).indices.tolist()


RIGHT = [
    (checks.check_bert_layer_name, right_name),
    (checks.check_sentence_embedding, right_embedding),
    (checks.check_sentence_embedding, lambda h, m: F.normalize((h * m[..., None]).sum(1), dim=-1)),
    (checks.check_sentence_embedding, lambda h, m: right_embedding(h.double(), m)),
    (checks.check_cosine_top_k, right_top_k),
    (checks.check_cosine_top_k, lambda q, c, k: right_top_k(q.double(), c.double(), k)),
    (checks.check_cosine_top_k,  # normalising the queries is not needed for the ranking
     lambda q, c, k: (q @ F.normalize(c, dim=-1).T).argsort(dim=-1, descending=True)[:, :k]),
    (checks.check_centroid_summary, right_summary),
    (checks.check_centroid_summary, lambda v, k: (v @ v.mean(0)).topk(k).indices.sort().values),
    (checks.check_centroid_summary, lambda v, k: list(np.sort((v @ v.mean(0)).topk(k).indices))),
    (checks.check_centroid_summary, lambda v, k: list(right_summary(v.double(), k))),
]

WRONG = [
    (checks.check_bert_layer_name, name_with(PARTS | {"attention.self.query": "self_attn.k_proj"}),
     "query is W^Q"),
    (checks.check_bert_layer_name,
     name_with(PARTS | {"attention.output.dense": "ffn.linear2", "output.dense": "ffn.linear2"}),
     "output projection W^O"),
    (checks.check_bert_layer_name,
     name_with(PARTS | {"intermediate.dense": "ffn.linear2", "output.dense": "ffn.linear1"}),
     "it is ffn.linear1"),
    (checks.check_bert_layer_name,
     name_with(PARTS | {"attention.output.LayerNorm": "ffn_block.norm",
                        "output.LayerNorm": "attn_block.norm"}), "attn_block.norm"),
    (checks.check_bert_layer_name,
     lambda n: re.sub(r"^stack\.layers\.(\d+)", lambda m: f"stack.layers.{int(m[1]) + 1}",
                      right_name(n)),
     "keep the layer index"),
    (checks.check_bert_layer_name, lambda n: n, "start with 'stack.layers."),
    (checks.check_sentence_embedding, lambda h, m: F.normalize(h.mean(1), dim=-1),
     "averaged over the padding"),
    (checks.check_sentence_embedding,
     lambda h, m: (h * m[..., None]).sum(1) / m.sum(1, keepdim=True), "not L2-normalised"),
    (checks.check_sentence_embedding,
     lambda h, m: F.normalize((h * m[..., None]).sum(1) / m.sum(1, keepdim=True), dim=0),
     "batch axis"),
    (checks.check_sentence_embedding, lambda h, m: F.normalize(h[:, 0], dim=-1), "[CLS]"),
    (checks.check_sentence_embedding, lambda h, m: h.mean(2), "wrong shape"),
    (checks.check_cosine_top_k, lambda q, c, k: (q @ c.T).topk(k, dim=-1).indices,
     "normalise the corpus"),
    (checks.check_cosine_top_k, lambda q, c, k: right_top_k(q, c, k).flip(-1), "wrong order"),
    (checks.check_cosine_top_k,
     lambda q, c, k: (q @ F.normalize(c, dim=-1).T).topk(k, largest=False).indices,
     "LEAST similar"),
    (checks.check_cosine_top_k, lambda q, c, k: right_top_k(q, c, k).float(), "integer indices"),
    (checks.check_centroid_summary, summary_unsorted, "document order"),
    (checks.check_centroid_summary,
     lambda v, k: sorted((v @ v.mean(0)).topk(k, largest=False).indices.tolist()), "FARTHEST"),
    (checks.check_centroid_summary, lambda v, k: list(range(k)), "first k sentences"),
    (checks.check_centroid_summary, lambda v, k: (v @ v.mean(0)).topk(k).values.tolist(),
     "expected a list of 1 int indices for N=5, k=1, got a list holding a float"),
    (checks.check_centroid_summary, lambda v, k: [[i] for i in right_summary(v, k)],
     "got a list holding a list of 1 item (int)"),
]


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_sentence_embedding(right_embedding)
    checks.check_cosine_top_k(right_top_k)
    checks.check_centroid_summary(right_summary)
    torch.testing.assert_close(torch.rand(3), expected)
