"""The named-entity data of chapter 11: templates, the split by template, tensors, spans, scores.

The span reader is compared with a port of CoNLL's own scorer (``conlleval``'s ``startOfChunk``
and ``endOfChunk``); the scores with a corpus computed by hand.
"""

import random
import re

import numpy as np
import pytest
import torch

from transformer_lib.data import entities, spans, tagging

SLOT = re.compile(r"\{(\w+)\}")


@pytest.fixture(scope="module")
def ner():
    return entities.ner_splits(n_train=300, n_test=100, n_test_templates=12, seed=3)


# --- templates and sentences -------------------------------------------------------------------


def test_dates_do_not_change_with_the_clock(monkeypatch):
    """faker draws its dates up to *now* unless told otherwise: the data would drift by the hour."""
    import faker.providers.date_time as faker_dates

    def dates():
        filler = entities.EntityFiller(seed=3)
        return [filler.value("DATE") for _ in range(300)]

    today = dates()

    class LaterClock(faker_dates.datetime):
        @classmethod
        def now(cls, tz=None):
            return faker_dates.datetime(2090, 6, 1, tzinfo=tz)

    monkeypatch.setattr(faker_dates, "datetime", LaterClock)
    assert dates() == today
    years = [int(date[-4:]) for date in today]
    assert 1970 <= min(years) and max(years) <= entities.DATES_END.year


def test_tags_and_templates():
    assert entities.TAGS == ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG",
                             "B-DATE", "I-DATE")
    assert len(set(entities.TEMPLATES)) == len(entities.TEMPLATES) > 100
    for template in entities.TEMPLATES:
        assert set(SLOT.findall(template)) <= set(entities.ENTITY_TYPES), template
        assert (template[0] == "{" or template[0].isupper()) and template[-1] in ".?", template
        # "{ORG} and" or "and {LOC}" would be ambiguous: companies and countries contain "and"
        assert not re.search(r"\{(ORG|LOC)\} and |and \{(ORG|LOC)\}", template), template


def test_tokenize():
    assert entities.tokenize("Smith-Jones, Inc.") == ["Smith", "-", "Jones", ",", "Inc", "."]
    assert entities.tokenize("May 18, 1971") == ["May", "18", ",", "1971"]
    assert entities.tokenize("Cote d'Ivoire") == ["Cote", "d", "'", "Ivoire"]


def test_filler_is_seeded_and_checks_the_kind():
    values = [entities.EntityFiller(5).value(k) for k in entities.ENTITY_TYPES]
    assert values == [entities.EntityFiller(5).value(k) for k in entities.ENTITY_TYPES]
    other = entities.EntityFiller(6)
    assert [other.value("PER") for _ in range(5)] != [entities.EntityFiller(5).value("PER")
                                                      for _ in range(5)]
    with pytest.raises(ValueError, match="kind='PERSON'"):
        entities.EntityFiller(0).value("PERSON")


def test_fill_template_tags_the_slots_and_nothing_else():
    template = "On {DATE}, {PER} flew from {LOC} to {LOC}."
    filler = entities.EntityFiller(9)
    expected_values = [filler.value(k) for k in ("DATE", "PER", "LOC", "LOC")]
    sentence = entities.fill_template(template, entities.EntityFiller(9), template_id=29)
    assert sentence.template == 29
    assert len(sentence.tokens) == len(sentence.tags)
    found = spans.bio_spans(sentence.tags)
    assert [kind for kind, _, _ in found] == ["DATE", "PER", "LOC", "LOC"]
    for (kind, start, end), value in zip(found, expected_values):
        assert list(sentence.tokens[start:end]) == entities.tokenize(value)
    outside = [t for t, tag in zip(sentence.tokens, sentence.tags) if tag == "O"]
    assert outside == entities.tokenize(SLOT.sub(" ", template))


