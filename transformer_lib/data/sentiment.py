"""Film and product reviews with a sentiment label, generated from templates, split three ways.

Three kinds (``slice``) of review, as in chapter 12's ``reviews``:

- ``"plain"``: the sentiment is in the words ("The battery of this phone is superb.");
- ``"negation"``: the deciding word is negated ("The acting was not dreadful at all.": positive);
- ``"contrast"``: two clauses of opposite sentiment, one of which decides ("I expected the
  soundtrack to be dull, but it is superb.": positive).

Every template is written once and filled with an adjective of either sentiment, so the words of a
template carry no label: under negation and contrast only the order of the words tells the label,
which a bag of words cannot see. ``splits`` draws train, validation and test reviews from
**disjoint templates** and **disjoint items** (products and films); in validation and test half of
the reviews use sentiment adjectives that no training review contains (``Review.new_word``).

See: notebooks/13_fine_tuning.ipynb
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from transformer_lib.data.reviews import SLICES

__all__ = ["SLICES", "Review", "splits"]


@dataclass(frozen=True)
class Review:
    """One review: text, label (1 positive, 0 negative), kind (``SLICES``), unseen adjective."""

    text: str
    label: int
    slice: str
    new_word: bool


# (item, aspects); the first 12 are training items, the others validation and test items
ITEMS = (("phone", ("battery", "screen", "camera")), ("film", ("acting", "story", "ending")),
         ("hotel", ("room", "breakfast", "staff")), ("laptop", ("keyboard", "screen", "battery")),
         ("novel", ("plot", "ending", "prose")), ("restaurant", ("food", "service", "dessert")),
         ("jacket", ("fabric", "fit", "zipper")), ("series", ("dialogue", "cast", "finale")),
         ("blender", ("motor", "lid", "blades")), ("album", ("vocals", "lyrics", "production")),
         ("tent", ("poles", "zipper", "floor")), ("documentary", ("narration", "pacing", "music")),
         ("headphones", ("sound", "cushions", "cable")), ("thriller", ("plot", "villain", "twist")),
         ("camera", ("lens", "autofocus", "grip")), ("cafe", ("coffee", "cakes", "service")),
         ("musical", ("songs", "choreography", "staging")), ("printer", ("ink", "tray", "speed")))
N_TRAIN_ITEMS = 12
GOOD = ("excellent", "great", "wonderful", "superb", "lovely", "fantastic", "brilliant",
        "impressive", "delightful", "perfect", "solid", "pleasant", "outstanding", "terrific",
        "charming", "enjoyable",  # the first 16: training words; then the held-out words
        "marvellous", "stunning", "splendid", "flawless", "remarkable", "gorgeous", "amazing",
        "awesome")
BAD = ("terrible", "awful", "disappointing", "poor", "dreadful", "mediocre", "useless",
       "annoying", "horrible", "flimsy", "boring", "clumsy", "dull", "tedious", "bland", "weak",
       "atrocious", "shoddy", "abysmal", "pathetic", "lousy", "sloppy", "unbearable", "rubbish")
N_TRAIN_WORDS = 16

# {a}: the deciding adjective, {b}: one of the other sentiment (contrast), {a2}: a second one of a's
# sentiment. Plain and contrast: the label is a's sentiment; negation: its opposite.
TEMPLATES = {  # slice -> templates; per slice the first 6 train, the next 3 validation, 3 test
    "plain": ("The {aspect} of this {item} is {a}.",
              "This {item} is {a}, and the {aspect} is {a2}.",
              "I found the {aspect} {a}.",
              "What a {a} {item}: the {aspect} is {a2} too.",
              "The {item} itself is {a} and so is the {aspect}.",
              "Honestly, the {aspect} was {a}.",
              "A {a} {item} with a {a2} {aspect}.",
              "My verdict on the {item}: {a}.",
              "The {aspect} turned out {a}.",
              "Everyone I know says the {aspect} is {a}.",
              "This is a {a} {item}, and the {aspect} is {a2}.",
              "I think the {aspect} is really {a}."),
    "negation": ("The {aspect} was not {a} at all.",
                 "This {item} is not {a}, not even a little.",
                 "I would never call the {aspect} {a}.",
                 "Nothing about the {aspect} felt {a}.",
                 "The {aspect} of this {item} isn't {a}.",
                 "Nobody could say the {item} is {a}.",
                 "I can't say the {aspect} of this {item} is {a}.",
                 "The {aspect} wasn't {a} in any way.",
                 "No one would call this {item} {a}.",
                 "The {item} is far from {a}.",
                 "I did not find the {aspect} {a}.",
                 "The {aspect} is never {a}, whatever people say."),
    "contrast": ("I expected the {aspect} to be {b}, but it is {a}.",
                 "The {aspect} is {b}, but the {item} as a whole is {a}.",
                 "At first the {item} seemed {b}, but after a week it is {a}.",
                 "The reviews said the {aspect} was {b}, but I found it {a}.",
                 "Although the {aspect} is {b}, the {item} is {a}.",
                 "The {item} is {a}, even if the {aspect} is {b}.",
                 "The {aspect} looked {b} in the pictures, but in real life it is {a}.",
                 "Forget the {b} {aspect}: the {item} is {a}.",
                 "Despite the {b} {aspect}, this {item} is {a}.",
                 "My friends called it {b}, but I think the {item} is {a}.",
                 "The {aspect} may be {b}, yet the {item} is {a}.",
                 "Whatever you hear about the {b} {aspect}, the {item} is {a}."),
}
KINDS = ("plain", "negation", "plain", "contrast")  # the mix of kinds
TEMPLATE_PARTS = {"train": slice(0, 6), "validation": slice(6, 9), "test": slice(9, 12)}


def _review(rng: random.Random, kind: str, label: int, templates, items, words) -> Review:
    good, bad, new = words
    template = rng.choice(templates)
    item, aspects = rng.choice(items)
    a_positive = label == 1 if kind != "negation" else label == 0
    same, other = (good, bad) if a_positive else (bad, good)
    a, a2 = rng.sample(same, 2)
    text = template.format(item=item, aspect=rng.choice(aspects), a=a, a2=a2, b=rng.choice(other))
    return Review(text[0].upper() + text[1:], label, kind, a in new or a2 in new)


def _draw(n: int, part: str, seed: int) -> list[Review]:
    rng = random.Random(f"sentiment-{part}-{seed}")
    items = ITEMS[:N_TRAIN_ITEMS] if part == "train" else ITEMS[N_TRAIN_ITEMS:]
    known = (GOOD[:N_TRAIN_WORDS], BAD[:N_TRAIN_WORDS], frozenset())
    new_good, new_bad = GOOD[N_TRAIN_WORDS:], BAD[N_TRAIN_WORDS:]
    unseen = (new_good, new_bad, frozenset(new_good + new_bad))
    out = []
    for i in range(n):
        kind, label = KINDS[(i // 2) % 4], i % 2  # balanced labels; half plain, as in real reviews
        words = unseen if part != "train" and (i // 8) % 2 else known
        templates = TEMPLATES[kind][TEMPLATE_PARTS[part]]
        out.append(_review(rng, kind, label, templates, items, words))
    rng.shuffle(out)
    return out


def splits(n_train: int = 1500, n_valid: int = 300, n_test: int = 360,
           seed: int = 0) -> dict[str, list[Review]]:
    """``{"train", "validation", "test"}`` reviews, shuffled: half positive; half of them plain, a
    quarter negation, a quarter contrast.

    The three parts use disjoint templates (6, 3 and 3 per kind) and the training items never
    appear in validation or test; half of the validation and test reviews use adjectives that
    training never shows. The same arguments give the same reviews on every run.
    """
    sizes = {"train": n_train, "validation": n_valid, "test": n_test}
    for name, n in sizes.items():
        if not isinstance(n, int) or n < 8:
            raise ValueError(f"n_{name.replace('validation', 'valid')}={n!r} must be an int "
                             f">= 8 (every kind, both labels)")
    return {part: _draw(n, part, seed) for part, n in sizes.items()}
