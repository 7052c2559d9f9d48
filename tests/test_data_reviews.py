"""The generated reviews: sizes, balance, disjoint words between development and test."""

import pytest

from transformer_lib.data import reviews


@pytest.fixture(scope="module")
def split():
    return reviews.development_and_test()


def test_sizes_balance_and_kinds(split):
    dev, test = split
    assert len(dev) == 60 and len(test) == 204 + len(reviews.HAND_WRITTEN) >= 200
    for part in (dev, test):
        assert abs(sum(r.positive for r in part) - len(part) / 2) <= 1
        assert {r.slice for r in part} == set(reviews.SLICES)
    assert set(reviews.HAND_WRITTEN) <= set(test) and not set(reviews.HAND_WRITTEN) & set(dev)


def test_development_and_test_share_no_product_or_sentiment_word(split):
    dev, test = split
    half = len(reviews.GOOD) // 2
    test_words = {w for w in reviews.GOOD[half:] + reviews.BAD[half:]}
    dev_text = " ".join(r.text.lower() for r in dev)
    assert not [w for w in test_words if f" {w}" in f" {dev_text}"]
    assert not {r.text for r in dev} & {r.text for r in test}


def test_seeded_and_validated():
    assert reviews.development_and_test(seed=3) == reviews.development_and_test(seed=3)
    assert reviews.development_and_test(seed=3) != reviews.development_and_test(seed=4)
    with pytest.raises(ValueError, match="at least 2"):
        reviews.development_and_test(n_dev=1)


def test_lexicon_and_few_shot_sample(split):
    assert reviews.lexicon_score("Great food, terrible and rude staff.") == -1
    assert reviews.lexicon_score("not bad at all") == -1  # the word list cannot see negation
    dev, _ = split
    few = reviews.few_shot_indices(dev, 8, seed=1)
    assert len(set(few)) == 8 and sum(dev[i].positive for i in few) == 4
    assert few == reviews.few_shot_indices(dev, 8, seed=1)
    with pytest.raises(ValueError, match="must be even"):
        reviews.few_shot_indices(dev, 7)
