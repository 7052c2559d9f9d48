"""Checks for the exercises of chapter 1 (tokens, embeddings and positions)."""

from collections import Counter
from collections.abc import Callable

import torch
from torch.nn.utils.rnn import pad_sequence

from transformer_lib.checks._compare import Case, compare, diagnose, python_number, unpack
from transformer_lib.checks._core import Failure, call, check, describe

Pair = tuple[str, str]


def _merge(tokens: list[str], pair: Pair, how: str = "all") -> list[str]:
    """``tokens`` with ``pair`` merged into one token, scanning left to right: every occurrence
    (``how="all"``, the right way); or the mistakes ``"first"`` (only the first occurrence) and
    ``"overlap"`` (a merge that forgets to skip the right token it used)."""
    out, i, merged = [], 0, False
    while i < len(tokens):
        if (i + 1 < len(tokens) and (tokens[i], tokens[i + 1]) == pair
                and not (how == "first" and merged)):
            out.append(tokens[i] + tokens[i + 1])
            i, merged = i + (1 if how == "overlap" else 2), True
        else:
            out.append(tokens[i])
            i += 1
    return out


def _learn_bpe(text: str, n_merges: int, words: str = "split", count: str = "weighted",
               tie: str = "smallest", how: str = "all") -> list[Pair]:
    """The reference BPE learner (the defaults) and its realistic mistakes: ``words="joined"``
    (one sequence: pairs across word boundaries), ``"chars"`` (spaces are tokens too);
    ``count="distinct"`` (each distinct word once); ``tie="largest"`` or ``"first"`` (first
    counted); ``how`` as in ``_merge``."""
    if words == "split":
        freq = Counter(text.split())  # word -> how often it occurs
    else:
        freq = Counter([text if words == "chars" else "".join(text.split())])
    state = {word: list(word) for word in freq}  # word -> its current tokens
    merges = []
    for _ in range(n_merges):
        counts = Counter()
        for word, tokens in state.items():
            for pair in zip(tokens, tokens[1:]):
                counts[pair] += freq[word] if count == "weighted" else 1
        if not counts:
            break  # every word is one token
        if tie == "first":
            best = max(counts, key=counts.get)  # the first counted among the most frequent
        elif tie == "largest":
            best = max(counts, key=lambda pair: (counts[pair], pair))
        else:
            best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        state = {word: _merge(tokens, best, how) for word, tokens in state.items()}
    return merges


def _bpe_encode(word: str, merges: list[Pair], order: str = "learned",
                how: str = "all") -> list[str]:
    """The reference encoder: the merges applied to the word's characters in the order they were
    learned; the mistakes: ``order="reversed"``, ``"frequency"`` (the known pair most frequent in
    the word first), ``how`` as in ``_merge``."""
    tokens = list(word)
    if order == "frequency":
        rank = {pair: k for k, pair in enumerate(merges)}
        while True:
            counts = Counter(p for p in zip(tokens, tokens[1:]) if p in rank)
            if not counts:
                return tokens
            tokens = _merge(tokens, min(counts, key=lambda p: (-counts[p], rank[p])), how)
    for pair in merges[::-1] if order == "reversed" else merges:
        tokens = _merge(tokens, pair, how)
    return tokens


def _corpus_page(name: str) -> str:
    from pydoc_data.topics import topics  # a page of chapter 1's corpus

    return topics[name]


def _merge_list(got, inputs: str) -> list[Pair]:
    """The student's merges as a list of (left, right) string pairs, or a Failure saying why."""
    if not isinstance(got, (list, tuple)):
        raise Failure(f"expected a list of merges, pairs such as ('l', 'o'), for {inputs}, got "
                      f"{describe(got)}")
    for item in got:
        if isinstance(item, str):
            raise Failure(f"expected each merge as the pair it joins, such as ('l', 'o'), got the "
                          f"string {item!r} for {inputs}: return the pair, not the new token")
        if (not isinstance(item, (list, tuple)) or len(item) != 2
                or not all(isinstance(token, str) for token in item)):
            raise Failure(f"expected each merge as a pair of two strings, such as ('l', 'o'), "
                          f"got {describe(item)} for {inputs}")
    return [tuple(item) for item in got]


