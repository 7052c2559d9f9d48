"""The generated SMS messages: sizes, imbalance, and splits by template and vocabulary."""

import re

import pytest

from transformer_lib.data import sms


@pytest.fixture(scope="module")
def parts():
    return sms.splits()


def test_sizes_and_about_one_spam_in_seven(parts):
    assert [len(parts[p]) for p in ("train", "validation", "test")] == [1500, 300, 560]
    for messages in parts.values():
        assert sum(m.label for m in messages) == round(len(messages) / 7)


def _pattern(template):
    pieces = re.split(r"\{[A-Za-z]+\}", template)
    return re.compile(".+?".join(re.escape(p) for p in pieces) + r"\Z", re.DOTALL)


def test_parts_use_disjoint_templates(parts):
    bounds = {"train": (0, 0), "validation": sms.PARTS["train"], "test": sms.PARTS["validation"]}
    for part, messages in parts.items():
        (spam_start, ham_start), (spam_end, ham_end) = bounds[part], sms.PARTS[part]
        for message in messages[:80]:
            templates = sms.SPAM if message.label else sms.HAM
            found = [i for i, t in enumerate(templates) if _pattern(t).match(message.text)]
            start, end = (spam_start, spam_end) if message.label else (ham_start, ham_end)
            assert found and all(start <= i < end for i in found), message.text


def test_held_out_spellings_and_prizes_only_outside_training(parts):
    held_out = {w for _, (_, later) in sms.DISGUISES.items() for w in later}
    train_text = " ".join(m.text for m in parts["train"])
    assert not [w for w in held_out if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", train_text)]
    test_text = " ".join(m.text for m in parts["test"] if m.label)
    assert sum(w in test_text for w in held_out) >= 5


def test_spam_has_its_markers_and_ham_borrows_some(parts):
    spam = [m.text for m in parts["train"] if m.label]
    ham = [m.text for m in parts["train"] if not m.label]
    assert all(re.search(r"\d", text) or "www." in text for text in spam)
    assert any("free" in text.lower() for text in ham) and any("won" in text for text in ham)


def test_same_seed_same_messages_and_bad_arguments():
    assert sms.splits(70, 14, 14, seed=1) == sms.splits(70, 14, 14, seed=1)
    with pytest.raises(ValueError, match="spam_share"):
        sms.splits(spam_share=1.5)
    with pytest.raises(ValueError, match="n_test"):
        sms.splits(n_test=3)


def test_messages_do_not_change_with_the_clock(monkeypatch):
    """faker's days of the week are drawn up to *now* unless told otherwise: without a fixed end
    the messages, and every model trained on them, changed from one run to the next."""
    import faker.providers.date_time as faker_dates

    today = sms.splits(140, 70, 70)

    class LaterClock(faker_dates.datetime):
        @classmethod
        def now(cls, tz=None):
            return faker_dates.datetime(2090, 6, 1, tzinfo=tz)

    monkeypatch.setattr(faker_dates, "datetime", LaterClock)
    assert sms.splits(140, 70, 70) == today
    assert any(re.search(r"\b(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b", m.text)
               for m in today["test"])  # weekdays are in the messages
