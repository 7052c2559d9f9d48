"""The number-translation data of chapter 8: pairs, splits by number, the word-level tokenizer."""

import socket

import pytest

from transformer_lib.data import BOS_ID, EOS_ID, PAD_ID
from transformer_lib.data import number_words as N


def test_pairs_come_from_num2words():
    assert N.number_pairs([71, 80, 97]) == [
        ("seventy-one", "soixante et onze"),
        ("eighty", "quatre-vingts"),
        ("ninety-seven", "quatre-vingt-dix-sept"),
    ]
    assert N.to_words(1200, "fr") == "mille deux cents"
    assert N.number_pairs([21], source="fr", target="en") == [("vingt et un", "twenty-one")]


def test_splits_are_disjoint_sorted_and_sized():
    splits = N.split_numbers(300, 50, 80, high=2000, seed=3)
    train, val, test = set(splits.train), set(splits.val), set(splits.test)
    assert (len(train), len(val), len(test)) == (300, 50, 80)  # no duplicates inside a split
    assert not train & val and not train & test and not val & test
    assert all(0 <= n < 2000 for n in train | val | test)
    assert splits.train == sorted(splits.train) and splits.test == sorted(splits.test)


def test_splits_are_deterministic_under_a_seed():
    assert (N.split_numbers(100, 10, 10, high=1000, seed=5)
            == N.split_numbers(100, 10, 10, high=1000, seed=5))
    assert (N.split_numbers(100, 10, 10, high=1000, seed=5)
            != N.split_numbers(100, 10, 10, high=1000, seed=6))


def test_every_number_of_digits_is_equally_likely():
    splits = N.split_numbers(2500, 250, 250, seed=0)
    drawn = splits.train + splits.val + splits.test
    digits = [sum(len(str(n)) == d for n in drawn) for d in range(1, 7)]
    assert digits[:2] == [10, 90]  # every one- and two-digit number is drawn
    assert all(abs(count - digits[5]) < 0.15 * digits[5]
               for count in digits[3:5])  # 4, 5, 6 digits alike
    assert N.split_numbers(10, 10, 10, high=30, seed=1).test != []


def test_a_split_can_use_every_number():
    splits = N.split_numbers(6, 2, 2, high=10, seed=0)
    assert sorted(splits.train + splits.val + splits.test) == list(range(10))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_train=0, n_val=1, n_test=1), "n_train"),
        (dict(n_train=1, n_val=-1, n_test=1), "n_val"),
        (dict(n_train=1, n_val=1, n_test=1.5), "n_test"),
        (dict(n_train=1, n_val=1, n_test=1, high=0), "high"),
        (dict(n_train=8, n_val=2, n_test=2, high=10), "high=10"),
        (dict(n_train=1, n_val=1, n_test=1, seed="0"), "seed"),
    ],
)
def test_bad_split_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        N.split_numbers(**kwargs)


@pytest.mark.parametrize("number, lang, name", [(-1, "en", "number"), (2.5, "en", "number"),
                                                (True, "en", "number"), (3, "de", "lang")])
def test_bad_words_arguments_name_the_argument(number, lang, name):
    with pytest.raises(ValueError, match=name):
        N.to_words(number, lang)


def test_tokenize_keeps_hyphens_and_commas_as_tokens():
    assert N.tokenize("one thousand, ninety-seven") == ["one", "thousand", ",",
                                                        "ninety", "-", "seven"]
    assert N.tokenize("quatre-vingt-dix-sept") == ["quatre", "-", "vingt", "-", "dix", "-", "sept"]
    assert N.tokenize("") == []
    with pytest.raises(TypeError, match="text"):
        N.tokenize(["one"])


def test_detokenize_inverts_tokenize_on_every_kind_of_number():
    for number in [*range(0, 1200, 3), *range(1200, 1_000_000, 4999), 1_000_000]:
        for lang in ("en", "fr"):
            text = N.to_words(number, lang)
            assert N.detokenize(N.tokenize(text)) == text


def test_vocab_specials_match_the_batching_constants():
    vocab = N.WordVocab.from_texts(["seventy-one", "soixante et onze"])
    assert vocab.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert (vocab.ids["<pad>"], vocab.ids["<bos>"], vocab.ids["<eos>"]) == (PAD_ID, BOS_ID, EOS_ID)
    assert vocab.ids["<unk>"] == N.UNK_ID == 3
    assert len(vocab) == 4 + 6  # seventy - one soixante et onze


def test_encode_decode_round_trip_and_unknown_words():
    pairs = N.number_pairs(range(0, 3000, 7))
    vocab = N.WordVocab.from_texts([text for pair in pairs for text in pair])
    for source, target in pairs:
        assert vocab.decode(vocab.encode(source)) == source
        assert vocab.decode([BOS_ID, *vocab.encode(target), EOS_ID, PAD_ID, 5]) == target
    assert N.UNK_ID in vocab.encode("one million")  # "million" is not a training word
    assert vocab.decode(vocab.encode("one million")) == "one <unk>"
    assert N.encode_pairs(pairs[:2], vocab) == [(vocab.encode(s), vocab.encode(t))
                                                for s, t in pairs[:2]]


def test_vocab_is_built_from_the_given_texts_only():
    vocab = N.WordVocab.from_texts(["one", "one", "two"], min_count=2)
    assert "one" in vocab and "two" not in vocab
    with pytest.raises(ValueError, match="min_count"):
        N.WordVocab.from_texts(["one"], min_count=0)
    with pytest.raises(ValueError, match="texts"):
        N.WordVocab.from_texts([])
    with pytest.raises(ValueError, match="special tokens"):
        N.WordVocab(["one", "two"])
    with pytest.raises(ValueError, match="ids holds 99"):
        vocab.decode([99])


def test_sacrebleu_scores_without_network(monkeypatch):
    """The chapter's BLEU (default 13a tokenizer) never opens a connection."""
    import sacrebleu

    def refuse(*args, **kwargs):
        raise AssertionError("sacrebleu tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    hypotheses = [N.to_words(n, "fr") for n in (971_625, 123_456, 800_080)]  # 6 to 8 words each
    assert sacrebleu.corpus_bleu(hypotheses, [hypotheses]).score == pytest.approx(100.0)
    assert sacrebleu.corpus_bleu(hypotheses[:1], [hypotheses[1:2]]).score < 100
