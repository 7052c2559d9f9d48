"""Short product reviews with a sentiment label, generated from templates, plus hand-written ones.

Three kinds (``slice``) of review:

- ``"plain"``: the sentiment is in the words ("The battery was excellent.");
- ``"negation"``: a sentiment word under a negation ("The battery was not bad at all.": positive);
- ``"contrast"``: two clauses of opposite sentiment joined by "but", the second one decides
  ("I expected to hate this phone, but it was excellent.").

``development_and_test`` draws the development set (for choosing anything: label descriptions,
few-shot examples) and the test set from **disjoint** product names and sentiment words, so no
test review repeats a development review's words, and adds ``HAND_WRITTEN`` to the test set only.
``lexicon_score`` is a word-list baseline: +1 per positive word, -1 per negative word.

See: notebooks/12_pretrained_encoder.ipynb
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

SLICES = ("plain", "negation", "contrast")


@dataclass(frozen=True)
class Review:
    """One review: its text, its label (True: positive) and its kind (one of ``SLICES``)."""

    text: str
    positive: bool
    slice: str


# (product, one of its aspects); the first half are development words, the second half test words
PRODUCTS = (("phone", "battery"), ("hotel", "room"), ("film", "story"), ("laptop", "keyboard"),
            ("restaurant", "food"), ("novel", "ending"), ("jacket", "fabric"),
            ("coffee machine", "coffee"), ("headphones", "sound"), ("camera", "lens"),
            ("museum", "exhibition"), ("sofa", "cushions"), ("game", "gameplay"),
            ("bakery", "bread"), ("tent", "zipper"), ("printer", "print quality"))
GOOD = ("excellent", "great", "wonderful", "superb", "lovely", "fantastic", "brilliant",
        "impressive", "delightful", "perfect", "solid", "pleasant")
BAD = ("terrible", "awful", "disappointing", "poor", "dreadful", "mediocre", "useless",
       "annoying", "horrible", "flimsy", "cheap", "broken")

_TEMPLATES = {  # (slice, positive) -> templates
    ("plain", True): ("The {aspect} of this {product} is {good}.",
                      "This {product} is {good}, and the {aspect} is {good2}.",
                      "I loved this {product}; the {aspect} was {good}.",
                      "{Good} {product}. I would buy it again."),
    ("plain", False): ("The {aspect} of this {product} is {bad}.",
                       "This {product} is {bad}, and the {aspect} is {bad2}.",
                       "I hated this {product}; the {aspect} was {bad}.",
                       "{Bad} {product}. I want my money back."),
    ("negation", True): ("The {aspect} was not {bad} at all.",
                         "This {product} is not {bad}; I was never disappointed.",
                         "I have no complaints: the {aspect} is not {bad} in any way.",
                         "Nothing about the {aspect} of this {product} is {bad}."),
    ("negation", False): ("The {aspect} was not {good} at all.",
                          "This {product} is not {good}, and I would not buy it again.",
                          "I can't say the {aspect} is {good}.",
                          "The {product} never felt {good}, and the {aspect} isn't {good2}."),
    ("contrast", True): ("I expected to hate this {product}, but the {aspect} is {good}.",
                         "The box looked {bad}, but the {product} itself is {good}.",
                         "At first the {aspect} seemed {bad}, but after a week it is {good}.",
                         "The reviews said the {product} was {bad}, but I found it {good}."),
    ("contrast", False): ("I expected to love this {product}, but the {aspect} is {bad}.",
                          "The box looked {good}, but the {product} itself is {bad}.",
                          "At first the {aspect} seemed {good}, but after a week it is {bad}.",
                          "The reviews said the {product} was {good}, but I found it {bad}."),
}

HAND_WRITTEN = (  # written by hand, test set only
    Review("Not bad at all, honestly.", True, "negation"),
    Review("I expected to hate it, but it won me over in ten minutes.", True, "contrast"),
    Review("It does everything it promises and a little more.", True, "plain"),
    Review("The staff went out of their way to help us.", True, "plain"),
    Review("Worth every penny.", True, "plain"),
    Review("I wasn't disappointed for a second.", True, "negation"),
    Review("Never had a single problem with it in two years.", True, "negation"),
    Review("The first chapter drags, but the rest is a joy to read.", True, "contrast"),
    Review("Cheap plastic case, but the sound is rich and clear.", True, "contrast"),
    Review("My kids ask to go back every weekend.", True, "plain"),
    Review("I can't stop recommending it to my friends.", True, "negation"),
    Review("It's not the prettiest, but it works flawlessly.", True, "contrast"),
    Review("No fuss, no noise, just great coffee every morning.", True, "negation"),
    Review("Delivery was slow, but I'd buy from them again.", True, "contrast"),
    Review("Five stars, would stay here again.", True, "plain"),
    Review("The battery lasts for days.", True, "plain"),
    Review("I was sceptical, but it really works.", True, "contrast"),
    Review("Nothing to complain about.", True, "negation"),
    Review("Comfortable, warm, and it looks good too.", True, "plain"),
    Review("The ending made me cry, in a good way.", True, "plain"),
    Review("Not good at all.", False, "negation"),
    Review("I expected to love it, but it broke on the second day.", False, "contrast"),
    Review("It stopped working after a week.", False, "plain"),
    Review("The waiter ignored us for forty minutes.", False, "plain"),
    Review("A complete waste of money.", False, "plain"),
    Review("I wouldn't recommend it to anyone.", False, "negation"),
    Review("Never again.", False, "negation"),
    Review("Beautiful design, but it overheats constantly.", False, "contrast"),
    Review("The actors try hard, but the plot makes no sense.", False, "contrast"),
    Review("The screen scratches if you look at it.", False, "plain"),
    Review("It isn't worth half the price.", False, "negation"),
    Review("Looks great in the photos, but the real thing is tiny.", False, "contrast"),
    Review("Nobody answered my emails.", False, "negation"),
    Review("Fast shipping, but the box was empty.", False, "contrast"),
    Review("The room smelled of smoke and the sheets were stained.", False, "plain"),
    Review("I fell asleep halfway through.", False, "plain"),
    Review("Not what I was hoping for.", False, "negation"),
    Review("The app crashes every time I open it.", False, "plain"),
    Review("Friendly staff, but the food was cold and bland.", False, "contrast"),
    Review("I had high hopes, but it was a letdown.", False, "contrast"),
)


def _draw(n: int, products, good, bad, rng: random.Random) -> list[Review]:
    out = []
    for i in range(n):
        positive = i % 2 == 0  # balanced labels
        kind = SLICES[(i // 2) % 3]  # balanced kinds
        template = rng.choice(_TEMPLATES[(kind, positive)])
        product, aspect = rng.choice(products)
        g1, g2 = rng.sample(good, 2)
        b1, b2 = rng.sample(bad, 2)
        text = template.format(product=product, aspect=aspect, good=g1, good2=g2, bad=b1,
                               bad2=b2, Good=g1.capitalize(), Bad=b1.capitalize())
        out.append(Review(text, positive, kind))
    return out


def development_and_test(n_dev: int = 60, n_test: int = 204, seed: int = 0
                         ) -> tuple[list[Review], list[Review]]:
    """(development, test) reviews: ``n_dev`` and ``n_test`` generated from disjoint halves of
    the product and sentiment word lists, the test set followed by ``HAND_WRITTEN``."""
    if n_dev < 2 or n_test < 2:
        raise ValueError(f"n_dev and n_test must be at least 2, got {n_dev} and {n_test}")
    rng = random.Random(seed)
    half_p, half_w = len(PRODUCTS) // 2, len(GOOD) // 2
    dev = _draw(n_dev, PRODUCTS[:half_p], GOOD[:half_w], BAD[:half_w], rng)
    test = _draw(n_test, PRODUCTS[half_p:], GOOD[half_w:], BAD[half_w:], rng)
    return dev, test + list(HAND_WRITTEN)


POSITIVE_WORDS = frozenset(
    "good great excellent wonderful superb lovely fantastic brilliant impressive delightful "
    "perfect solid pleasant amazing awesome best love loved like liked enjoy enjoyed happy "
    "recommend recommended comfortable beautiful friendly fast clean reliable worth joy "
    "flawlessly flawless rich clear warm".split())
NEGATIVE_WORDS = frozenset(
    "bad terrible awful disappointing disappointed poor dreadful mediocre useless annoying "
    "horrible flimsy cheap broken broke hate hated worst waste slow cold bland dirty rude "
    "boring noisy crashes problem complain complaints letdown stained tiny ignored "
    "overheats".split())
_TOKEN = re.compile(r"[a-z']+")


def lexicon_score(text: str) -> int:
    """The word-list baseline: positive words minus negative words in ``text`` (lowercased)."""
    tokens = _TOKEN.findall(text.lower())
    return sum(t in POSITIVE_WORDS for t in tokens) - sum(t in NEGATIVE_WORDS for t in tokens)


def few_shot_indices(reviews: list[Review], k: int, seed: int = 0) -> list[int]:
    """``k`` indices of ``reviews``, half positive and half negative, drawn with ``seed``."""
    positive = [i for i, r in enumerate(reviews) if r.positive]
    negative = [i for i, r in enumerate(reviews) if not r.positive]
    if k < 2 or k % 2 or k // 2 > min(len(positive), len(negative)):
        raise ValueError(f"k={k} must be even, at least 2 and at most twice the smaller class "
                         f"({min(len(positive), len(negative))})")
    rng = random.Random(seed)
    return rng.sample(positive, k // 2) + rng.sample(negative, k // 2)
