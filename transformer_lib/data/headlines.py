"""News reports and their headlines, generated from templates: the data of chapter 15.

Each report tells one event (a company buys another, a team wins a match, a storm cuts the power,
a minister resigns, a product is recalled) in three to five sentences: the sentence that states
the event, two or three sentences of detail (quotes, other numbers, dates) and, in some reports,
a sentence of background *before* it, so the first sentence is not always the one that matters.
The headline says the event in other words ("agreed to buy ... for 3 billion dollars" becomes
"Holt Group buys Marsh Foods for $3 billion"), in one of two forms.

The splits never share a phrasing of the event sentence (``template``: training reports use four
phrasings of each event, validation a fifth and test a sixth) nor a name: every person, company,
town and team of a split is built from name words (faker's en_US first and last names) that no
other split uses, as news is about names no model saw in training. The detail and background
sentences come from one pool shared by the splits.

``tokenize`` cuts words, single digits and punctuation (so any number is made of ten digit
tokens); ``detokenize`` rebuilds the text. ``anonymize`` replaces each name of a report by a
placeholder ``<e0>``, ``<e1>``, ... in order of first appearance, the way the CNN/Daily Mail
reading data hid its entities (Hermann et al., 2015); ``restore`` puts the names back.

See: notebooks/15_summarization.ipynb
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from transformer_lib import _validate
from transformer_lib.data import number_words

UNK_ID = number_words.UNK_ID  # <unk>, as in chapter 8
EVENTS = ("acquisition", "match", "storm", "resignation", "recall")
SPLIT_TEMPLATES = {"train": (0, 1, 2, 3), "val": (4,), "test": (5,)}  # event phrasings per split

# Six phrasings of each event's sentence (split as SPLIT_TEMPLATES says), two headline forms,
# detail sentences and background sentences. Names in slots: BUYER TARGET COMPANY (companies),
# PERSON PM (people), CITY (towns), WINNER LOSER (teams).
FACTS = {
    "acquisition": (
        "{BUYER} has agreed to buy {TARGET} for {AMOUNT} {UNIT} dollars.",
        "{BUYER} said on {DAY} that it would acquire {TARGET} in a deal worth {AMOUNT} {UNIT} "
        "dollars.",
        "{TARGET} is to be taken over by {BUYER}, which will pay {AMOUNT} {UNIT} dollars.",
        "Shareholders of {TARGET} accepted an offer of {AMOUNT} {UNIT} dollars from {BUYER} on "
        "{DAY}.",
        "{BUYER} will pay {AMOUNT} {UNIT} dollars to take control of {TARGET}, the two companies "
        "announced on {DAY}.",
        "In a deal worth {AMOUNT} {UNIT} dollars, {BUYER} is buying its smaller rival {TARGET}.",
    ),
    "match": (
        "{WINNER} beat {LOSER} {WS}-{LS} on {DAY}.",
        "{LOSER} lost {LS}-{WS} to {WINNER} on {DAY} afternoon.",
        "A late goal from {PERSON} gave {WINNER} a {WS}-{LS} win over {LOSER}.",
        "{WINNER} won {WS}-{LS} against {LOSER}, their third win in a row.",
        "It finished {WS}-{LS} to {WINNER} after {LOSER} had led at half time.",
        "{LOSER} were beaten {WS}-{LS} by {WINNER} on {DAY} night.",
    ),
    "storm": (
        "A storm hit {CITY} on {DAY}, leaving {HOMES} homes without power.",
        "{HOMES} homes in {CITY} lost power when a storm swept through the town on {DAY}.",
        "A storm with winds of {SPEED} kilometres an hour cut the power to {HOMES} homes in "
        "{CITY}.",
        "Power lines came down across {CITY} in a storm on {DAY} night, and {HOMES} homes were "
        "still without electricity this morning.",
        "The storm that reached {CITY} on {DAY} left {HOMES} homes in the dark.",
        "Some {HOMES} homes had no power on {DAY} after a violent storm struck {CITY}.",
    ),
    "resignation": (
        "{PERSON}, the {PORTFOLIO} minister, resigned on {DAY}.",
        "{PERSON} stepped down as {PORTFOLIO} minister on {DAY} after {REASON}.",
        "The government lost its {PORTFOLIO} minister on {DAY} when {PERSON} quit.",
        "{PERSON} has left the post of {PORTFOLIO} minister, the office of the prime minister "
        "said on {DAY}.",
        "After {YEARS} years in the job, {PERSON} is no longer {PORTFOLIO} minister.",
        "{PERSON} handed in a letter of resignation as {PORTFOLIO} minister on {DAY}.",
    ),
    "recall": (
        "{COMPANY} is recalling {COUNT} {PRODUCT} because of a faulty {PART}.",
        "{COMPANY} said on {DAY} that it would recall {COUNT} of its {PRODUCT} with a faulty "
        "{PART}.",
        "A faulty {PART} has forced {COMPANY} to call back {COUNT} {PRODUCT}.",
        "{COUNT} {PRODUCT} made by {COMPANY} are being recalled after problems with the {PART}.",
        "Owners of {COUNT} {PRODUCT} from {COMPANY} have been asked to return them because the "
        "{PART} can fail.",
        "{COMPANY} will take back {COUNT} {PRODUCT} with a faulty {PART}, it said on {DAY}.",
    ),
}
HEADLINES = {
    "acquisition": ("{BUYER} buys {TARGET} for ${AMOUNT} {UNIT}",
                    "{BUYER} to buy {TARGET} in ${AMOUNT} {UNIT} deal"),
    "match": ("{WINNER} beat {LOSER} {WS}-{LS}", "{WINNER} win {WS}-{LS} against {LOSER}"),
    "storm": ("Storm leaves {HOMES} homes without power in {CITY}",
              "{CITY} storm cuts power to {HOMES} homes"),
    "resignation": ("{Portfolio} minister {PERSON} resigns",
                    "{PERSON} quits as {PORTFOLIO} minister"),
    "recall": ("{COMPANY} recalls {COUNT} {PRODUCT}",
               "{COMPANY} recalls {COUNT} {PRODUCT} over faulty {PART}"),
}
DETAILS = {
    "acquisition": (
        "{TARGET} employs {JOBS} people, most of them in {CITY}.",
        '"This is a great day for both companies," said {PERSON}, the chief executive of '
        "{BUYER}.",
        "The deal is expected to close in {MONTH}.",
        "Shares of {TARGET} rose by {PERCENT} percent.",
    ),
    "match": (
        "{PERSON} scored twice in the first half.",
        "The crowd of {CROWD} was the largest of the season.",
        '"We played well for {MINUTES} minutes," said {PM}, the coach of {LOSER}.',
        "{WINNER} are now {PLACE} points clear at the top of the table.",
    ),
    "storm": (
        "Winds reached {SPEED} kilometres an hour.",
        '"We have never seen anything like it," said {PERSON}, the mayor of {CITY}.',
        "Schools will stay closed until {DAY2}.",
        "Engineers expect to restore power within {HOURS} hours.",
    ),
    "resignation": (
        "{PM}, the prime minister, will name a successor by {DAY2}.",
        "The opposition had called for the resignation for {WEEKS} weeks.",
        '"It was the right decision," said {PM}, a member of parliament.',
        "{PERSON} had been {PORTFOLIO} minister since {MONTH} {YEAR}.",
    ),
    "recall": (
        "No injuries have been reported.",
        "The {PRODUCT} were sold between {MONTH} and {MONTH2}.",
        '"Safety comes first," said {PERSON}, a spokesperson for {COMPANY}.',
        "Customers who return them will get a full refund within {DAYS} days.",
    ),
}
OPENERS = {
    "acquisition": ("It had been rumoured for weeks.", "Shares of {TARGET} jumped on {DAY}."),
    "match": ("The rain stopped just before kick off.", "{PERSON} was back in the team."),
    "storm": ("The warning came too late.", "Trees fell across the roads of {CITY}."),
    "resignation": ("The pressure had been growing for weeks.",
                    "{PM} called a meeting late on {DAY2}."),
    "recall": ("The first complaints came in {MONTH}.", "It is the second recall this year."),
}
WORDS = {
    "DAY": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "MONTH": ("January", "February", "March", "April", "June", "July", "August", "September",
              "October", "November", "December"),
    "UNIT": ("million", "billion"),
    "PORTFOLIO": ("finance", "health", "defence", "education", "transport", "energy", "justice",
                  "agriculture"),
    "REASON": ("a row over the budget", "a scandal over expenses", "weeks of criticism",
               "a dispute with the prime minister"),
    "PRODUCT": ("cars", "phones", "washing machines", "toys", "laptops", "bicycles", "heaters",
                "kettles"),
    "PART": ("battery", "brake", "switch", "cable", "door", "valve"),
}
COMPANY_WORDS = ("Group", "Foods", "Motors", "Industries", "Systems", "Energy", "Bank", "Media")
TOWN_ENDINGS = ("ville", "ton", "field", "port", "bury", "ford")
TEAM_WORDS = ("United", "Rovers", "Athletic", "Wanderers", "City", "Town")
NAME_SLOTS = ("BUYER", "TARGET", "COMPANY", "PERSON", "PM", "CITY", "WINNER", "LOSER")

_TOKEN = re.compile(r"<e\d+>|\d|[A-Za-z]+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Words, single digits, punctuation marks and placeholders: ``"$48 billion"`` ->
    ``["$", "4", "8", "billion"]``."""
    return _TOKEN.findall(text)


