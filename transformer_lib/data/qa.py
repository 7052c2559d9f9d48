"""Questions about generated paragraphs, each answered by a span of its paragraph (SQuAD-style).

A paragraph is a few sentences filled from templates with ``faker``'s people, places, companies and
dates (``entities.EntityFiller``, chapter 11). Each template states *facts*: relations between a
subject (a person or a company) and another entity, e.g. ``{per} was born in {birthplace} on
{birthday}.``; some slots (``{LOC}``, ``{PER}``, ...) hold entities that answer no question. A
question asks for one fact of one subject, from a per-relation question template, and its answer
is that entity's characters in the paragraph. Every paragraph holds at least two entities of the
answer's type, so the type alone does not find the answer: the relation and the subject do.

Training, validation and test examples use disjoint sets of context templates *and* of question
templates, so the two held-out sets measure sentence and question shapes never seen in training.

See: notebooks/14_question_answering.ipynb
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from transformer_lib import _validate
from transformer_lib.data.entities import EntityFiller

# relation -> (the subject's type, the answer's type)
RELATIONS = {
    "birthplace": ("PER", "LOC"), "home": ("PER", "LOC"), "employer": ("PER", "ORG"),
    "birthday": ("PER", "DATE"), "start": ("PER", "DATE"), "founder": ("ORG", "PER"),
    "headquarters": ("ORG", "LOC"), "founding": ("ORG", "DATE"),
}
# {per} / {org}: the subject; {relation}: an answer; {PER}, {LOC}, {ORG}, {DATE}: no answer.
CONTEXT_TEMPLATES = (
    "{per} was born in {birthplace} on {birthday}.",
    "{per} was born on {birthday} in {birthplace}.",
    "Born in {birthplace}, {per} moved to {home} on {DATE}.",
    "{per} has lived in {home} since {DATE}.",
    "{per} works for {employer}, which has an office in {LOC}.",
    "{per} joined {employer} on {start}.",
    "On {start}, {per} started a new job at {employer}.",
    "{per}, who lives in {home}, was born on {birthday}.",
    "{per} left {ORG} and joined {employer} on {start}.",
    "{per} was born in {birthplace} but now lives in {home}.",
    "Since {start}, {per} has been working for {employer}.",
    "{per}, born on {birthday}, lives in {home} and works for {employer}.",
    "{per} left {birthplace}, the town of their birth, for {home} on {DATE}.",
    "The new engineer at {employer}, {per}, was hired on {start}.",
    "{per} met {PER} in {LOC} on {DATE}.",
    "{per} visited {LOC} before moving to {home}.",
    "{org} was founded by {founder} on {founding}.",
    "{org}, which {founder} founded on {founding}, is based in {headquarters}.",
    "{founder} founded {org} on {founding}.",
    "{org} has its headquarters in {headquarters}.",
    "{org} moved its headquarters from {LOC} to {headquarters}.",
    "Founded on {founding} by {founder}, {org} is based in {headquarters}.",
    "{org} opened an office in {LOC} on {DATE}.",
    "{PER} bought shares of {org}, which is based in {headquarters}.",
    "The headquarters of {org} are in {headquarters}, and its founder is {founder}.",
    "{org}, based in {headquarters}, hired {PER} on {DATE}.",
)
# Per relation: two training templates, then one for validation and one for the test.
QUESTION_TEMPLATES = {
    "birthplace": ("Where was {per} born?", "What is the birthplace of {per}?",
                   "In which place was {per} born?", "Where does {per} come from?"),
    "home": ("Where does {per} live?", "Where is the home of {per}?",
             "Which place does {per} live in?", "Where does {per} live now?"),
    "employer": ("Who does {per} work for?", "Which company employs {per}?",
                 "Who is the employer of {per}?", "Where does {per} work?"),
    "birthday": ("When was {per} born?", "What is the date of birth of {per}?",
                 "On what date was {per} born?", "What is the birthday of {per}?"),
    "start": ("When did {per} join {employer}?", "Since when has {per} worked for {employer}?",
              "When was {per} hired by {employer}?", "On what date did {per} start at {employer}?"),
    "founder": ("Who founded {org}?", "Who is the founder of {org}?",
                "Which person started {org}?", "By whom was {org} founded?"),
    "headquarters": ("Where is {org} based?", "Where are the headquarters of {org}?",
                     "In which city is {org} located?", "Where does {org} have its headquarters?"),
    "founding": ("When was {org} founded?", "On what date was {org} founded?",
                 "When did {org} come into being?", "What is the founding date of {org}?"),
}
SPLITS = ("train", "valid", "test")
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class QAExample:
    """One question about one paragraph, and where its answer starts in the paragraph.

    ``entities`` holds every entity of the paragraph as ``(start, end, type)`` character offsets
    (end excluded); ``relation`` and ``answer_type`` say what was asked; ``context_templates`` and
    ``question_template`` (its index in ``QUESTION_TEMPLATES[relation]``) where it came from.
    """

    question: str
    context: str
    answer_start: int
    answer_text: str
    relation: str
    answer_type: str
    entities: tuple[tuple[int, int, str], ...]
    context_templates: tuple[int, ...]
    question_template: int


def _fill(template: str, filler: EntityFiller, text: str, entities: list,
          facts: dict) -> tuple[str, str | None]:
    """``text`` followed by ``template`` filled, and the sentence's subject; its entities and
    facts are appended to ``entities`` and ``facts`` (subject -> relation -> [(start, value)])."""
    position, found, subject = 0, {}, None
    for slot in _SLOT.finditer(template):
        text += template[position:slot.start()]
        name = slot.group(1)
        kind = name.upper() if name in ("per", "org") else RELATIONS.get(name, ("", name))[1]
        value = filler.value(kind)
        subject = value if name in ("per", "org") else subject
        if name in RELATIONS:
            found[name] = (len(text), value)
        entities.append((len(text), len(text) + len(value), kind))
        text += value
        position = slot.end()
    for relation, fact in found.items():
        facts.setdefault(subject, {}).setdefault(relation, []).append(fact)
    return text + template[position:], subject


def make_example(context_ids, question_ids, filler: EntityFiller, rng: random.Random,
                 n_sentences: int = 3) -> QAExample:
    """One paragraph of ``n_sentences`` sentences from the templates ``context_ids`` and one
    question about it from the question templates ``question_ids`` (indices 0-3).

    The relation is drawn first (uniformly among those the templates state), then one sentence
    that states it and ``n_sentences - 1`` others, in a random order. Drawn again until the
    asked subject's name is nowhere else in the paragraph, the asked relation has one value for
    it, and the paragraph holds two or more entities of the answer's type."""
    stated = sorted({r for t in context_ids for r in _SLOT.findall(CONTEXT_TEMPLATES[t])
                     if r in RELATIONS})
    while True:
        relation = rng.choice(stated)
        stating = [t for t in context_ids if "{" + relation + "}" in CONTEXT_TEMPLATES[t]]
        templates = [rng.choice(stating)] + [rng.choice(context_ids) for _ in
                                             range(n_sentences - 1)]
        asked = rng.randrange(n_sentences)
        templates[0], templates[asked] = templates[asked], templates[0]
        text, entities, facts = "", [], {}
        for k, t in enumerate(templates):
            text, subject = _fill(CONTEXT_TEMPLATES[t], filler, text + " " * (k > 0), entities,
                                  facts)
            if k == asked:
                asked_subject = subject
        mentions = sum(text[a:b] == asked_subject for a, b, _ in entities)
        answer_type = RELATIONS[relation][1]
        if (len(facts[asked_subject][relation]) > 1 or text.count(asked_subject) != mentions
                or sum(kind == answer_type for _, _, kind in entities) < 2):
            continue
        start, value = facts[asked_subject][relation][0]
        employer = facts[asked_subject].get("employer", [(0, "")])[0][1]
        kind = RELATIONS[relation][0].lower()
        q = rng.choice(question_ids)
        question = QUESTION_TEMPLATES[relation][q].format(**{kind: asked_subject,
                                                              "employer": employer})
        return QAExample(question, text, start, value, relation, answer_type, tuple(entities),
                         tuple(templates), q)


