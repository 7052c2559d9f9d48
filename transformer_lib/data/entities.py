"""Sentences with named entities, generated from templates and filled with ``faker``'s values.

Each template is an English sentence with slots for people (PER), places (LOC), organizations
(ORG) and dates (DATE). Filling the slots with faker's names, cities and companies gives
sentences whose entity tags are known exactly. Tags follow the BIO scheme (IOB2): ``B-X`` on the
first token of an entity of type X, ``I-X`` on its other tokens, ``O`` elsewhere.

Training, validation and test sentences come from *different* templates, so validation and test
measure how well a tagger handles sentence shapes it has never seen. ``data/tagging.py`` turns the
sentences into tensors; ``data/spans.py`` reads entities back from tags and scores them.

See: notebooks/11_named_entities.ipynb
"""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from transformer_lib import _validate

ENTITY_TYPES = ("PER", "LOC", "ORG", "DATE")
# faker draws dates from 1970 to *now* unless given an end: the DATEs here and the days of
# data/sms.py use this one, so that the data do not change with the clock
DATES_END = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
TAGS = ("O", *(f"{p}-{t}" for t in ENTITY_TYPES for p in "BI"))

# No ORG or LOC slot sits next to "and": "Smith, Jones and Brown" is one organization and
# "Trinidad and Tobago" one country, so "{ORG} and {PER}" would be ambiguous even to a human.
# The last templates have no entity at all.
TEMPLATES = (
    "{PER} was born in {LOC} on {DATE}.",
    "{PER} joined {ORG} in {DATE}.",
    "{PER} met {PER} at the {ORG} headquarters.",
    "{PER}, the director of {ORG}, resigned on {DATE}.",
    "{PER} wrote to {PER} from {LOC}.",
    "{PER} sold the house in {LOC} to {ORG}.",
    "{PER} thinks that {ORG} is moving to {LOC}.",
    "{PER} spoke at a conference in {LOC} about {ORG}.",
    "{PER} will take over from {PER} on {DATE}.",
    "{PER} has lived in {LOC} since {DATE}.",
    "{PER} left {ORG} after ten years.",
    "{PER} is the new chief executive of {ORG}.",
    "{PER} told reporters in {LOC} that the deal was off.",
    "{PER} flew back from {LOC} on {DATE}.",
    "{ORG} opened a new office in {LOC}.",
    "{ORG} announced on {DATE} that {PER} would lead the team.",
    "{ORG} bought {ORG} for two billion dollars.",
    "{ORG} hired {PER} as its new lawyer.",
    "{ORG} will close its factory in {LOC} on {DATE}.",
    "{ORG} was founded by {PER} in {LOC}.",
    "{ORG} has sued {ORG} over a patent.",
    "{ORG} moved its headquarters to {LOC}.",
    "{LOC} hosted the annual meeting of {ORG}.",
    "{LOC} signed a trade agreement with {LOC} on {DATE}.",
    "{LOC} is famous for its old harbour.",
    "{LOC} welcomed {PER} with a parade.",
    "{LOC} will hold elections on {DATE}.",
    "{DATE} was the day {PER} arrived in {LOC}.",
    "{DATE} marked the end of the strike at {ORG}.",
    "On {DATE}, {PER} flew from {LOC} to {LOC}.",
    "The contract with {ORG} was signed on {DATE} in {LOC}.",
    "According to {PER}, {ORG} will hire fifty engineers.",
    "Yesterday {PER} said that the shipment to {LOC} was late.",
    "Since {DATE}, {PER} has worked for {ORG} in {LOC}.",
    "The mayor of {LOC} thanked {PER} for the donation.",
    "Shares of {ORG} fell sharply on {DATE}.",
    "A storm hit {LOC} on {DATE}.",
    "We will visit {LOC} with {PER} next week.",
    "Did {PER} really leave {ORG}?",
    "The report from {ORG} reached {LOC} before {DATE}.",
    "In {LOC}, prices rose again after {DATE}.",
    "Nobody at {ORG} expected {PER} to win.",
    "Her flight to {LOC} leaves on {DATE}.",
    "Last spring {PER} visited {ORG} in {LOC}.",
    "The new bridge in {LOC} was opened by {PER}.",
    "Police in {LOC} are looking for {PER}.",
    "Tickets for the concert on {DATE} sold out in an hour.",
    "After {DATE}, the factory in {LOC} will close.",
    "My sister works with {PER} at {ORG}.",
    "The letter was dated {DATE} and signed by {PER}.",
    "Why did {ORG} fire {PER}?",
    "Until {DATE}, {PER} lived near {LOC}.",
    "Engineers from {ORG} arrived in {LOC} last night.",
    "The museum of {LOC} received a painting from {PER}.",
    "A spokesperson for {ORG} declined to comment.",
    "The train from {LOC} was cancelled because of the snow.",
    "Everyone in {LOC} remembers {DATE}.",
    "Thanks to {PER}, the school in {LOC} has a new roof.",
    "It was {PER} who first warned {ORG} about the risk.",
    "Few people know that {PER} grew up in {LOC}.",
    "Between {DATE} and {DATE}, {ORG} doubled its sales.",
    "Several workers at {ORG} in {LOC} went on strike.",
    "Do you remember what happened in {LOC} on {DATE}?",
    "Lawyers for {PER} asked {ORG} for an apology.",
    "When {PER} arrived, the office of {ORG} was empty.",
    "Nothing changed in {LOC} until {DATE}.",
    "Under {PER}, {ORG} grew quickly.",
    "Three trucks left {LOC} for {LOC} early this morning.",
    "Most of the staff of {ORG} voted for {PER}.",
    "Every year the festival brings thousands of visitors to {LOC}.",
    "Nobody expected the storm to last a whole week.",
    "The meeting ended without a decision.",
    "{PER} lost the election in {LOC} by a few votes.",
    "{PER} invited {PER} to the wedding on {DATE}.",
    "{PER} owns a small bakery in {LOC}.",
    "{PER} works for {ORG} as a nurse.",
    "{PER} was arrested in {LOC} on {DATE}.",
    "{PER} apologized to the customers of {ORG}.",
    "{ORG} paid {PER} a large bonus.",
    "{ORG} expects sales to fall in {LOC}.",
    "{ORG} lost the lawsuit on {DATE}.",
    "{ORG} signed a deal with {ORG} on {DATE}.",
    "{LOC} declared independence on {DATE}.",
    "{LOC} beat {LOC} in the final.",
    "{LOC} is home to {ORG}.",
    "{DATE} is the deadline for {ORG}.",
    "{DATE} will be remembered in {LOC} for a long time.",
    "At {ORG}, {PER} runs the research lab.",
    "By {DATE}, the new line from {LOC} to {LOC} should be ready.",
    "For years, {PER} refused to talk about {LOC}.",
    "Last year {ORG} cut jobs in {LOC}.",
    "Once again, {PER} blamed {ORG} for the delay.",
    "Unlike {PER}, {PER} stayed in {LOC}.",
    "On {DATE}, the board of {ORG} met in {LOC}.",
    "As of {DATE}, {ORG} employs two thousand people.",
    "A court in {LOC} fined {ORG} on {DATE}.",
    "An old friend of {PER} lives in {LOC}.",
    "The price of oil in {LOC} doubled after {DATE}.",
    "The son of {PER} studied in {LOC}.",
    "The hospital in {LOC} named a ward after {PER}.",
    "Nobody in {LOC} had heard of {PER} before {DATE}.",
    "Is {PER} still the chair of {ORG}?",
    "Where was {PER} on {DATE}?",
    "How much did {ORG} pay for the land in {LOC}?",
    "Who will replace {PER} at {ORG}?",
    "Reporters waited outside the offices of {ORG} in {LOC}.",
    "Students from {LOC} protested against {ORG}.",
    "Many families left {LOC} after {DATE}.",
    "Our office in {LOC} is closed until {DATE}.",
    "Both {PER} and {PER} denied the story.",
    "The ship sailed from {LOC} on {DATE}.",
    "His brother met {PER} in {LOC}.",
    "She called {PER} from {LOC} on {DATE}.",
    "They sued {ORG} in {LOC}.",
    "Everybody agreed that the plan was a mistake.",
    "Prices went up again last month.",
)

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SLOT = re.compile(r"\{(" + "|".join(ENTITY_TYPES) + r")\}")