def detokenize(tokens: Sequence[str]) -> str:
    """The inverse of ``tokenize`` on the texts of this module: digits join into numbers, no
    space after ``$`` or an opening quote, none around ``-``, none before ``. , ? ! : ;``."""
    text, quote_open = "", False
    for token in tokens:
        glue = (not text or text[-1] in "$-" or token in ".,?!:;-"
                or (text[-1].isdigit() and token.isdigit())
                or (text[-1] == '"' and quote_open) or (token == '"' and quote_open))
        if token == '"':
            quote_open = not quote_open
        text += token if glue else " " + token
    return text


@dataclass(frozen=True)
class Report:
    """One generated report: its sentences, headline, names and where it came from.

    ``entities`` lists the report's names (people, companies, towns, teams) in order of first
    appearance in the text; ``template`` is the phrasing of the event sentence (0 to 5) and
    ``event_position`` its place among the sentences (0: first, 1: after a background sentence).
    """

    sentences: tuple[str, ...]
    headline: str
    entities: tuple[str, ...]
    event: str
    template: int
    event_position: int

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass(frozen=True)
class HeadlineSplits:
    """Training, validation and test reports: no shared event phrasing, no shared name."""

    train: list[Report]
    val: list[Report]
    test: list[Report]


def _name_pools(seed: int) -> dict[str, tuple[list[str], list[str]]]:
    """Disjoint (first names, last names) for train, val and test, 60/20/20 of faker's words,
    leaving out words the templates use (a last name "May" would be a month too)."""
    from faker.providers.person.en_US import Provider

    used = {token for table in (FACTS, DETAILS, OPENERS, HEADLINES) for texts in table.values()
            for text in texts for token in tokenize(text)}
    used |= {token for words in WORDS.values() for w in words for token in tokenize(w)}
    first, last = set(Provider.first_names), set(Provider.last_names)
    words = sorted(w for w in first | last if w.isalpha() and w not in used)
    random.Random(seed).shuffle(words)
    cut = [0, int(0.6 * len(words)), int(0.8 * len(words)), len(words)]
    pools = {}
    for name, (start, end) in zip(("train", "val", "test"), zip(cut, cut[1:])):
        part = sorted(words[start:end])
        pools[name] = ([w for w in part if w in first], [w for w in part if w in last])
    return pools


