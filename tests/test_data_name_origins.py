"""The names data of chapter 10: faker's name lists, the split by name, the character vocabulary."""

from collections import Counter

import pytest

from transformer_lib.data import name_origins as N

FEW = ("fi_FI", "pl_PL", "tr_TR")


@pytest.fixture(scope="module")
def name_data():
    return N.load_names()


def test_locale_names_reads_every_first_and_last_name_list():
    polish = N.locale_names("pl_PL")
    assert {"Kowalski", "Franciszek"} <= polish  # a surname (male_last_names) and a first name
    assert "Virtanen" in N.locale_names("fi_FI")
    assert all(isinstance(n, str) and n == n.strip() and n for n in polish)


@pytest.mark.parametrize("locale", ["xx_YY", "", "en US", None])
def test_locale_names_refuses_an_unknown_locale(locale):
    with pytest.raises(ValueError, match="locale"):
        N.locale_names(locale)


def test_split_is_by_name_disjoint_and_drops_the_shared_names(name_data):
    train = {n for n, _ in name_data.train}
    test = {n for n, _ in name_data.test}
    assert not train & test
    assert len(train) == len(name_data.train) and len(test) == len(name_data.test)  # no repeats
    listed_by = Counter(n for locale in N.LOCALES for n in N.locale_names(locale))
    shared = {n for n, count in listed_by.items() if count > 1}
    assert name_data.dropped == len(shared) > 0
    assert not (train | test) & shared
    for name, label in name_data.train + name_data.test:  # every label is the name's one language
        assert name in N.locale_names(N.LOCALES[label])


def test_split_keeps_the_mix_of_languages(name_data):
    assert name_data.languages == N.LOCALES
    train = Counter(label for _, label in name_data.train)
    test = Counter(label for _, label in name_data.test)
    assert set(train) == set(test) == set(range(len(N.LOCALES)))
    for label in range(len(N.LOCALES)):
        total = train[label] + test[label]
        assert total <= 600
        assert test[label] == round(0.2 * total)


def test_split_is_seeded(name_data):
    assert N.load_names(seed=0) == name_data  # the same on every call (sets have no fixed order)
    other = N.load_names(seed=1)
    assert other != name_data
    assert other.dropped == name_data.dropped  # the seed changes the draw, not the data


def test_small_and_uneven_splits_leave_every_language_in_both_sets():
    data = N.load_names(FEW, per_language=2, test_fraction=0.9, seed=3)
    assert (Counter(label for _, label in data.train) == Counter(label for _, label in data.test)
            == Counter(range(3)))
    data = N.load_names(FEW, per_language=10, test_fraction=0.01)
    assert len(data.train) == 3 * 9 and len(data.test) == 3 * 1


@pytest.mark.parametrize("kwargs, message", [
    ({"locales": ("en_US",)}, "at least two different"),
    ({"locales": ("en_US", "en_US")}, "at least two different"),
    ({"locales": "en_US"}, "one string"),
    ({"locales": ("en_US", "xx_YY")}, "no faker person provider"),
    ({"per_language": 0}, "positive integer"),
    ({"per_language": True}, "positive integer"),
    ({"per_language": 1}, "at least 2"),
    ({"test_fraction": 0.0}, r"\(0, 1\)"),
    ({"test_fraction": 1.0}, r"\(0, 1\)"),
    ({"test_fraction": "0.2"}, r"\(0, 1\)"),
])
def test_load_names_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        N.load_names(**kwargs)


def test_vocab_puts_the_special_tokens_first_and_sorts_the_rest():
    vocab = N.Vocab("banana")
    assert vocab.itos == [N.PAD, N.UNK, N.CLS, "a", "b", "n"]
    assert (vocab.pad_id, vocab.unk_id, vocab.cls_id) == (0, 1, 2)
    assert len(vocab) == 6 and "n" in vocab and "z" not in vocab
    assert len(N.Vocab(["a", N.PAD, N.CLS, "a"])) == 4  # special tokens are never added twice


def test_vocab_min_freq_keeps_the_frequent_tokens():
    vocab = N.Vocab("banana", min_freq=2)
    assert vocab.itos[3:] == ["a", "n"]  # "b" occurs once
    assert vocab.encode("bab") == [vocab.unk_id, vocab.stoi["a"], vocab.unk_id]
    with pytest.raises(ValueError, match="min_freq"):
        N.Vocab("banana", min_freq=0)


def test_vocab_encode_and_decode_round_trip():
    vocab = N.Vocab("Kowalski Öztürk")
    ids = vocab.encode("Öztürk")
    assert len(ids) == 6 and N.UNK not in vocab.decode(ids)
    assert vocab.decode(ids) == list("Öztürk")
    assert vocab.encode("Öz", add_cls=True) == [vocab.cls_id, *vocab.encode("Öz")]
    assert vocab.decode(vocab.encode("Qx")) == [N.UNK, N.UNK]  # unseen characters
    assert vocab.encode(["ow", "K"]) == [vocab.unk_id, vocab.stoi["K"]]  # tokens need not be chars
    assert vocab.encode("") == [] and vocab.decode([]) == []


@pytest.mark.parametrize("bad_id", [-1, 6])
def test_vocab_decode_refuses_an_id_out_of_range(bad_id):
    vocab = N.Vocab("banana")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.decode([3, bad_id])


def test_split_validation_holds_out_a_disjoint_set_with_the_same_mix(name_data):
    train, valid = N.split_validation(name_data.train, 800, seed=0)
    assert len(valid) == 800 and len(train) + len(valid) == len(name_data.train)
    assert sorted(train + valid) == sorted(name_data.train)  # a partition of the pairs
    assert not {n for n, _ in train} & {n for n, _ in valid}
    assert not {n for n, _ in valid} & {n for n, _ in name_data.test}
    before = Counter(label for _, label in name_data.train)
    held = Counter(label for _, label in valid)
    for label, count in before.items():  # each language's share, to within one name
        assert abs(held[label] - 800 * count / len(name_data.train)) < 1
    order = {pair: i for i, pair in enumerate(name_data.train)}
    assert [order[p] for p in valid] == sorted(order[p] for p in valid)  # the order is kept
    assert N.split_validation(name_data.train, 800, seed=0) == (train, valid)
    assert N.split_validation(name_data.train, 800, seed=1)[1] != valid


def test_split_validation_leaves_every_label_a_training_pair():
    pairs = [("a", 0), ("b", 0), ("c", 1), ("d", 1), ("e", 1), ("f", 2), ("g", 2)]
    train, valid = N.split_validation(pairs, 4, seed=3)
    assert len(valid) == 4 and {label for _, label in train} == {0, 1, 2}
    assert N.split_validation(pairs, 1)[1][0] in pairs


@pytest.mark.parametrize("size, message", [
    (0, "positive integer"), (2.5, "positive integer"), (5, "too large"), (7, "too large")])
def test_split_validation_refuses_a_bad_size(size, message):
    pairs = [("a", 0), ("b", 0), ("c", 1), ("d", 1), ("e", 1), ("f", 2), ("g", 2)]
    with pytest.raises(ValueError, match=message):
        N.split_validation(pairs, size)
