"""Extractive QA: encoding with token types, the span head and loss, best-span decoding, and
SQuAD's exact match and F1 compared with the official evaluate-v1.1.py functions."""

import re
import string
from collections import Counter

import pytest
import torch

import transformer_lib as tl
from transformer_lib import pretrained, qa


# The official SQuAD v1.1 script's functions (evaluate-v1.1.py), as published with the data set.
def official_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def official_f1_score(prediction, ground_truth):
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


PAIRS = [("The Cat!", "cat"), ("in Port Kevin", "Port Kevin"), ("a  cat sat", "the cat sat down"),
         ("Kent, Ferguson and Becker", "Ferguson and Becker"), ("", ""), ("the", "a"),
         ("May 3, 1971", "3 May 1971"), ("Smith Smith", "Smith Jones"), ("Anthem", "an them"),
         ("Smith-Jones", "Smith Jones"), ("ÉCOLE", "école")]


@pytest.mark.parametrize("prediction, truth", PAIRS)
def test_scores_agree_with_the_official_script(prediction, truth):
    assert qa.normalize_answer(prediction) == official_normalize_answer(prediction)
    assert qa.token_f1(prediction, truth) == pytest.approx(official_f1_score(prediction, truth))
    assert qa.exact_match(prediction, truth) == float(
        official_normalize_answer(prediction) == official_normalize_answer(truth))


def test_known_values():
    assert qa.normalize_answer("  The Cook, Inc. ") == "cook inc"
    assert qa.normalize_answer("Anthem") == "anthem"  # an article only as a whole word
    assert qa.exact_match("the Port Kevin.", "port kevin") == 1.0
    assert qa.token_f1("in Port Kevin", "Port Kevin") == pytest.approx(0.8)  # P 2/3, R 1
    assert qa.token_f1("Smith-Jones", "Smith Jones") == 0.0  # the hyphen joins the words
    assert qa.token_f1("", "") == 0.0  # v1.1: no shared word, F1 0


@pytest.fixture(scope="module")
def tokenizer():
    return qa.load_tokenizer()


def test_encode_marks_segments_context_and_answer(tokenizer):
    questions = ["Where was Anna Smith born?", "Who founded Cook Inc?"]
    contexts = ["Anna Smith was born in Port Kevin on May 3, 1971.",
                "Cook Inc was founded by Lee on 3 May 2001. Smith lives in Paris."]
    answers = ["Port Kevin", "Lee"]
    starts = [c.index(a) for c, a in zip(contexts, answers)]
    batch = qa.encode(tokenizer, questions, contexts, starts, answers)
    assert batch.ids.shape == batch.token_type_ids.shape == batch.mask.shape
    for i in range(2):
        n = int(batch.mask[i].sum())
        tokens = [tokenizer.id_to_token(t) for t in batch.ids[i, :n].tolist()]
        assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2 and tokens[-1] == "[SEP]"
        q_end = tokens.index("[SEP]")
        assert batch.token_type_ids[i, q_end + 1:n].eq(1).all()
        assert batch.context_mask[i].nonzero().flatten().tolist() == list(range(q_end + 1, n - 1))
        s, e = batch.starts[i].item(), batch.ends[i].item()
        assert qa.span_text(contexts[i], batch.offsets[i], s, e) == answers[i]
    assert not batch.mask[0, int(batch.mask[0].sum()):].any()  # padding
    assert qa.encode(tokenizer, questions, contexts).starts.tolist() == [-1, -1]


def test_encode_rejects_mismatched_lists(tokenizer):
    with pytest.raises(ValueError, match="as many questions as contexts"):
        qa.encode(tokenizer, ["a?"], ["b", "c"])
    with pytest.raises(ValueError, match="no context token overlaps"):
        qa.encode(tokenizer, ["a?"], ["b c"], [10], ["x"])


def test_best_span_respects_order_length_and_context():
    start = torch.tensor([[9.0, 0, 5, 0, 0, 1, 0]])
    end = torch.tensor([[9.0, 4, 0, 0, 0, 0, 8]])
    context = torch.tensor([[False, False, True, True, True, True, True]])
    s, e, score = qa.best_span(start, end, context, max_len=3)
    assert (s.item(), e.item()) == (5, 6) and score.item() == 9.0  # 2..6 is 5 tokens: too long
    s, e, _ = qa.best_span(start, end, context, max_len=5)
    assert (s.item(), e.item()) == (2, 6)
    s, e, _ = qa.best_span(start, end, context, max_len=1)
    assert s.item() == e.item() == 6
    with pytest.raises(ValueError, match="max_len"):
        qa.best_span(start, end, context, max_len=0)


def test_best_span_agrees_with_a_loop():
    generator = torch.Generator().manual_seed(0)
    start, end = torch.randn(4, 15, generator=generator), torch.randn(4, 15, generator=generator)
    context = torch.zeros(4, 15, dtype=torch.bool)
    context[:, 5:14] = True
    s, e, _ = qa.best_span(start, end, context, max_len=4)
    for b in range(4):
        best = max((start[b, i] + end[b, j], i, j) for i in range(5, 14)
                   for j in range(i, min(i + 4, 14)))
        assert (s[b].item(), e[b].item()) == best[1:]


def test_span_model_and_loss():
    cfg = tl.TransformerConfig(vocab_size=50, d_model=16, n_heads=2, d_ff=32, n_layers=1,
                               max_len=16, positional="learned")
    torch.manual_seed(0)
    model = qa.SpanQA(pretrained.bert_encoder(cfg))
    ids = torch.randint(1, 50, (3, 10))
    types = torch.zeros(3, 10, dtype=torch.long)
    types[:, 4:] = 1
    mask = torch.ones(3, 10, dtype=torch.bool)
    start_logits, end_logits = model(ids, types, mask)
    assert start_logits.shape == end_logits.shape == (3, 10)
    context = types.bool()
    starts, ends = torch.tensor([4, 5, 6]), torch.tensor([5, 5, 8])
    loss = qa.span_loss(start_logits, end_logits, starts, ends, context)
    masked = start_logits.masked_fill(~context, -1e9), end_logits.masked_fill(~context, -1e9)
    expected = (torch.nn.functional.cross_entropy(masked[0], starts)
                + torch.nn.functional.cross_entropy(masked[1], ends))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert model.encoder.embedding.token_type_embedding.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="context tokens"):
        qa.span_loss(start_logits, end_logits, torch.tensor([0, 5, 6]), ends, context)
