"""English text that ships with Python, for the language model of chapter 9.

``pydoc_data.topics`` holds the help topics of the Python documentation (what ``help("if")``
prints), about 465 KB of English prose and code; ``load_docstrings`` adds the docstrings of the
standard library's modules, read from their source files (about 1 MB more). The texts repeat
each other: the topic ``compound`` holds the whole text of ``if``, ``while``, ``for``... So the
paragraphs are deduplicated before the texts are split by topic or module, otherwise validation
text would leak into training.

See: notebooks/09_text_generation.ipynb
"""

from __future__ import annotations

import ast
import random
import re
import sysconfig
from pathlib import Path

import torch

from transformer_lib import _validate

def load_topics() -> dict[str, str]:
    """The help topics of the installed Python, ``{name: text}`` in sorted name order."""
    from pydoc_data.topics import topics

    return {name: topics[name] for name in sorted(topics)}


_SKIPPED_PACKAGES = ("site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3",
                     "turtledemo", "ensurepip", "__pycache__")


def load_docstrings(root: str | Path | None = None) -> dict[str, str]:
    """The standard library's docstrings, one text per module: ``{"module json.decoder": text}``.

    Reads the source files of ``root`` (default: the installed Python's standard library) and its
    packages one level down, with ``ast``: nothing is imported or run. A module's text is its own
    docstring followed by those of its public classes, functions and methods (names without a
    leading underscore), in source order, separated by blank lines. Tests, the IDLE editor and
    installed packages are left out. The same Python gives the same texts on every machine.

    Returns:
        ``{"module <dotted name>": text}`` in sorted name order; modules without docstrings are
        left out.
    """
    root = Path(sysconfig.get_paths()["stdlib"] if root is None else root)
    if not root.is_dir():
        raise ValueError(f"root={str(root)!r} is not a directory of Python source files")
    out = {}
    for path in sorted([*root.glob("*.py"), *root.glob("*/*.py")]):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[0] in _SKIPPED_PACKAGES or parts[0].startswith("test"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a file this Python cannot parse (a template, another encoding)
        public = sorted((node for node in ast.walk(tree)
                         if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                         and not node.name.startswith("_")), key=lambda node: node.lineno)
        nodes = [tree, *public]  # the module first, then in source order
        docs = [doc for node in nodes if (doc := ast.get_docstring(node))]
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if docs:
            out[f"module {name}"] = "\n\n".join(docs)
    return dict(sorted(out.items()))


def paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of a text: blocks between blank lines, without end newlines."""
    return [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def deduplicate_paragraphs(topics: dict[str, str], min_chars: int = 40) -> dict[str, str]:
    """Keep each paragraph only where it first appears, visiting the topics in sorted order.

    Paragraphs shorter than ``min_chars`` (``"See also:"``, ``"New in version 3.2."``) are
    common phrases rather than repeated text and are always kept. Topics left without a paragraph
    are dropped. No paragraph of ``min_chars`` or more then appears twice, so a split by topics is
    a split of the text.
    """
    _validate.positive_int("min_chars", min_chars)
    seen: set[str] = set()
    out = {}
    for name in sorted(topics):
        kept = []
        for paragraph in paragraphs(topics[name]):
            if len(paragraph) < min_chars or paragraph not in seen:
                kept.append(paragraph)
                seen.add(paragraph)
        if kept:
            out[name] = "\n\n".join(kept)
    return out


def split_topics(
    topics: dict[str, str], val_fraction: float = 0.1, seed: int = 0
) -> tuple[dict[str, str], dict[str, str]]:
    """Split whole topics into training and validation, seeded and disjoint.

    The topic names are shuffled with ``random.Random(seed)``; validation takes them in that order
    until it holds at least ``val_fraction`` of the characters; training gets the rest.

    Returns:
        ``(train, val)``, two dicts ``{name: text}`` with no name in common.
    """
    if not isinstance(val_fraction, float) or not 0.0 < val_fraction < 0.5:
        raise ValueError(f"val_fraction={val_fraction!r} must be a float in (0, 0.5)")
    if len(topics) < 2:
        raise ValueError(f"topics has {len(topics)} topic(s); a split needs at least 2")
    names = sorted(topics)
    random.Random(seed).shuffle(names)
    total = sum(len(text) for text in topics.values())
    val_names: list[str] = []
    while sum(len(topics[n]) for n in val_names) < val_fraction * total:
        val_names.append(names[len(val_names)])
    train = {n: topics[n] for n in sorted(topics) if n not in val_names}
    val = {n: topics[n] for n in sorted(val_names)}
    assert not set(train) & set(val) and train, "the split must leave disjoint, non-empty parts"
    return train, val


def join_topics(topics: dict[str, str]) -> str:
    """One text: the topics in sorted name order, separated by blank lines."""
    return "\n\n".join(topics[name] for name in sorted(topics))


def train_tokenizer(text: str, vocab_size: int = 1024):
    """A byte-level BPE tokenizer (as GPT-2's) trained on ``text``, with the ``tokenizers`` package.

    The byte-level pre-tokenizer splits the text GPT-2's way and maps each byte to a printable
    symbol (a space becomes ``"Ġ"``, a newline ``"Ċ"``), so every text can be encoded, with no
    unknown token; BPE then merges the most frequent pairs until ``vocab_size`` tokens exist.
    Training twice on the same text gives the same vocabulary and the same merges.

    Returns:
        a ``tokenizers.Tokenizer``: ``.encode(text).ids``, ``.decode(ids)``, ``.get_vocab_size()``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string to train the tokenizer on")
    _validate.positive_int("vocab_size", vocab_size)
    alphabet = pre_tokenizers.ByteLevel.alphabet()  # the 256 byte symbols
    if vocab_size < len(alphabet):
        raise ValueError(f"vocab_size={vocab_size} must be at least {len(alphabet)}, one per byte")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False
    )
    tokenizer.train_from_iterator([text], trainer)
    return tokenizer


class RandomWindows:
    """``get_batch(step)`` for ``training.fit``: random windows of a long sequence of token ids.

    Step ``step`` draws ``batch_size`` start positions with a generator seeded by
    ``(seed, step)``, so the batch depends only on the step: a resumed run sees the same batches.
    Each window holds ``context + 1`` tokens: the inputs are its first ``context``, the targets
    its last ``context``, the same tokens shifted by one.

    Shape:
        ids ``(N,)``; ``get_batch(step)`` returns inputs ``(B, T)`` and targets ``(B, T)``,
        with T = context.
    """

    def __init__(self, ids: torch.Tensor, batch_size: int, context: int, seed: int = 0):
        self.ids = _validate.rank("ids", ids, (1,), "(N,)")
        self.batch_size = _validate.positive_int("batch_size", batch_size)
        self.context = _validate.positive_int("context", context)
        if len(ids) < context + 1:
            raise ValueError(f"ids has {len(ids)} tokens, fewer than context + 1 = {context + 1}")
        self.seed = seed

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step={step!r} must be a non-negative integer")
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        high = len(self.ids) - self.context  # the last start that leaves room for T + 1 tokens
        starts = torch.randint(0, high, (self.batch_size,), generator=generator)  # (B,)
        windows = self.ids[starts[:, None] + torch.arange(self.context + 1)]  # (B, T + 1)
        return windows[:, :-1], windows[:, 1:]  # (B, T), (B, T)


def sequential_windows(ids: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a sequence into consecutive windows, for evaluation: every token is predicted once.

    Window k holds tokens ``k * context`` to ``(k + 1) * context`` (one token overlaps the next
    window); the incomplete tail is dropped.

    Shape:
        ids ``(N,)``; returns inputs and targets ``(W, T)``, W = (N - 1) // context windows.
    """
    ids = _validate.rank("ids", ids, (1,), "(N,)")
    _validate.positive_int("context", context)
    n_windows = (len(ids) - 1) // context
    if n_windows == 0:
        raise ValueError(f"ids has {len(ids)} tokens, fewer than context + 1 = {context + 1}")
    inputs = ids[: n_windows * context].view(n_windows, context)  # (W, T)
    targets = ids[1 : n_windows * context + 1].view(n_windows, context)  # (W, T)
    return inputs, targets


__all__ = [
    "RandomWindows",
    "deduplicate_paragraphs",
    "join_topics",
    "load_docstrings",
    "load_topics",
    "paragraphs",
    "sequential_windows",
    "split_topics",
    "train_tokenizer",
]
