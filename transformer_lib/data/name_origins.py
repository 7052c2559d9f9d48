"""Names and the language they come from, read from the name lists that ``faker`` ships.

Each of faker's locales has a person provider with lists of first names and last names
(``faker.providers.person.<locale>.Provider.first_names``, ``.last_names``, ...). We read those
lists directly (nothing is sampled), drop the names that two languages share (their label would
be ambiguous), and split train and test by name, so no test name is ever trained on.

See: notebooks/10_classification.ipynb
"""

from __future__ import annotations

import importlib
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from transformer_lib import _validate

LOCALES = ("en_US", "fr_FR", "de_DE", "it_IT", "es_ES", "nl_NL", "pl_PL", "fi_FI", "tr_TR")
LANGUAGE_NAMES = {"en_US": "English", "fr_FR": "French", "de_DE": "German", "it_IT": "Italian",
                  "es_ES": "Spanish", "nl_NL": "Dutch", "pl_PL": "Polish", "fi_FI": "Finnish",
                  "tr_TR": "Turkish"}
PAD, UNK, CLS = "<pad>", "<unk>", "<cls>"


def locale_names(locale: str) -> set[str]:
    """Every first and last name of one faker locale.

    All the person provider's name lists are read: ``first_names*`` and ``*last_names``
    (pl_PL, for one, keeps its surnames in ``male_last_names`` and ``unisex_last_names``).
    """
    if not isinstance(locale, str) or not locale.isidentifier():
        raise ValueError(f"locale={locale!r} must be a faker locale name such as 'en_US'")
    module = f"faker.providers.person.{locale}"
    try:
        provider = importlib.import_module(module).Provider
    except ModuleNotFoundError as error:
        if error.name != module:  # faker itself, or something it needs, is missing
            raise
        raise ValueError(f"locale={locale!r} has no faker person provider") from None
    names: set[str] = set()
    for attribute in dir(provider):
        if attribute.startswith("first_names") or attribute.endswith("last_names"):
            values = getattr(provider, attribute)
            if isinstance(values, (tuple, list, dict)):  # a dict maps names to frequencies
                names |= {n.strip() for n in values if isinstance(n, str) and n.strip()}
    return names