def test_make_sentences_and_its_errors():
    sentences = entities.make_sentences([0, 5], 40, seed=1)
    assert len(sentences) == 40 and {s.template for s in sentences} == {0, 5}
    assert sentences == entities.make_sentences([0, 5], 40, seed=1)
    assert all(spans.is_well_formed(s.tags) for s in sentences)
    for bad in ([], [len(entities.TEMPLATES)], [-1], [1.0]):
        with pytest.raises(ValueError, match="template_ids"):
            entities.make_sentences(bad, 3)
    with pytest.raises(ValueError, match="n=0"):
        entities.make_sentences([0], 0)
    with pytest.raises(ValueError, match="seed=-1"):
        entities.make_sentences([0], 3, seed=-1)


def test_split_by_template_is_disjoint_and_repeatable(ner):
    assert len(ner.train) == 300 and len(ner.test) == 100
    assert len(ner.test_templates) == 12
    assert not set(ner.train_templates) & set(ner.test_templates)
    assert set(ner.train_templates) | set(ner.test_templates) == set(range(len(entities.TEMPLATES)))
    assert {s.template for s in ner.train} <= set(ner.train_templates)
    assert {s.template for s in ner.test} <= set(ner.test_templates)
    again = entities.ner_splits(n_train=300, n_test=100, n_test_templates=12, seed=3)
    assert again.train == ner.train and again.test == ner.test
    other = entities.ner_splits(n_train=300, n_test=100, n_test_templates=12, seed=4)
    assert other.test_templates != ner.test_templates


def test_validation_templates_are_held_out_of_the_training_templates(ner):
    split = entities.ner_splits(n_train=300, n_test=100, n_test_templates=12, seed=3,
                                n_valid=80, n_valid_templates=10)
    train, valid, test = (set(t) for t in (split.train_templates, split.valid_templates,
                                           split.test_templates))
    assert len(valid) == 10 and len(train) == len(entities.TEMPLATES) - 22
    assert not (train & valid or train & test or valid & test)
    assert train | valid | test == set(range(len(entities.TEMPLATES)))
    assert len(split.valid) == 80 and {s.template for s in split.valid} <= valid
    assert {s.template for s in split.train} <= train
    # the test set is the one without validation; the validation fills are new values
    assert split.test == ner.test and split.test_templates == ner.test_templates
    assert {s.tokens for s in split.valid}.isdisjoint(
        {s.tokens for s in entities.make_sentences(sorted(valid), 80, seed=6)})
    assert ner.valid == [] and ner.valid_templates == ()


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_test_templates=0), "n_test_templates=0"),
    (dict(n_test_templates=len(entities.TEMPLATES)), "leaves no template"),
    (dict(seed=-2), "seed=-2"),
    (dict(n_train=0), "n_train=0"),
    (dict(n_valid=10), "n_valid=10 and n_valid_templates=0"),
    (dict(n_valid_templates=5), "n_valid=0 and n_valid_templates=5"),
    (dict(n_valid=-1, n_valid_templates=3), "n_valid=-1 must be a non-negative integer"),
    (dict(n_test_templates=50, n_valid=5, n_valid_templates=66), "50 \\+ n_valid_templates=66"),
])
def test_split_errors(kwargs, message):
    arguments = dict(n_train=10, n_test=10) | kwargs
    with pytest.raises(ValueError, match=message):
        entities.ner_splits(**arguments)


def test_concatenate_pairs(ner):
    assert entities.concatenate_pairs(ner.train, 0.0) == list(ner.train)
    joined = entities.concatenate_pairs(ner.train, 0.5, seed=1)
    assert len(joined) == len(ner.train)
    pairs = [(s, j) for s, j in zip(ner.train, joined) if j.template == -1]
    assert 100 < len(pairs) < 200
    for first, both in pairs:
        assert both.tokens[: len(first.tokens)] == first.tokens
        assert len(both.tokens) == len(both.tags) and spans.is_well_formed(both.tags)
    with pytest.raises(ValueError, match="fraction=1.5"):
        entities.concatenate_pairs(ner.train, 1.5)
    with pytest.raises(ValueError, match="sentences is empty"):
        entities.concatenate_pairs([], 0.5)