def _fill_names(rng: random.Random, first: list[str], last: list[str]) -> dict[str, str]:
    def company():
        return f"{rng.choice(last)} {rng.choice(COMPANY_WORDS)}"

    def person():
        return f"{rng.choice(first)} {rng.choice(last)}"

    town = f"{rng.choice(last)}{rng.choice(TOWN_ENDINGS)}"
    teams = [f"{rng.choice(last)}{rng.choice(TOWN_ENDINGS)} {rng.choice(TEAM_WORDS)}"
             for _ in range(2)]
    names = {"BUYER": company(), "TARGET": company(), "COMPANY": company(), "PERSON": person(),
             "PM": person(), "CITY": town, "WINNER": teams[0], "LOSER": teams[1]}
    if (names["TARGET"] == names["BUYER"] or names["PM"] == names["PERSON"]
            or teams[0].split()[0] == teams[1].split()[0]):
        return _fill_names(rng, first, last)  # two different names where two are needed
    return names


def _fill_values(rng: random.Random) -> dict[str, str]:
    values = {slot: rng.choice(words) for slot, words in WORDS.items()}
    ws = rng.randint(1, 5)
    day2, month2 = rng.sample(WORDS["DAY"], 2), rng.sample(WORDS["MONTH"], 2)
    values.update(
        DAY=day2[0], DAY2=day2[1], MONTH=month2[0], MONTH2=month2[1],
        Portfolio=values["PORTFOLIO"].capitalize(),
        AMOUNT=str(rng.randint(2, 95)), WS=str(ws), LS=str(rng.randint(0, ws - 1)),
        HOMES=str(rng.randint(12, 900) * 100), SPEED=str(rng.randint(8, 19) * 10),
        COUNT=str(rng.randint(2, 400) * 500), JOBS=str(rng.randint(3, 90) * 100),
        PERCENT=str(rng.randint(3, 40)), CROWD=str(rng.randint(40, 600) * 100),
        MINUTES=str(rng.randint(6, 8) * 10), PLACE=str(rng.randint(2, 9)),
        HOURS=str(rng.choice((12, 24, 36, 48, 72))), WEEKS=str(rng.randint(2, 9)),
        YEAR=str(rng.randint(2015, 2025)), YEARS=str(rng.randint(2, 9)),
        DAYS=str(rng.choice((14, 30, 60))),
    )
    return values