def split_templates(seed: int = 0) -> dict[str, tuple[int, ...]]:
    """Context template ids per split (16 / 5 / 5): drawn with ``random.Random(seed)``, drawn
    again until each split's templates state every relation."""
    rng = random.Random(seed)
    ids = list(range(len(CONTEXT_TEMPLATES)))
    while True:
        rng.shuffle(ids)
        split = {"test": tuple(sorted(ids[:5])), "valid": tuple(sorted(ids[5:10])),
                 "train": tuple(sorted(ids[10:]))}
        if all(set(RELATIONS) <= {s for t in split[k] for s in _SLOT.findall(
                CONTEXT_TEMPLATES[t])} for k in SPLITS):
            return split


@dataclass
class QAData:
    """Training, validation and test questions, from disjoint context and question templates."""

    train: list[QAExample]
    valid: list[QAExample]
    test: list[QAExample]
    context_templates: dict[str, tuple[int, ...]]
    question_templates: dict[str, tuple[int, ...]]


def qa_splits(n_train: int, n_valid: int, n_test: int, seed: int = 0,
              n_sentences: int = 3) -> QAData:
    """``n_train``, ``n_valid`` and ``n_test`` examples. Context templates split by
    ``split_templates(seed)``; question templates 0-1 train, 2 validation, 3 test; each split has
    its own seeded filler, so the test set does not depend on ``n_train`` or ``n_valid``.
    Each paragraph has ``n_sentences`` sentences."""
    for name, value in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test),
                        ("n_sentences", n_sentences)):
        _validate.positive_int(name, value)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    contexts = split_templates(seed)
    questions = {"train": (0, 1), "valid": (2,), "test": (3,)}
    out = {}
    for k, (split, n) in enumerate(zip(SPLITS, (n_train, n_valid, n_test))):
        filler, rng = EntityFiller(3 * seed + k), random.Random(1000 + 3 * seed + k)
        out[split] = [make_example(contexts[split], questions[split], filler, rng, n_sentences)
                      for _ in range(n)]
    return QAData(out["train"], out["valid"], out["test"], contexts, questions)
