"""The generated QA data: answers are exact spans, several entities of the asked type, splits
disjoint by context template and by question template, and seeded."""

import pytest

from transformer_lib.data import qa as qa_data


@pytest.fixture(scope="module")
def data():
    return qa_data.qa_splits(300, 100, 100, seed=0)


def test_every_answer_is_an_entity_span_among_several_of_its_type(data):
    for example in data.train + data.valid + data.test:
        start, end = example.answer_start, example.answer_start + len(example.answer_text)
        assert example.context[start:end] == example.answer_text
        assert (start, end, example.answer_type) in example.entities
        assert sum(kind == example.answer_type for _, _, kind in example.entities) >= 2
        assert qa_data.RELATIONS[example.relation][1] == example.answer_type
        for a, b, _ in example.entities:
            assert example.context[a:b].strip() == example.context[a:b] != ""


def test_splits_are_disjoint_by_context_and_question_template(data):
    used = {name: {t for e in getattr(data, name) for t in e.context_templates}
            for name in qa_data.SPLITS}
    asked = {name: {e.question_template for e in getattr(data, name)} for name in qa_data.SPLITS}
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not used[a] & used[b] and not asked[a] & asked[b]
        assert not set(data.context_templates[a]) & set(data.context_templates[b])
    assert asked == {"train": {0, 1}, "valid": {2}, "test": {3}}
    assert {e.relation for e in data.test} == set(qa_data.RELATIONS)


def test_seeded_and_the_test_set_independent_of_the_training_size(data):
    again = qa_data.qa_splits(50, 20, 100, seed=0)
    assert again.test == data.test
    assert qa_data.qa_splits(300, 100, 100, seed=1).test != data.test


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_train"):
        qa_data.qa_splits(0, 10, 10)
    with pytest.raises(ValueError, match="seed"):
        qa_data.qa_splits(10, 10, 10, seed=-1)
    with pytest.raises(ValueError, match="n_sentences"):
        qa_data.qa_splits(10, 10, 10, n_sentences=0)