def _make_report(rng: random.Random, event: str, template: int, first: list[str],
                 last: list[str]) -> Report:
    slots = {**_fill_values(rng), **_fill_names(rng, first, last)}
    details = rng.sample(DETAILS[event], 2)
    sentences = [FACTS[event][template], *details]
    position = int(rng.random() < 0.4)  # 1: a background sentence first, the event second
    if position:
        sentences.insert(0, rng.choice(OPENERS[event]))
    used = {slot for template in sentences for slot in re.findall(r"\{(\w+)\}", template)}
    sentences = [s.format(**slots) for s in sentences]
    headline = rng.choice(HEADLINES[event]).format(**slots)
    text = " ".join(sentences)
    # the names of the slots used, by first appearance (a name inside a longer one, a town in a
    # team's name, is not one of them unless its own slot is used)
    names = sorted({slots[s] for s in NAME_SLOTS if s in used}, key=lambda n: (text.index(n), n))
    return Report(tuple(sentences), headline, tuple(names), event, template, position)


def make_splits(n_train: int, n_val: int, n_test: int, seed: int = 0) -> HeadlineSplits:
    """Reports for the three splits, the events in turn, the phrasings and names of each split.

    The same seed gives the same reports on every run.
    """
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        _validate.positive_int(name, n)
    pools = _name_pools(seed)
    rng = random.Random(seed)
    out = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        first, last = pools[split]
        out[split] = [_make_report(rng, EVENTS[i % len(EVENTS)],
                                   rng.choice(SPLIT_TEMPLATES[split]), first, last)
                      for i in range(n)]
    return HeadlineSplits(**out)


def anonymize(text: str, entities: Sequence[str]) -> str:
    """Replace ``entities[i]`` by ``<ei>`` in ``text`` (longest names first: a team's name holds
    its town's)."""
    for i in sorted(range(len(entities)), key=lambda i: -len(entities[i])):
        text = text.replace(entities[i], f"<e{i}>")
    return text


def restore(text: str, entities: Sequence[str]) -> str:
    """Put the names back: ``<ei>`` -> ``entities[i]``; a placeholder with no name stays."""
    return re.sub(r"<e(\d+)>", lambda m: entities[int(m[1])] if int(m[1]) < len(entities)
                  else m[0], text)


class Vocab(number_words.WordVocab):
    """Chapter 8's ``WordVocab`` (``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3, then the
    training texts' tokens in order of first appearance) with this module's tokenizer, which keeps
    capitals, numbers and currency signs."""

    tokenize = staticmethod(tokenize)
    detokenize = staticmethod(detokenize)


def lead(report: Report, k: int = 1) -> str:
    """The lead-k baseline: the report's first ``k`` sentences."""
    _validate.positive_int("k", k)
    return " ".join(report.sentences[:k])


NUMBER = re.compile(r"\d+")


def unsupported(headline: str, report: str) -> list[str]:
    """The numbers and capitalized words of ``headline`` that ``report`` does not contain (in any
    case), each ``<unk>`` and each placeholder left without a name (``<e3>``): a headline with
    none is *faithful* to its report, in this narrow sense (it may still put the right names in
    the wrong roles)."""
    words = {word.lower() for word in re.findall(r"\w+", report)}
    return [t for t in re.findall(r"<unk>|<e\d+>|\w+", headline) if t.startswith("<")
            or ((NUMBER.fullmatch(t) or t[0].isupper()) and t.lower() not in words)]
