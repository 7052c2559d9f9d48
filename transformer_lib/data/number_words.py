"""English number words and their French translation: a small, real translation task.

``num2words`` writes any integer in many languages, so the pairs are unlimited and exact:
``71 -> ("seventy-one", "soixante et onze")``, ``80 -> ("eighty", "quatre-vingts")``. The splits
are made by *number*: a number in the test set never appears in training, in any form.

The tokenizer is word-level: it splits on spaces and hyphens and keeps each hyphen and comma as a
token of its own, so that ``decode(encode(text)) == text`` and the model must write the hyphens of
``quatre-vingt-dix-sept`` itself. Its vocabulary is built from the training texts only; any other
word becomes ``<unk>``.

See: notebooks/08_translation.ipynb
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from transformer_lib import _validate
from transformer_lib.data.tasks import BOS_ID, EOS_ID, PAD_ID

UNK_ID = 3
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")  # ids 0, 1, 2, 3
_LANGUAGES = ("en", "fr")
_SPLIT = re.compile(r"[^\s,-]+|[,-]")  # words, and each hyphen or comma alone

__all__ = [
    "NumberSplits",
    "SPECIAL_TOKENS",
    "UNK_ID",
    "WordVocab",
    "detokenize",
    "encode_pairs",
    "number_pairs",
    "split_numbers",
    "to_words",
    "tokenize",
]


def to_words(number: int, lang: str = "en") -> str:
    """``number`` written out by ``num2words`` in ``lang`` ("en" or "fr"): 97 -> "ninety-seven"."""
    from num2words import num2words

    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise ValueError(f"number={number!r} must be a non-negative integer")
    if lang not in _LANGUAGES:
        raise ValueError(f"lang={lang!r}; expected one of {_LANGUAGES}")
    return num2words(number, lang=lang)


def number_pairs(
    numbers: Iterable[int], source: str = "en", target: str = "fr"
) -> list[tuple[str, str]]:
    """``(source words, target words)`` for each number, in order."""
    return [(to_words(n, source), to_words(n, target)) for n in numbers]


@dataclass(frozen=True)
class NumberSplits:
    """Three disjoint, sorted lists of numbers: ``train``, ``val`` and ``test``."""

    train: list[int]
    val: list[int]
    test: list[int]


def split_numbers(
    n_train: int, n_val: int, n_test: int, high: int = 1_000_000, seed: int = 0
) -> NumberSplits:
    """Draw ``n_train + n_val + n_test`` different numbers from ``[0, high)`` and split them.

    Every number of digits is equally likely (then every number with that many digits): drawn
    uniformly from ``[0, 10**6)``, 99% of the numbers would have 5 or 6 digits, and a model would
    never learn to write "dix" alone. A magnitude whose numbers are all drawn drops out of the draw.
    Numbers are drawn without replacement by ``random.Random(seed)``, shuffled, then cut into the
    three sets, so the sets never share a number and the same seed gives the same split.
    """
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test), ("high", high)):
        _validate.positive_int(name, value)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed={seed!r} must be an integer")
    total = n_train + n_val + n_test
    if total > high:
        raise ValueError(
            f"n_train + n_val + n_test = {total} is more than the high={high} numbers in [0, high)"
        )
    rng = random.Random(seed)
    n_digits = range(1, len(str(high - 1)) + 1)
    buckets = [(0 if d == 1 else 10 ** (d - 1), min(10**d, high)) for d in n_digits]  # [low, up)
    taken: list[set[int]] = [set() for _ in buckets]
    drawn: list[int] = []
    while len(drawn) < total:
        open_buckets = [i for i, (low, up) in enumerate(buckets) if len(taken[i]) < up - low]
        i = rng.choice(open_buckets)
        number = rng.randrange(*buckets[i])
        if number not in taken[i]:
            taken[i].add(number)
            drawn.append(number)
    rng.shuffle(drawn)
    train, val, test = drawn[:n_train], drawn[n_train : n_train + n_val], drawn[n_train + n_val :]
    return NumberSplits(sorted(train), sorted(val), sorted(test))


def tokenize(text: str) -> list[str]:
    """Split on spaces and hyphens; hyphens and commas are tokens of their own.

    Example: ``"one thousand, ninety-seven"`` ->
    ``["one", "thousand", ",", "ninety", "-", "seven"]``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _SPLIT.findall(text)


def detokenize(tokens: Sequence[str]) -> str:
    """The inverse of ``tokenize``: a hyphen joins its neighbours, a comma sticks to the word
    before it.

    Example: ``["quatre", "-", "vingts"]`` -> ``"quatre-vingts"``.
    """
    text, previous = "", None
    for token in tokens:
        glued = previous is None or token in ("-", ",") or previous == "-"
        text += token if glued else " " + token
        previous = token
    return text


class WordVocab:
    """Token <-> id tables: the four special tokens first (``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2,
    ``<unk>`` 3, as in ``transformer_lib.data``), then the words in order of first appearance.

    Texts are split by ``tokenize`` and joined by ``detokenize``, this module's; a subclass that
    sets both to other functions gets the same tables for another kind of text
    (``headlines.Vocab``).
    """

    tokenize = staticmethod(tokenize)
    detokenize = staticmethod(detokenize)

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tokens[: len(SPECIAL_TOKENS)] != list(SPECIAL_TOKENS):
            raise ValueError(f"tokens must start with the special tokens {SPECIAL_TOKENS}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokens holds a duplicate")
        self.tokens = tokens
        self.ids = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def from_texts(cls, texts: Iterable[str], min_count: int = 1) -> WordVocab:
        """The vocabulary of ``texts`` (the training texts): the tokens seen ``min_count`` times."""
        _validate.positive_int("min_count", min_count)
        counts = Counter(token for text in texts for token in cls.tokenize(text))
        if not counts:
            raise ValueError("texts is empty; expected at least one non-empty text")
        words = [t for t, c in counts.items() if c >= min_count and t not in SPECIAL_TOKENS]
        return cls([*SPECIAL_TOKENS, *words])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.ids

    def encode(self, text: str) -> list[int]:
        """Text to ids (no ``<bos>``/``<eos>``); unknown words become ``UNK_ID``."""
        return [self.ids.get(token, UNK_ID) for token in self.tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids to text, stopping at ``<eos>`` and skipping ``<pad>`` and ``<bos>``."""
        tokens = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"ids holds {i}, outside the vocabulary [0, {len(self.tokens)})")
            if i not in (PAD_ID, BOS_ID):
                tokens.append(self.tokens[i])
        return self.detokenize(tokens)


def encode_pairs(
    pairs: Iterable[tuple[str, str]], vocab: WordVocab
) -> list[tuple[list[int], list[int]]]:
    """``(source ids, target ids)`` for each text pair, ready for ``make_seq2seq_batch``."""
    return [(vocab.encode(source), vocab.encode(target)) for source, target in pairs]