def _short(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:30]!r}... ({len(text)} characters)"


LEARN_MISTAKES = {  # hint -> the keyword arguments of _learn_bpe that make that mistake
    "weight each pair by how often its word occurs: count a pair once per occurrence of the word "
    "in the text, not once per distinct word": {"count": "distinct"},
    "count pairs inside each word only: split the text on whitespace, so that no merge joins the "
    "end of one word to the start of the next": {"words": "joined"},
    "split the text into words on whitespace first (text.split()): spaces and line breaks are not "
    "tokens, and no merge crosses a word boundary": {"words": "chars"},
    "merge every occurrence of the pair in a word, left to right, not only the first one":
        {"how": "first"},
    "after merging a pair, skip both of its tokens: in ['a', 'a', 'a'] the pair ('a', 'a') "
    "merges once, giving ['aa', 'a']": {"how": "overlap"},
    "break ties between equally frequent pairs by taking the smallest pair in Python's order "
    "(('a', 'b') before ('b', 'a')), not the largest": {"tie": "largest"},
    "break ties between equally frequent pairs by taking the smallest pair in Python's order "
    "(('a', 'b') before ('b', 'a')), not the first one counted": {"tie": "first"},
}

LEARN_CASES = [  # (text, n_merges), each one telling some mistake apart
    ("low " * 5 + "lower " * 2 + "newest " * 6 + "widest " * 3, 10),
    ("xy xy xy ab ab cd", 3),  # weighted counts: ('x', 'y') first; per distinct word: a tie
    ("aaa aaa aaaa", 3),  # overlapping pairs
    ("ca bc ca bc", 2),  # across word boundaries, ('a', 'b') would win
    ("ba ab", 1),  # a tie
    ("hello", 10),  # only 4 merges are possible
]


def _explain_merges(text: str, n_merges: int, got: list[Pair], expected: list[Pair]) -> str:
    """Where ``got`` first leaves ``expected``, with the counts of both pairs at that step."""
    inputs = f"text {_short(text)} and n_merges={n_merges}"
    k = next((k for k, (g, e) in enumerate(zip(got, expected)) if g != e), None)
    if k is None:
        return (f"for {inputs} expected {len(expected)} merges, got {len(got)} (stop early only "
                f"when no word has two tokens left)")
    freq = Counter(text.split())
    state = {word: list(word) for word in freq}
    for pair in expected[:k]:
        state = {word: _merge(tokens, pair) for word, tokens in state.items()}
    counts = Counter()
    for word, tokens in state.items():
        for pair in zip(tokens, tokens[1:]):
            counts[pair] += freq[word]
    return (f"for {inputs}, merge {k} should be {expected[k]} (counted {counts[expected[k]]} "
            f"times at that step) but yours is {got[k]} (counted {counts[got[k]]} times)")


@check("learn byte-pair encoding merges")
def check_learn_bpe(student_fn: Callable[[str, int], list]):
    """``student_fn(text, n_merges)`` -> the merges, ``(left, right)`` pairs in the order learned:
    words split on whitespace, pairs counted in each word weighted by how often it occurs, the
    most frequent pair merged everywhere, ties to the smallest pair, early stop when none is
    left. Compared with ``_learn_bpe`` on small texts and a page of chapter 1's corpus."""
    cases = []
    for text, n_merges in [*LEARN_CASES, (_corpus_page("assert"), 40)]:
        got = _merge_list(call(student_fn, text, n_merges), f"text {_short(text)}")
        expected = _learn_bpe(text, n_merges)
        shown = "" if got == expected else _explain_merges(text, n_merges, got, expected)
        cases.append(Case(got, expected, {hint: _learn_bpe(text, n_merges, **mistake)
                                          for hint, mistake in LEARN_MISTAKES.items()}, shown))
    diagnose(cases)