def tokenize(text: str) -> list[str]:
    """Words and punctuation marks: ``"Smith-Jones, Inc."`` -> ``Smith - Jones , Inc .``."""
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class TaggedSentence:
    """One generated sentence: its tokens, their BIO tags and the template it came from."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    template: int


class EntityFiller:
    """Entity values for the slots, from a ``faker`` generator seeded with ``seed`` (en_US).

    PER: "first last" or a last name alone; LOC: a (made-up) city, a country or a US state;
    ORG: faker's company names ("Cook Inc", "Wilson-Robinson", "Kent, Ferguson and Becker");
    DATE: "May 18, 1971", "18 May 1971" or "May 1971".
    """

    def __init__(self, seed: int = 0):
        from faker import Faker

        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.rng = random.Random(seed)

    def value(self, kind: str) -> str:
        fake, rng = self.fake, self.rng
        if kind == "PER":
            full = f"{fake.first_name()} {fake.last_name()}"
            return full if rng.random() < 0.7 else fake.last_name()
        if kind == "LOC":
            return rng.choice([fake.city, fake.city, fake.country, fake.state])()
        if kind == "ORG":
            return fake.company()
        if kind == "DATE":
            # faker's month_name() and year() draw a moment up to *now*, so the data would change
            # with the clock; a fixed end keeps every run's sentences the same
            day = rng.randint(1, 28)
            month = fake.date("%B", end_datetime=DATES_END)
            year = fake.date("%Y", end_datetime=DATES_END)
            formats = [f"{month} {day}, {year}", f"{day} {month} {year}", f"{month} {year}"]
            return rng.choice(formats)
        raise ValueError(f"kind={kind!r}; expected one of {ENTITY_TYPES}")


def fill_template(template: str, filler: EntityFiller, template_id: int = -1) -> TaggedSentence:
    """Fill each slot of ``template`` and tag its tokens B-X, I-X, the template's own words O."""
    tokens: list[str] = []
    tags: list[str] = []
    position = 0
    for slot in _SLOT.finditer(template):
        literal = tokenize(template[position : slot.start()])
        entity = tokenize(filler.value(slot.group(1)))
        tokens += literal + entity
        kind = slot.group(1)
        tags += ["O"] * len(literal) + [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
        position = slot.end()
    rest = tokenize(template[position:])
    return TaggedSentence(tuple(tokens + rest), tuple(tags + ["O"] * len(rest)), template_id)


def make_sentences(template_ids: Sequence[int], n: int, seed: int = 0) -> list[TaggedSentence]:
    """``n`` sentences, each from a template drawn uniformly from ``template_ids``."""
    _validate.positive_int("n", n)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    valid = all(isinstance(i, int) and 0 <= i < len(TEMPLATES) for i in template_ids)
    if not template_ids or not valid:
        raise ValueError(f"template_ids={list(template_ids)} must be indices into TEMPLATES "
                         f"(0 to {len(TEMPLATES) - 1}), at least one")
    filler = EntityFiller(seed)
    choose = random.Random(seed + 1)
    ids = list(template_ids)
    return [fill_template(TEMPLATES[i], filler, i) for i in (choose.choice(ids) for _ in range(n))]


@dataclass
class NerData:
    """Train, validation and test sentences, generated from disjoint sets of templates."""

    train: list[TaggedSentence]
    test: list[TaggedSentence]
    train_templates: tuple[int, ...]
    test_templates: tuple[int, ...]
    valid: list[TaggedSentence] = field(default_factory=list)
    valid_templates: tuple[int, ...] = ()


def ner_splits(n_train: int, n_test: int, n_test_templates: int = 12, seed: int = 0,
               n_valid: int = 0, n_valid_templates: int = 0) -> NerData:
    """Sentences from three disjoint sets of templates: to train on, to validate on, to test on.

    The ``n_test_templates`` test templates are drawn with ``random.Random(seed)``; then
    ``n_valid_templates`` of the others with ``random.Random(seed + 1)``; the rest are the
    training templates. The test templates and sentences do not depend on the validation
    arguments. Each set is filled by its own seeded filler (``2 seed``, ``2 seed + 1`` for the
    test, ``seed + 10_000`` for validation). With ``n_valid_templates=0`` there is no validation
    set, and ``n_valid`` must be 0 too.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test),
                        ("n_test_templates", n_test_templates)):
        _validate.positive_int(name, value)
    for name, value in (("seed", seed), ("n_valid", n_valid),
                        ("n_valid_templates", n_valid_templates)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}={value!r} must be a non-negative integer")
    if (n_valid == 0) != (n_valid_templates == 0):
        raise ValueError(f"n_valid={n_valid} and n_valid_templates={n_valid_templates}: "
                         f"expected both positive (a validation set) or both 0 (none)")
    if n_test_templates + n_valid_templates >= len(TEMPLATES):
        raise ValueError(f"n_test_templates={n_test_templates} + n_valid_templates="
                         f"{n_valid_templates} leaves no template to train on "
                         f"(there are {len(TEMPLATES)})")
    drawn = random.Random(seed).sample(range(len(TEMPLATES)), n_test_templates)
    test_templates = tuple(sorted(drawn))
    others = [i for i in range(len(TEMPLATES)) if i not in test_templates]
    valid_templates = tuple(sorted(random.Random(seed + 1).sample(others, n_valid_templates)))
    train_templates = tuple(i for i in others if i not in valid_templates)
    train = make_sentences(train_templates, n_train, seed=2 * seed)
    test = make_sentences(test_templates, n_test, seed=2 * seed + 1)
    valid = make_sentences(valid_templates, n_valid, seed=seed + 10_000) if n_valid else []
    return NerData(train, test, train_templates, test_templates, valid, valid_templates)


def concatenate_pairs(sentences: Sequence[TaggedSentence], fraction: float, seed: int = 0
                      ) -> list[TaggedSentence]:
    """Follow ``fraction`` of the sentences by another random sentence of the same list.

    A training augmentation: the entities then appear at many more positions, so a tagger
    cannot learn "the first word of a sentence is a person". Joined sentences get ``template=-1``.
    """
    _validate.probability("fraction", fraction)
    if not sentences:
        raise ValueError("sentences is empty; expected at least one sentence")
    rng = random.Random(seed)
    out = []
    for sentence in sentences:
        if rng.random() < fraction:
            other = rng.choice(sentences)
            tokens, tags = sentence.tokens + other.tokens, sentence.tags + other.tags
            sentence = TaggedSentence(tokens, tags, -1)
        out.append(sentence)
    return out
