"""The chapter 9 corpus: Python's help topics, deduplicated, split by topic, cut into windows."""

import pytest
import torch

from transformer_lib.data import corpus


@pytest.fixture(scope="module")
def topics():
    return corpus.deduplicate_paragraphs(corpus.load_topics())


def test_topics_come_from_pydoc_data_in_sorted_order():
    raw = corpus.load_topics()
    assert list(raw) == sorted(raw) and len(raw) > 50
    assert sum(len(t) for t in raw.values()) > 300_000


def test_deduplicated_topics_share_no_paragraph(topics):
    raw = corpus.load_topics()
    compound = set(corpus.paragraphs(raw["compound"]))
    only_in_if = set(corpus.paragraphs(raw["if"])) - compound
    assert len(only_in_if) == 1 and "******" in only_in_if.pop()  # all but its title repeat
    owner = {}
    for name, text in topics.items():
        for paragraph in corpus.paragraphs(text):
            if len(paragraph) >= 40:
                assert paragraph not in owner, (paragraph[:40], owner.get(paragraph), name)
            owner[paragraph] = name
    every = {p for text in raw.values() for p in corpus.paragraphs(text)}
    assert set(owner) == every  # nothing lost, only repeats removed
    kept = sum(len(t) for t in topics.values()) / sum(len(t) for t in raw.values())
    assert 0.7 < kept < 0.9  # about a fifth of the text was repetition


def test_split_is_seeded_disjoint_and_sized(topics):
    train, val = corpus.split_topics(topics, 0.1, seed=0)
    assert not set(train) & set(val) and set(train) | set(val) == set(topics)
    total = sum(len(t) for t in topics.values())
    assert 0.1 <= sum(len(t) for t in val.values()) / total < 0.25
    assert corpus.split_topics(topics, 0.1, seed=0) == (train, val)
    assert set(corpus.split_topics(topics, 0.1, seed=1)[1]) != set(val)
    train_paragraphs = {p for t in train.values() for p in corpus.paragraphs(t)}
    val_paragraphs = [p for t in val.values() for p in corpus.paragraphs(t) if len(p) >= 40]
    assert not any(p in train_paragraphs for p in val_paragraphs)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1, "0.1"])
def test_split_rejects_bad_fractions(topics, fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        corpus.split_topics(topics, fraction)


def test_join_and_paragraphs_round_trip():
    text = corpus.join_topics({"b": "second", "a": "first\n\n  indented"})
    assert text == "first\n\n  indented\n\nsecond"
    assert corpus.paragraphs(text) == ["first", "  indented", "second"]


def test_tokenizer_is_deterministic_and_lossless(topics):
    train, val = corpus.split_topics(topics)
    text = corpus.join_topics(train)[:60_000]
    first, second = corpus.train_tokenizer(text, 512), corpus.train_tokenizer(text, 512)
    assert first.get_vocab() == second.get_vocab() and first.to_str() == second.to_str()
    assert first.get_vocab_size() == 512
    sample = corpus.join_topics(val)[:2000] + " ünïcödé → ∑"
    assert first.decode(first.encode(sample).ids) == sample  # byte-level: nothing is unknown
    assert len(first.encode(sample).ids) < len(sample)  # and it compresses


def test_tokenizer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="vocab_size=100"):
        corpus.train_tokenizer("some text", 100)
    with pytest.raises(ValueError, match="text"):
        corpus.train_tokenizer("", 512)


def test_random_windows_are_shifted_and_depend_only_on_the_step():
    ids = torch.arange(1000)
    get_batch = corpus.RandomWindows(ids, batch_size=4, context=16, seed=3)
    inputs, targets = get_batch(7)
    assert inputs.shape == targets.shape == (4, 16)
    assert torch.equal(targets, inputs + 1)  # the same text, one token later
    again = corpus.RandomWindows(ids, batch_size=4, context=16, seed=3)
    assert torch.equal(again(7)[0], inputs)  # a resumed run sees the same batch
    assert not torch.equal(get_batch(8)[0], inputs)
    assert not torch.equal(corpus.RandomWindows(ids, 4, 16, seed=4)(7)[0], inputs)
    starts = torch.cat([get_batch(s)[0][:, 0] for s in range(300)])
    assert starts.min() >= 0 and starts.max() <= len(ids) - 17  # every window fits
    assert starts.max() > 950  # and they reach the end


def test_random_windows_reject_bad_input():
    with pytest.raises(ValueError, match="context"):
        corpus.RandomWindows(torch.arange(10), 2, 10)
    with pytest.raises(ValueError, match="step"):
        corpus.RandomWindows(torch.arange(100), 2, 10)(-1)
    with pytest.raises(ValueError, match="ids"):
        corpus.RandomWindows(torch.zeros(2, 50, dtype=torch.long), 2, 10)


def test_sequential_windows_predict_every_token_once():
    ids = torch.arange(103)
    inputs, targets = corpus.sequential_windows(ids, 10)
    assert inputs.shape == targets.shape == (10, 10)
    assert torch.equal(inputs.flatten(), ids[:100]) and torch.equal(targets.flatten(), ids[1:101])
    with pytest.raises(ValueError, match="context"):
        corpus.sequential_windows(torch.arange(5), 10)


def test_docstrings_are_read_without_importing(tmp_path):
    (tmp_path / "alpha.py").write_text(
        '"""Alpha module."""\n\nraise SystemExit("imported")\n\n\ndef public():\n'
        '    """Public function."""\n\n\ndef _private():\n    """Hidden."""\n\n\n'
        'class Thing:\n    """A thing."""\n\n    def method(self):\n        """Its method."""\n')
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text('"""The package."""\n')
    (tmp_path / "pkg" / "empty.py").write_text("x = 1\n")
    (tmp_path / "test_beta.py").write_text('"""A test module, left out."""\n')
    (tmp_path / "broken.py").write_text('"""Not Python 3."""\nprint "hello"\n')
    docs = corpus.load_docstrings(tmp_path)
    assert docs == {"module alpha": "Alpha module.\n\nPublic function.\n\nA thing.\n\nIts method.",
                    "module pkg": "The package."}


def test_standard_library_docstrings_are_english_and_deterministic():
    docs = corpus.load_docstrings()
    assert list(docs) == sorted(docs) and "module json" in docs and len(docs) > 200
    assert sum(len(t) for t in docs.values()) > 500_000
    assert "JSON" in docs["module json"]
    assert not any(name.startswith(("module test", "module idlelib")) for name in docs)


def test_docstrings_root_must_be_a_directory(tmp_path):
    with pytest.raises(ValueError, match="root="):
        corpus.load_docstrings(tmp_path / "missing")
