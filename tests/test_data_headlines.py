"""The headline data (chapter 15): splits that share no phrasing and no name, references that
state only facts of their report, a tokenizer that gives the text back, and ROUGE with intervals."""

import pytest
from rouge_score import rouge_scorer

from transformer_lib import summaries
from transformer_lib.data import headlines


@pytest.fixture(scope="module")
def splits():
    return headlines.make_splits(n_train=500, n_val=100, n_test=100, seed=0)


def name_words(reports):
    shared = {*headlines.COMPANY_WORDS, *headlines.TEAM_WORDS}
    return {w for r in reports for name in r.entities for w in name.split()} - shared


def test_the_same_seed_gives_the_same_reports():
    a = headlines.make_splits(20, 5, 5, seed=3)
    b = headlines.make_splits(20, 5, 5, seed=3)
    assert a == b and a != headlines.make_splits(20, 5, 5, seed=4)


def test_splits_share_no_phrasing_and_no_name(splits):
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    for name, reports in parts.items():
        assert {r.template for r in reports} <= set(headlines.SPLIT_TEMPLATES[name])
        assert {r.event for r in reports} == set(headlines.EVENTS)
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not name_words(parts[a]) & name_words(parts[b])


def test_reports_have_three_or_four_sentences_and_a_faithful_headline(splits):
    for report in splits.train + splits.val + splits.test:
        assert len(report.sentences) == 3 + report.event_position
        assert headlines.unsupported(report.headline, report.text) == []
        assert all(name in report.text for name in report.entities)
    assert 0.25 < sum(r.event_position for r in splits.train) / len(splits.train) < 0.55


def test_every_headline_slot_is_in_every_phrasing_of_its_event():
    for event, forms in headlines.HEADLINES.items():
        slots = {s.upper() for form in forms for s in headlines.re.findall(r"\{(\w+)\}", form)}
        for phrasing in headlines.FACTS[event]:
            assert slots <= set(headlines.re.findall(r"\{(\w+)\}", phrasing)), phrasing


def test_detokenize_inverts_tokenize(splits):
    texts = [t for r in splits.val for t in (*r.sentences, r.headline)]
    assert all(headlines.detokenize(headlines.tokenize(t)) == t for t in texts)
    assert headlines.tokenize("$48 billion") == ["$", "4", "8", "billion"]


def test_anonymize_and_restore_are_inverse(splits):
    for report in splits.val:
        hidden = headlines.anonymize(report.text, report.entities)
        assert not any(name in hidden for name in report.entities)
        assert headlines.restore(hidden, report.entities) == report.text
    assert headlines.restore("<e5> wins", ["A"]) == "<e5> wins"  # no name: left as it is


def test_vocab_encodes_unknown_tokens_and_decodes_to_text():
    vocab = headlines.Vocab.from_texts(["Holt Group buys Lee Bank for $47 billion"])
    ids = vocab.encode("Marsh Group buys Lee Bank for $74 billion")
    assert ids[0] == headlines.UNK_ID
    assert vocab.decode(ids) == "<unk> Group buys Lee Bank for $74 billion"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([len(vocab)])
    with pytest.raises(ValueError, match="empty"):
        headlines.Vocab.from_texts([])


def test_unsupported_finds_made_up_numbers_names_and_unk():
    report = "Holt Group will pay 74 billion dollars for Lee Bank, which employs 4700 people."
    assert headlines.unsupported("Holt Group buys Lee Bank for $74 billion", report) == []
    assert headlines.unsupported("Holt Group buys Lee Bank for $47 billion", report) == ["47"]
    assert headlines.unsupported("Marsh Group buys <unk> Bank", report) == ["Marsh", "<unk>"]
    assert headlines.unsupported("<e1> buys Lee Bank", report) == ["<e1>"]  # no name to restore


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_val"):
        headlines.make_splits(10, 0, 5)
    with pytest.raises(ValueError, match="k"):
        headlines.lead(headlines.make_splits(5, 5, 5).train[0], 0)
    with pytest.raises(ValueError, match="as many candidates"):
        summaries.rouge_f(["a"], ["a", "b"])
    with pytest.raises(TypeError, match="lists of strings"):
        summaries.rouge_f("a b", "a b")


def test_rouge_f_is_rouge_score_and_the_interval_holds_the_mean():
    candidates = ["Holt Group buys Lee Bank", "storm cuts power", "Ann Lee resigns", "a b c"]
    references = ["Holt Group to buy Lee Bank", "Storm leaves homes without power",
                  "Ann Lee quits", "d e f"]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    got = summaries.rouge_f(candidates, references)
    for i, (c, r) in enumerate(zip(candidates, references)):
        score = scorer.score(r, c)
        for kind in summaries.ROUGE_TYPES:
            assert got[kind][i] == pytest.approx(score[kind].fmeasure)
    table = summaries.rouge_with_intervals(candidates, references, n_resamples=200)
    for mean, low, high in table.values():
        assert low <= mean <= high
    assert summaries.format_interval(57.31, 54.1, 60.2) == "57.3 [54.1, 60.2]"