ENCODE_MISTAKES = {  # hint -> the keyword arguments of _bpe_encode that make that mistake
    "apply the merges in the order they were learned (merges[0] first), not the known pair "
    "most frequent in the word first": {"order": "frequency"},
    "apply the merges in the order they were learned, first to last, not last to first":
        {"order": "reversed"},
    "merge every occurrence of each pair in the word, left to right, not only the first one":
        {"how": "first"},
    "after merging a pair, skip both of its tokens: with the merge ('a', 'a'), 'aaa' becomes "
    "['aa', 'a']": {"how": "overlap"},
}


def _encode_cases() -> list[tuple[str, list[Pair]]]:
    sennrich = _learn_bpe(*LEARN_CASES[0])
    corpus = _learn_bpe(_corpus_page("assert"), 40)
    new_words = list(dict.fromkeys(_corpus_page("if").split()))[:25]  # from another page
    return [*((word, sennrich) for word in ("lowest", "newer", "wider", "low", "zoo")),
            ("abc", [("a", "b"), ("b", "c")]),  # the order matters: ab c, not a bc
            ("ababc", [("b", "c"), ("a", "b")]),  # ('a', 'b') is the more frequent in the word
            ("abcbc", [("a", "b"), ("b", "c")]),
            ("aaaaa", [("a", "a")]),  # overlapping pairs
            *((word, corpus) for word in new_words)]


@check("encode a word with learned BPE merges")
def check_bpe_encode(student_fn: Callable[[str, list], list]):
    """``student_fn(word, merges)`` -> the word's tokens: its characters, with each merge applied
    everywhere in the order learned. Compared with ``_bpe_encode`` on hand-made and learned
    merges."""
    cases = []
    for word, merges in _encode_cases():
        got = call(student_fn, word, list(merges))
        inputs = f"word {word!r} with {len(merges)} merge{'s' * (len(merges) != 1)}"
        if not isinstance(got, (list, tuple)) or not all(isinstance(t, str) for t in got):
            what = f"the string {got!r}" if isinstance(got, str) else describe(got)
            raise Failure(f"expected a list of token strings, such as ['low', 'est'], for "
                          f"{inputs}, got {what}")
        got, expected = list(got), _bpe_encode(word, merges)
        given = f" {merges}" if len(merges) < 3 else ""
        shown = "" if got == expected else f"for {inputs}{given} expected {expected}, got {got}"
        cases.append(Case(got, expected, {hint: _bpe_encode(word, merges, **mistake)
                                          for hint, mistake in ENCODE_MISTAKES.items()}, shown))
    diagnose(cases)


def _encodings(max_len: int, d_model: int, exponent: str = "2i",
               layout: str = "interleaved") -> torch.Tensor:
    """The paper's ``(max_len, D)`` sinusoidal encodings in float64, the truth float32 rounds;
    the mistakes: ``exponent="i"`` (the pair index i where 2i belongs) and ``layout="halves"``
    (all sines, then all cosines)."""
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    step = 2 if exponent == "2i" else 1
    angle = position / 10000 ** (torch.arange(0, d_model // 2, dtype=torch.float64) * step
                                 / d_model)  # (max_len, D/2)
    if layout == "halves":
        return torch.cat([angle.sin(), angle.cos()], dim=-1)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)  # sin, cos, sin, ...