# --- tensors for a tagger ----------------------------------------------------------------------


@pytest.mark.parametrize("word, shape", [("Paris", "Xx"), ("McDonald", "Xx"), ("A", "Xx"),
                                         ("LLC", "X"), ("on", "x"), ("1971", "d"), (",", "p"),
                                         ("'", "p"), ("3rd", "other"), ("iPhone", "other")])
def test_word_shape(word, shape):
    assert tagging.word_shape(word) == shape
    assert shape in tagging.SHAPES[1:]


def test_word_shape_refuses_empty_words():
    with pytest.raises(ValueError, match="non-empty string"):
        tagging.word_shape("")


def test_vocabulary_is_lower_cased_with_a_minimum_count(ner):
    vocab = tagging.word_vocab(ner.train, min_freq=2)
    counts = {}
    for s in ner.train:
        for t in s.tokens:
            counts[t.lower()] = counts.get(t.lower(), 0) + 1
    assert set(vocab.itos[3:]) == {w for w, c in counts.items() if c >= 2}
    assert all(w == w.lower() for w in vocab.itos[3:])


def test_encode_batch_pads_labels_with_the_ignore_index(ner):
    vocab = tagging.word_vocab(ner.train, min_freq=1)
    sentences = ner.train[:4]
    batch = tagging.encode_batch(sentences, vocab)
    longest = max(len(s.tokens) for s in sentences)
    assert batch.ids.shape == batch.shapes.shape == batch.labels.shape == (4, longest)
    assert len(batch) == 4 and batch.lengths == [len(s.tokens) for s in sentences]
    for row, s in enumerate(sentences):
        n = len(s.tokens)
        assert vocab.decode(batch.ids[row, :n]) == [t.lower() for t in s.tokens]
        assert [tagging.SHAPES[i] for i in batch.shapes[row, :n]] == [tagging.word_shape(t)
                                                                      for t in s.tokens]
        assert [entities.TAGS[i] for i in batch.labels[row, :n]] == list(s.tags)
        assert (batch.labels[row, n:] == tagging.IGNORE_INDEX).all()
        assert (batch.ids[row, n:] == vocab.pad_id).all() and (batch.shapes[row, n:] == 0).all()
    assert tagging.decode_tags(batch.labels.clamp(min=0), batch.lengths) == [list(s.tags)
                                                                            for s in sentences]


def test_unknown_words_become_unk(ner):
    vocab = tagging.word_vocab(ner.train, min_freq=1)
    odd = entities.TaggedSentence(("Zyxwvut", "on", "."), ("B-PER", "O", "O"), -1)
    batch = tagging.encode_batch([odd], vocab)
    assert batch.ids[0, 0] == vocab.unk_id and batch.ids[0, 1] == vocab.stoi["on"]
    assert tagging.SHAPES[batch.shapes[0, 0]] == "Xx"


def test_encoding_errors():
    vocab = tagging.word_vocab([entities.TaggedSentence(("a",), ("O",), 0)], min_freq=1)
    with pytest.raises(ValueError, match="sentences is empty"):
        tagging.encode_batch([], vocab)
    with pytest.raises(ValueError, match="lengths has 1 entries"):
        tagging.decode_tags(torch.zeros(2, 3, dtype=torch.long), [3])
    with pytest.raises(ValueError, match=r"tag_ids must have shape \(B, S\)"):
        tagging.decode_tags(torch.zeros(3, dtype=torch.long), [3])