class Vocab:
    """Tokens to ids and back; ids 0, 1, 2 are ``<pad>``, ``<unk>`` and ``<cls>``.

    Tokens never seen when the vocabulary was built map to ``<unk>``.
    """

    def __init__(self, tokens: Iterable[str], min_freq: int = 1):
        _validate.positive_int("min_freq", min_freq)
        counts = Counter(tokens)
        kept = sorted(t for t, c in counts.items() if c >= min_freq and t not in (PAD, UNK, CLS))
        self.itos = [PAD, UNK, CLS, *kept]
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pad_id, self.unk_id, self.cls_id = 0, 1, 2

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Iterable[str], add_cls: bool = False) -> list[int]:
        """Tokens to ids, ``<unk>`` for the unknown ones, ``<cls>`` first if asked."""
        ids = [self.stoi.get(t, self.unk_id) for t in tokens]
        return [self.cls_id, *ids] if add_cls else ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids to tokens; an id outside ``[0, len(vocab))`` is an error (never wrapped around)."""
        tokens = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i} is not in the vocabulary (ids 0 to {len(self.itos) - 1})")
            tokens.append(self.itos[i])
        return tokens


@dataclass
class NameData:
    """Train and test ``(name, label)`` pairs; ``languages[label]`` is the label's locale.

    ``dropped`` counts the names removed because two or more languages list them. Hold out a
    validation set from ``train`` with :func:`split_validation`.
    """

    train: list[tuple[str, int]]
    test: list[tuple[str, int]]
    languages: tuple[str, ...]
    dropped: int


def load_names(
    locales: Sequence[str] = LOCALES,
    per_language: int = 600,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> NameData:
    """Up to ``per_language`` names of each locale, split by name into train and test.

    A name listed by two languages is dropped from both. Each language's names are shuffled
    with ``random.Random(seed)`` (from a sorted list: the same on every run), the first
    ``per_language`` are kept, and ``test_fraction`` of each language goes to the test set, so
    both sets have the same mix of languages (and every language at least one name in each).

    Raises:
        ValueError: fewer than two different locales, ``per_language < 2``, ``test_fraction``
            outside (0, 1), or a locale left with fewer than two names of its own.
    """
    if isinstance(locales, str):
        raise ValueError(f"locales={locales!r} is one string; pass a sequence of locales, "
                         f"e.g. ('en_US', 'fr_FR')")
    if len(locales) < 2 or len(set(locales)) != len(locales):
        raise ValueError(f"locales={tuple(locales)} must hold at least two different locales")
    if _validate.positive_int("per_language", per_language) < 2:
        raise ValueError(f"per_language={per_language} must be at least 2: one name to train on, "
                         f"one to test")
    is_number = isinstance(test_fraction, (int, float)) and not isinstance(test_fraction, bool)
    if not is_number or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction!r} must lie in (0, 1)")
    per_locale = {locale: locale_names(locale) for locale in locales}
    listed_by = Counter(name for names in per_locale.values() for name in names)
    shared = {name for name, count in listed_by.items() if count > 1}
    rng = random.Random(seed)
    train, test = [], []
    for label, locale in enumerate(locales):
        names = sorted(per_locale[locale] - shared)
        if len(names) < 2:
            raise ValueError(f"{locale} has {len(names)} name(s) that no other locale lists; "
                             f"at least 2 are needed, one for training and one for testing")
        rng.shuffle(names)
        names = names[:per_language]
        n_test = min(len(names) - 1, max(1, round(len(names) * test_fraction)))  # 1 <= n_test < len
        test += [(n, label) for n in names[:n_test]]
        train += [(n, label) for n in names[n_test:]]
    rng.shuffle(train)
    rng.shuffle(test)
    assert not {n for n, _ in train} & {n for n, _ in test}, "train and test share a name"
    return NameData(train, test, tuple(locales), len(shared))


def split_validation(
    pairs: Sequence[tuple[str, int]], size: int, seed: int = 0
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Split ``size`` pairs off ``pairs`` for validation, with the same mix of labels.

    Each label gets a share of ``size`` proportional to its count (largest remainders get the
    rounding), drawn with ``random.Random(seed)``; the order of ``pairs`` is kept in both parts.
    Every label keeps at least one pair for training. Splitting the training pairs of
    :func:`load_names` keeps validation disjoint by name from training and from the test set.

    Returns:
        ``(train, valid)``: ``len(pairs) - size`` and ``size`` pairs.

    Raises:
        ValueError: ``size`` not a positive integer, or too large to leave every label a pair.
    """
    _validate.positive_int("size", size)
    counts = Counter(label for _, label in pairs)
    if size > len(pairs) - len(counts):
        raise ValueError(f"size={size} is too large: {len(pairs)} pairs of {len(counts)} labels "
                         f"leave at most {len(pairs) - len(counts)} for validation")
    exact = {label: size * count / len(pairs) for label, count in counts.items()}
    share = {label: int(value) for label, value in exact.items()}
    by_remainder = sorted(counts, key=lambda label: (share[label] - exact[label], label))
    for label in by_remainder[: size - sum(share.values())]:
        share[label] += 1
    share = {label: min(n, counts[label] - 1) for label, n in share.items()}  # one left to train
    for label in by_remainder:  # what the cap took goes to the labels that have room
        while sum(share.values()) < size and share[label] < counts[label] - 1:
            share[label] += 1
    rng = random.Random(seed)
    chosen = set()
    for label in sorted(counts):
        positions = [i for i, (_, pair_label) in enumerate(pairs) if pair_label == label]
        chosen.update(rng.sample(positions, share[label]))
    train = [pair for i, pair in enumerate(pairs) if i not in chosen]
    valid = [pair for i, pair in enumerate(pairs) if i in chosen]
    return train, valid