@check("sinusoidal positional encoding")
def check_sinusoidal_encoding(student_fn: Callable[[int, int], torch.Tensor]):
    """``student_fn(max_len, d_model)`` must return the paper's ``(max_len, D)`` encodings."""
    cases = []
    for max_len, d_model in [(4, 2), (10, 8), (50, 16), (128, 64)]:
        got, expected = call(student_fn, max_len, d_model), _encodings(max_len, d_model)
        try:  # float32 rounds angles up to 127 by about 1e-5
            compare(got, expected, {"max_len": max_len, "d_model": d_model}, atol=1e-4)
            shown = ""
        except Failure as failure:
            shown = str(failure)
        cases.append(Case(got, expected, {
            "the exponent is 2i/D, with 2i the even dimension of pair i: pair 1 of D = 8 turns at "
            "1/10000^(2/8) = 1/10": _encodings(max_len, d_model, exponent="i"),
            "interleave the sines and cosines (sin in dimension 2i, cos in 2i + 1), not all sines "
            "then all cosines": _encodings(max_len, d_model, layout="halves"),
            "two mistakes: the exponent is 2i/D, not i/D; and the sines and cosines interleave":
                _encodings(max_len, d_model, exponent="i", layout="halves"),
        }, shown))
    diagnose(cases, atol=1e-4)


@check("pad a batch of token-id sequences", seed=0)
def check_pad_batch(student_fn: Callable, generator):
    """``student_fn(sequences, pad_id)`` -> ``(ids (B, T) long, lengths (B,) long)``."""
    cases = [([[5, 6, 7], [8]], 0), ([[1], [2], [3]], 9), ([[4, 4]], 0),
             ([[1, 2], [3], [4, 2, 6]], 2)]  # ragged, and the pad id is also a real token
    for _ in range(3):
        lengths = torch.randint(1, 8, (4,), generator=generator).tolist()
        cases.append(([torch.randint(1, 50, (n,), generator=generator).tolist()
                       for n in lengths], 0))
    for sequences, pad_id in cases:
        got = unpack(call(student_fn, sequences, pad_id), "ids, lengths")
        inputs = {"sequences": sequences, "pad_id": pad_id}
        rows = [torch.tensor(s) for s in sequences]
        ids = pad_sequence(rows, batch_first=True, padding_value=pad_id)  # (B, T)
        compare(got[0], ids, inputs, what="ids", long=True, mistakes={
            "pad with pad_id, not a hard-coded 0": pad_sequence(rows, batch_first=True)})
        compare(got[1], torch.tensor([len(s) for s in sequences]), inputs, what="lengths",
                long=True)


@check("relative position as a linear map")
def check_relative_position_matrix(student_fn: Callable[[int, int], torch.Tensor]):
    """``student_fn(offset, d_model)`` must return M ``(D, D)`` with PE[p + offset] = M @ PE[p]."""
    for offset, d_model in [(1, 2), (3, 8), (10, 16), (25, 64)]:
        got = call(student_fn, offset, d_model)
        inputs = {"offset": offset, "d_model": d_model}
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (d_model, d_model):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise Failure(f"expected a ({d_model}, {d_model}) tensor for {inputs}, got {shape}")
        pe = _encodings(200, d_model)
        shifted = pe[:-offset] @ got.detach().double().T  # rows: M @ PE[p]
        compare(shifted, pe[offset:], inputs, atol=1e-3, rtol=1e-3)


@check("whole-word fraction")
def check_whole_word_fraction(student_fn: Callable):
    """``student_fn(tokenizer, words)`` -> fraction of ``words`` encoded as exactly one token,
    for two small BPE tokenizers (``tokenizers`` package) trained on Python's help pages."""
    from pydoc_data.topics import topics

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    words = ["function", "the", "Transformer", "tokenization", "def", "xyzzy", "return", "a"]
    for vocab_size in (300, 3000):
        tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["[UNK]"],
                                      show_progress=False)
        tokenizer.train_from_iterator(list(topics.values())[::4], trainer)
        for sample in (words, words[:3], ["function"]):
            inputs = f"{len(sample)} words with a {vocab_size}-token BPE"
            got = python_number(call(student_fn, tokenizer, sample), inputs, (int, float))
            expected = sum(len(e.ids) == 1 for e in tokenizer.encode_batch(sample)) / len(sample)
            if abs(got - expected) > 1e-9:
                raise Failure(f"for {inputs} expected {expected:.3f}, got {got:.3f}")