def test_word_dropout():
    ids = torch.arange(1, 2001).view(20, 100)  # (B, S), no padding
    ids[:, -10:] = 0  # padding
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(tagging.word_dropout(ids, 0.0, unk_id=1), ids)
    dropped = tagging.word_dropout(ids, 0.3, unk_id=1, generator=generator)
    changed = (dropped != ids) & (ids != 1)
    assert 0.25 < changed[:, :-10].float().mean() < 0.35
    assert (dropped[:, -10:] == 0).all() and (dropped[changed] == 1).all()
    again = tagging.word_dropout(ids, 0.3, unk_id=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(dropped, again)
    per_token = torch.zeros(ids.shape)
    per_token[:, :45] = 0.999  # the first columns almost always, the others never
    dropped = tagging.word_dropout(ids, per_token, unk_id=1, generator=generator)
    assert (dropped[:, 45:] == ids[:, 45:]).all() and (dropped[:, :45] == 1).float().mean() > 0.99


@pytest.mark.parametrize("p, message", [
    (1.0, "p=1.0 must be a probability"),
    (torch.zeros(3, 4), "float tensor of ids' shape"),
    (torch.zeros(2, 3, dtype=torch.long), "float tensor of ids' shape"),
    (torch.full((2, 3), 1.5), "outside"),
])
def test_word_dropout_errors(p, message):
    with pytest.raises(ValueError, match=message):
        tagging.word_dropout(torch.ones(2, 3, dtype=torch.long), p, unk_id=1)


# --- spans ---------------------------------------------------------------------------------------


def conlleval_chunks(tags):
    """A port of conlleval's endOfChunk / startOfChunk (the BIO cases), the CoNLL reference."""

    def split(tag):
        return ("O", "") if tag == "O" else (tag[0], tag[2:])

    chunks, begin, prev_tag, prev_type = [], 0, "O", ""
    for i, tag in enumerate([*tags, "O"]):
        tag_, type_ = split(tag)
        end = (prev_tag in "BI" and tag_ in "BO") or (prev_tag != "O" and prev_type != type_)
        start = (tag_ == "B") or (prev_tag == "O" and tag_ == "I") or (
            tag_ != "O" and prev_type != type_)
        if end:
            chunks.append((prev_type, begin, i))
        if start:
            begin = i
        prev_tag, prev_type = tag_, type_
    return chunks


CASES = {
    "nothing": ([], [], []),
    "only O": (["O", "O"], [], []),
    "an entity at the end": (["O", "B-PER", "I-PER"], [("PER", 1, 3)], [("PER", 1, 3)]),
    "adjacent entities of one type": (["B-LOC", "B-LOC", "I-LOC"], [("LOC", 0, 1), ("LOC", 1, 3)],
                                      [("LOC", 0, 1), ("LOC", 1, 3)]),
    "a type change": (["B-PER", "I-ORG", "I-ORG"], [("PER", 0, 1), ("ORG", 1, 3)], [("PER", 0, 1)]),
    "I- at the start": (["I-DATE", "I-DATE", "O"], [("DATE", 0, 2)], []),
    "I- after O": (["B-PER", "O", "I-PER", "B-PER"], [("PER", 0, 1), ("PER", 2, 3), ("PER", 3, 4)],
                   [("PER", 0, 1), ("PER", 3, 4)]),
}


@pytest.mark.parametrize("name", CASES)
def test_bio_spans_by_hand(name):
    tags, conll, strict = CASES[name]
    assert spans.bio_spans(tags) == conll == conlleval_chunks(tags)
    assert spans.bio_spans(tags, scheme="strict") == strict


def test_bio_spans_match_conlleval_on_random_sequences():
    rng = random.Random(0)
    for _ in range(2000):
        tags = [rng.choice(entities.TAGS) for _ in range(rng.randint(0, 12))]
        assert spans.bio_spans(tags) == conlleval_chunks(tags), tags
        strict = spans.bio_spans(tags, "strict")
        assert set(strict) <= set(spans.bio_spans(tags))  # strict keeps a subset
        if spans.is_well_formed(tags):
            assert strict == spans.bio_spans(tags)
            assert spans.spans_to_bio(len(tags), strict) == tags  # and back


@pytest.mark.parametrize("tags, error, message", [
    (["B-PER", "X-PER"], ValueError, r"tags\[1\]='X-PER' is not a BIO tag"),
    (["B-"], ValueError, "is not a BIO tag"),
    (["B_PER"], ValueError, "is not a BIO tag"),
    (["O", None], ValueError, r"tags\[1\]=None"),
    ("B-PER", TypeError, "not one string"),
])
def test_bio_spans_errors(tags, error, message):
    with pytest.raises(error, match=message):
        spans.bio_spans(tags)


def test_unknown_scheme():
    with pytest.raises(ValueError, match="scheme='iob1'"):
        spans.bio_spans(["O"], scheme="iob1")


def test_spans_to_bio_and_its_errors():
    assert spans.spans_to_bio(4, [("PER", 0, 2), ("LOC", 3, 4)]) == ["B-PER", "I-PER", "O", "B-LOC"]
    assert spans.spans_to_bio(0, []) == []
    with pytest.raises(ValueError, match="does not fit in 3 tokens"):
        spans.spans_to_bio(3, [("PER", 2, 4)])
    with pytest.raises(ValueError, match="overlaps"):
        spans.spans_to_bio(5, [("PER", 0, 3), ("LOC", 2, 4)])
    with pytest.raises(ValueError, match="n_tokens=-1"):
        spans.spans_to_bio(-1, [])


def test_is_well_formed():
    assert spans.is_well_formed([]) and spans.is_well_formed(["B-PER", "I-PER", "B-PER", "O"])
    assert not spans.is_well_formed(["I-PER"])
    assert not spans.is_well_formed(["O", "I-PER"])
    assert not spans.is_well_formed(["B-LOC", "I-PER"])
    with pytest.raises(ValueError, match="not a BIO tag"):
        spans.is_well_formed(["PER"])


# --- scores --------------------------------------------------------------------------------------

TRUE = [["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "B-LOC", "O"],
        ["O", "B-DATE", "I-DATE", "O", "B-PER", "O", "O"]]
PRED = [["B-PER", "I-PER", "O", "B-ORG", "O", "O", "B-LOC", "O"],
        ["B-PER", "B-DATE", "I-DATE", "O", "B-LOC", "O", "O"]]


def test_span_scores_by_hand():
    # right: PER (0, 0-2), LOC (0, 6-7), DATE (1, 1-3); wrong: ORG cut short, a spurious PER,
    # LOC for PER. 3 right of 6 predicted and 5 true.
    scores = spans.span_scores(TRUE, PRED)
    assert (scores["n_correct"], scores["n_pred"], scores["n_true"]) == (3, 6, 5)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.6
    assert scores["f1"] == pytest.approx(6 / 11)
    per_type = scores["per_type"]
    assert set(per_type) == {"PER", "LOC", "ORG", "DATE"}
    assert per_type["PER"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5,
                                             "support": 2})
    assert per_type["LOC"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3,
                                             "support": 1})
    assert per_type["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert per_type["DATE"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}


def test_span_scores_edge_cases():
    assert spans.span_scores(TRUE, TRUE)["f1"] == 1.0
    nothing = spans.span_scores([["O", "O"]], [["O", "O"]])
    assert (nothing["precision"], nothing["recall"], nothing["f1"]) == (0.0, 0.0, 0.0)
    assert nothing["per_type"] == {}
    none_predicted = spans.span_scores(TRUE, [["O"] * len(t) for t in TRUE])
    assert none_predicted["precision"] == 0.0 and none_predicted["recall"] == 0.0
    # the same span in two different sentences is not a match
    swapped = spans.span_scores([["B-PER", "O"], ["O", "O"]], [["O", "O"], ["B-PER", "O"]])
    assert swapped["n_correct"] == 0
    # the right span with the wrong type is not a match either
    assert spans.span_scores([["B-PER"]], [["B-LOC"]])["n_correct"] == 0
    # an ill-formed prediction is read by the chosen scheme
    assert spans.span_scores([["O", "B-PER"]], [["I-PER", "B-PER"]])["precision"] == 0.5
    assert spans.span_scores([["O", "B-PER"]], [["I-PER", "B-PER"]], "strict")["precision"] == 1.0


def test_span_scores_errors():
    with pytest.raises(ValueError, match="true_tags has 2 sentences but pred_tags 1"):
        spans.span_scores(TRUE, PRED[:1])
    with pytest.raises(ValueError, match="sentence 1: 7 true tags but 6 predicted"):
        spans.span_scores(TRUE, [PRED[0], PRED[1][:6]])


def test_sentence_counts_add_up_to_the_corpus_scores():
    counts = spans.sentence_counts(TRUE, PRED)
    assert counts.tolist() == [[2, 3, 3], [1, 3, 2]]  # (right, predicted, true) per sentence
    scores = spans.span_scores(TRUE, PRED)
    assert counts.sum(0).tolist() == [scores["n_correct"], scores["n_pred"], scores["n_true"]]
    assert spans.sentence_counts([], []).shape == (0, 3)
    with pytest.raises(ValueError, match="sentence 1: 7 true tags but 6 predicted"):
        spans.sentence_counts(TRUE, [PRED[0], PRED[1][:6]])


def test_bootstrap_f1_resamples_whole_groups():
    rng = random.Random(0)
    true, pred, groups = [], [], []
    for group in range(12):  # a group's sentences are all right or all wrong, as a template's
        for _ in range(30):
            true.append(["B-PER", "O"])
            pred.append(["B-PER", "O"] if group % 3 else ["O", "O"])
            groups.append(100 + group)
    order = list(range(len(true)))
    rng.shuffle(order)
    true, pred, groups = ([x[i] for i in order] for x in (true, pred, groups))
    f1 = spans.span_scores(true, pred)["f1"]
    low, high = spans.bootstrap_f1(true, pred, groups, n_resamples=4000)
    assert low < f1 < high and high - low > 0.2
    by_sentence = spans.bootstrap_f1(true, pred, range(len(true)), n_resamples=4000)
    assert low < by_sentence[0] < f1 < by_sentence[1] < high  # sentences: far too narrow
    assert spans.bootstrap_f1(true, pred, groups, 500, seed=1) == spans.bootstrap_f1(
        true, pred, groups, 500, seed=1)
    narrow = spans.bootstrap_f1(true, pred, groups, n_resamples=4000, level=0.5)
    assert low < narrow[0] < narrow[1] < high
    assert spans.bootstrap_f1(TRUE, TRUE, [0, 1]) == (1.0, 1.0)


def test_bootstrap_samples_of_two_taggers_are_paired():
    true = [["B-PER", "O"]] * 4 + [["B-LOC"]] * 4
    good = [["B-PER", "O"]] * 4 + [["B-LOC"]] * 4
    half = [["B-PER", "O"]] * 4 + [["O"]] * 4
    groups = [0, 0, 1, 1, 2, 2, 3, 3]
    a = spans.bootstrap_f1_samples(true, good, groups, n_resamples=300, seed=5)
    b = spans.bootstrap_f1_samples(true, half, groups, n_resamples=300, seed=5)
    assert a.shape == (300,) and (a == 1.0).all()
    # the same resamples: b is 1 exactly when no LOC template (groups 2, 3) was drawn
    draws = np.random.default_rng(5).integers(0, 4, (300, 4))
    assert np.array_equal(b == 1.0, (draws < 2).all(axis=1))


@pytest.mark.parametrize("kwargs, message", [
    (dict(groups=[0]), "groups has 1 entries; expected one per sentence"),
    (dict(n_resamples=0), "n_resamples=0"),
    (dict(level=1.0), "level=1.0 must be in"),
])
def test_bootstrap_f1_errors(kwargs, message):
    arguments = dict(true_tags=TRUE, pred_tags=PRED, groups=[0, 1]) | kwargs
    with pytest.raises(ValueError, match=message):
        spans.bootstrap_f1(**arguments)
    with pytest.raises(ValueError, match="true_tags is empty"):
        spans.bootstrap_f1([], [], [])
