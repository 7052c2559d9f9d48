"""BM25 by its formula on hand-counted cases, ranks and ranking scores, and the intervals."""

import math

import pytest
import torch

from transformer_lib import retrieval


def test_words_lowercases_and_splits_on_non_word_characters():
    assert retrieval.words("How do I use 'with'? It's_fine") == ["how", "do", "i", "use", "with",
                                                                "it", "s_fine"]
    with pytest.raises(TypeError, match="text must be a str"):
        retrieval.words(["a list"])


def test_bm25_matches_the_formula_counted_by_hand():
    docs = [["cat", "sat"], ["dog"], ["cat", "cat", "cat", "dog"]]  # lengths 2, 1, 4; mean 7/3
    k1, b, avgdl = 1.5, 0.75, 7 / 3
    idf_cat = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))  # 2 of 3 documents hold "cat"

    def term(f, length):
        return f * (k1 + 1) / (f + k1 * (1 - b + b * length / avgdl))

    expected = torch.tensor([idf_cat * term(1, 2), 0.0, idf_cat * term(3, 4)], dtype=torch.float64)
    torch.testing.assert_close(retrieval.bm25_scores(["cat"], docs), expected)
    # a repeated query token counts twice; an unknown one adds nothing
    torch.testing.assert_close(retrieval.bm25_scores(["cat", "cat", "bird"], docs), 2 * expected)


def test_bm25_properties():
    docs = [["a", "b"], ["a", "a", "a", "a", "a", "a", "a", "a", "a", "a"], ["b"]]
    scores = retrieval.bm25_scores(["a"], docs, k1=1.2, b=0.0)
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    assert scores[1] < idf * (1.2 + 1)  # the count saturates below (k1 + 1) idf
    common = retrieval.bm25_scores(["a"], [["a"]] * 5)
    assert (common > 0).all()  # a word every document holds keeps a positive idf
    with pytest.raises(ValueError, match="documents is empty"):
        retrieval.bm25_scores(["a"], [])
    with pytest.raises(ValueError, match="0 <= b <= 1"):
        retrieval.bm25_scores(["a"], docs, b=2)


def test_ranks_and_scores():
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1]])  # (Q, N)
    ranks = retrieval.ranks_of_first_hit(scores, [{2}, {0, 1}])
    assert ranks == [2, 1]
    assert retrieval.ranking_scores(ranks) == {"top-1": 0.5, "top-3": 1.0, "MRR": 0.75}
    with pytest.raises(ValueError, match="Q=3 queries"):
        retrieval.ranks_of_first_hit(scores, [{0}, {1}, {2}])
    with pytest.raises(ValueError, match="at least one relevant"):
        retrieval.ranks_of_first_hit(scores, [{0}, set()])
