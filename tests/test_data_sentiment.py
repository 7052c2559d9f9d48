"""The generated film and product reviews: sizes, balance, and splits by template and word."""

import re

import pytest

from transformer_lib.data import sentiment


@pytest.fixture(scope="module")
def parts():
    return sentiment.splits()


def test_sizes_labels_and_kinds(parts):
    assert [len(parts[p]) for p in ("train", "validation", "test")] == [1500, 300, 360]
    for reviews in parts.values():
        assert sum(r.label for r in reviews) == len(reviews) // 2
        plain = sum(r.slice == "plain" for r in reviews)
        assert abs(plain - len(reviews) / 2) <= 4 and {r.slice for r in reviews} == set(
            sentiment.SLICES)


def _template_of(text):
    for kind, templates in sentiment.TEMPLATES.items():
        for index, template in enumerate(templates):
            pattern = re.escape(template[0].upper() + template[1:])
            pattern = re.sub(r"\\\{[a-z0-9]+\\\}", "(.+?)", pattern.replace("\\{", "\\{"))
            if re.fullmatch(pattern.replace(r"\{", "{").replace(r"\}", "}"), text):
                return kind, index
    return None


def test_parts_use_disjoint_templates_and_items(parts):
    for part, reviews in parts.items():
        wanted = range(12)[sentiment.TEMPLATE_PARTS[part]]
        for review in reviews[:60]:
            found = _template_of(review.text)
            assert found is not None and found[0] == review.slice and found[1] in wanted
    train_items = {item for item, _ in sentiment.ITEMS[: sentiment.N_TRAIN_ITEMS]}
    for review in parts["validation"] + parts["test"]:
        assert not any(f" {item}" in review.text.lower() for item in train_items
                       if item not in ("film", "series"))


def test_new_words_never_appear_in_training(parts):
    new = set(sentiment.GOOD[sentiment.N_TRAIN_WORDS:] + sentiment.BAD[sentiment.N_TRAIN_WORDS:])
    train_words = {w for r in parts["train"] for w in re.findall(r"[a-z]+", r.text.lower())}
    assert not new & train_words
    for part in ("validation", "test"):
        flagged = [r for r in parts[part] if r.new_word]
        assert abs(len(flagged) - len(parts[part]) / 2) <= 8


def test_labels_follow_the_deciding_word(parts):
    good = set(sentiment.GOOD)
    for review in parts["train"][:200]:
        words = re.findall(r"[a-z]+", review.text.lower())
        if review.slice == "plain":
            assert review.label == any(w in good for w in words)
        elif review.slice == "negation":
            assert review.label == (not any(w in good for w in words))


def test_same_seed_same_reviews_and_bad_sizes():
    assert sentiment.splits(80, 16, 16, seed=3) == sentiment.splits(80, 16, 16, seed=3)
    assert sentiment.splits(80, 16, 16, seed=3) != sentiment.splits(80, 16, 16, seed=4)
    with pytest.raises(ValueError, match="n_valid"):
        sentiment.splits(n_valid=2)
