"""Generated sequence-to-sequence tasks: reverse, sort or copy a sequence of symbols.

They are small enough to train on a laptop CPU in seconds and hard enough to need attention:
reversing asks each output position to look at a different input position.

See: notebooks/07_training.ipynb
"""

from __future__ import annotations

import random

from transformer_lib import _validate

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
_TASKS = ("reverse", "sort", "copy")


class SequenceTask:
    """Sequences of ``n_symbols`` symbols (shown as letters) and the task's answer for each.

    Ids 0, 1, 2 are ``<pad>``, ``<bos>``, ``<eos>``; the symbols are ids 3 to ``vocab_size - 1``.

    Example:
        >>> task = SequenceTask("reverse", n_symbols=10)
        >>> task.target([3, 4, 5])
        [5, 4, 3]
    """

    def __init__(
        self, kind: str = "reverse", n_symbols: int = 10, min_len: int = 3, max_len: int = 10
    ):
        if kind not in _TASKS:
            raise ValueError(f"kind={kind!r}; expected one of {_TASKS}")
        _validate.positive_int("n_symbols", n_symbols)
        if n_symbols > 26:
            raise ValueError(f"n_symbols={n_symbols} must be at most 26 (one letter per symbol)")
        _validate.positive_int("min_len", min_len)
        _validate.positive_int("max_len", max_len)
        if min_len > max_len:
            raise ValueError(f"min_len={min_len} is larger than max_len={max_len}")
        self.kind, self.n_symbols, self.min_len, self.max_len = kind, n_symbols, min_len, max_len
        self.vocab_size = len(SPECIAL_TOKENS) + n_symbols
        self.tokens = list(SPECIAL_TOKENS) + [chr(ord("a") + i) for i in range(n_symbols)]

    def target(self, source: list[int]) -> list[int]:
        """The correct output for one source sequence."""
        if self.kind == "reverse":
            return source[::-1]
        if self.kind == "sort":
            return sorted(source)
        return list(source)

    def splits(self, n_train: int, n_test: int, seed: int = 0) -> tuple[list, list]:
        """Disjoint train and test sets of ``(source, target)`` pairs: no test source is trained on.

        Every source is drawn uniformly (length uniform in ``[min_len, max_len]``) with a
        ``random.Random(seed)``; duplicates are skipped, so the two sets never share a source.
        """
        _validate.positive_int("n_train", n_train)
        _validate.positive_int("n_test", n_test)
        possible = sum(self.n_symbols**n for n in range(self.min_len, self.max_len + 1))
        if n_train + n_test > possible // 2:
            raise ValueError(
                f"n_train + n_test = {n_train + n_test} is too many: only {possible} different "
                f"sequences exist; use longer sequences or more symbols"
            )
        rng = random.Random(seed)
        seen: set[tuple[int, ...]] = set()
        pairs = []
        while len(pairs) < n_train + n_test:
            length = rng.randint(self.min_len, self.max_len)
            source = tuple(rng.randrange(len(SPECIAL_TOKENS), self.vocab_size)
                           for _ in range(length))
            if source not in seen:
                seen.add(source)
                pairs.append((list(source), self.target(list(source))))
        return pairs[:n_train], pairs[n_train:]

    def decode(self, ids) -> str:
        """Token ids to a readable string, stopping at ``<eos>`` and skipping
        ``<pad>``/``<bos>``."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i >= len(SPECIAL_TOKENS):
                out.append(self.tokens[i])
        return " ".join(out)

    def encode(self, text: str) -> list[int]:
        """``"a b c"`` to symbol ids."""
        try:
            return [self.tokens.index(t, len(SPECIAL_TOKENS)) for t in text.split()]
        except ValueError:
            raise ValueError(f"text={text!r} holds a symbol outside {self.tokens[3:]}") from None
