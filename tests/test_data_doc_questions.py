"""The labelled questions and reference summaries match the installed Python's documentation."""

import pytest

from transformer_lib.data import doc_questions as dq


@pytest.fixture(scope="module")
def search():
    return dq.search_topics()


def test_search_topics_one_passage_per_topic_without_collections(search):
    keys, passages = search
    assert len(keys) == len(passages) == len(set(keys)) >= 70
    assert "compound" not in keys and "break" in keys
    assert all(len(p.split(": ", 1)[1].split()) <= 60 for p in passages)


def test_every_question_has_known_topics_and_its_answers_are_found(search):
    keys, _ = search
    assert len(dq.QUESTIONS) >= 36 and len({q.text for q in dq.QUESTIONS}) == len(dq.QUESTIONS)
    for question in dq.QUESTIONS:
        assert set(question.topics) <= set(keys), question
        if question.answers:
            sentences = [s for t in question.topics for s in dq.topic_sentences(t, 20)]
            assert dq.find_sentences(sentences, question.answers), question
    assert sum(bool(q.answers) for q in dq.QUESTIONS) >= 34


def test_reference_summaries_name_two_or_three_sentences_each():
    assert len(dq.REFERENCE_SUMMARIES) >= 14
    for key, pieces in dq.REFERENCE_SUMMARIES.items():
        sentences = dq.topic_sentences(key, dq.SUMMARY_SENTENCES)
        found = dq.find_sentences(sentences, pieces)
        assert len(found) == len(pieces) in (2, 3), key  # one piece, one sentence
        assert len(sentences) > len(found) + 2, key  # a summary has something to leave out


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="no sentence contains 'zebra'"):
        dq.find_sentences(["A cat."], ("zebra",))
    with pytest.raises(ValueError, match="not a topic"):
        dq.topic_prose("no-such-topic")
    assert dq.split_sentences(["One two three four. Changed in version 3.8: x y z.",
                               "Then an example follows here:"]) == ["One two three four."]
