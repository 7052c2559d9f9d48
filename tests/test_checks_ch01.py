"""Chapter 1's exercise checks accept right answers and explain the typical wrong ones."""

import math
from collections import Counter

import torch

import transformer_lib as tl
from transformer_lib import checks


def right_pad_batch(sequences, pad_id):
    ids = torch.full((len(sequences), max(map(len, sequences))), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq)
    return ids, torch.tensor([len(s) for s in sequences])


def right_relative_matrix(offset, d_model):
    matrix = torch.zeros(d_model, d_model)
    for i in range(d_model // 2):
        angle = offset / 10000 ** (2 * i / d_model)
        c, s = math.cos(angle), math.sin(angle)
        matrix[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, s], [-s, c]])
    return matrix


def bpe_learner(count_per_word=True, words_of=str.split, tie_first=False, overlap=False):
    """A learner written the way a student would, right by default, with one mistake on demand."""

    def learn_bpe(text, n_merges):
        words = Counter(words_of(text))
        tokens = {word: list(word) for word in words}
        merges = []
        for _ in range(n_merges):
            counts = Counter()
            for word, toks in tokens.items():
                for pair in zip(toks, toks[1:]):
                    counts[pair] += words[word] if count_per_word else 1
            if not counts:
                break
            best = (max(counts, key=counts.get) if tie_first
                    else min(counts, key=lambda p: (-counts[p], p)))
            merges.append(best)
            tokens = {word: merge_pair(toks, best, overlap) for word, toks in tokens.items()}
        return merges

    return learn_bpe


def merge_pair(tokens, pair, overlap=False):
    out, i = [], 0
    while i < len(tokens):
        if tuple(tokens[i : i + 2]) == pair:
            out.append(tokens[i] + tokens[i + 1])
            i += 1 if overlap else 2
        else:
            out.append(tokens[i])
            i += 1
    return out


def right_bpe_encode(word, merges):
    tokens = list(word)
    for pair in merges:
        tokens = merge_pair(tokens, tuple(pair))
    return tokens


def encode_by_frequency_in_word(word, merges):
    """Merges the known pair most frequent in the word first, not the first learned."""
    tokens = list(word)
    while known := Counter(p for p in zip(tokens, tokens[1:]) if p in merges):
        tokens = merge_pair(tokens, max(known, key=known.get))
    return tokens


def encode_first_occurrence_only(word, merges):
    tokens = list(word)
    for pair in merges:
        for i in range(len(tokens) - 1):
            if (tokens[i], tokens[i + 1]) == pair:
                tokens[i : i + 2] = [tokens[i] + tokens[i + 1]]
                break
    return tokens


RIGHT = [
    (checks.check_learn_bpe, bpe_learner()),
    (checks.check_bpe_encode, right_bpe_encode),
    (checks.check_sinusoidal_encoding, tl.sinusoidal_positional_encoding),
    (checks.check_pad_batch, right_pad_batch),
    (checks.check_relative_position_matrix, right_relative_matrix),
    (checks.check_whole_word_fraction,
     lambda tok, words: sum(len(tok.encode(w).ids) == 1 for w in words) / len(words)),
]

WRONG = [
    (checks.check_learn_bpe, bpe_learner(count_per_word=False), "weight each pair"),
    (checks.check_learn_bpe, bpe_learner(words_of=lambda t: ["".join(t.split())]),
     "count pairs inside each word only"),
    (checks.check_learn_bpe, bpe_learner(tie_first=True), "not the first one counted"),
    (checks.check_learn_bpe, bpe_learner(overlap=True), "skip both of its tokens"),
    (checks.check_learn_bpe, bpe_learner(words_of=lambda text: [text]),
     "split the text into words"),
    (checks.check_learn_bpe, lambda text, n: ["".join(p) for p in bpe_learner()(text, n)],
     "return the pair, not the new token"),
    (checks.check_learn_bpe, lambda text, n: bpe_learner()(text, n)[: n - 1],
     "expected 10 merges, got 9"),
    (checks.check_bpe_encode, encode_by_frequency_in_word, "in the order they were learned"),
    (checks.check_bpe_encode, lambda w, m: right_bpe_encode(w, m[::-1]), "not last to first"),
    (checks.check_bpe_encode, encode_first_occurrence_only, "not only the first one"),
    (checks.check_bpe_encode, lambda w, m: "".join(right_bpe_encode(w, m)), "the string 'low"),
    (checks.check_sinusoidal_encoding,
     lambda n, d: tl.sinusoidal_positional_encoding(n, d).view(n, d // 2, 2).transpose(1, 2)
     .reshape(n, d), "not all sines then all cosines"),
    (checks.check_sinusoidal_encoding, lambda n, d: tl.sinusoidal_positional_encoding(n, d).T,
     "wrong shape"),
    (checks.check_sinusoidal_encoding,
     lambda n, d: tl.sinusoidal_positional_encoding(n, d, base=100),
     "wrong values"),
    (checks.check_pad_batch, lambda s, p: right_pad_batch(s, p)[0], "expected a tuple"),
    (checks.check_pad_batch,
     lambda s, p: (right_pad_batch(s, p)[0].float(), right_pad_batch(s, p)[1]),
     "must have dtype torch.long"),
    (checks.check_pad_batch, lambda s, p: right_pad_batch(s, 0), "not a hard-coded 0"),
    (checks.check_relative_position_matrix, lambda k, d: torch.eye(d), "wrong values"),
    (checks.check_relative_position_matrix,
     lambda k, d: right_relative_matrix(k, d).T, "wrong values"),
    (checks.check_relative_position_matrix, lambda k, d: torch.eye(d + 1), "expected a ("),
    (checks.check_whole_word_fraction, lambda tok, words: 1 / len(words), "expected"),
    (checks.check_whole_word_fraction,
     lambda tok, words: sum(len(tok.encode(w).ids) == 1 for w in words), "expected"),
    (checks.check_whole_word_fraction, lambda tok, words: len(words) > 0, "expected a number"),
]


def test_the_bpe_reference_learns_the_merges_worked_out_by_hand():
    from transformer_lib.checks.ch01 import _bpe_encode, _learn_bpe

    assert _learn_bpe("aaa aaa aaaa", 3) == [("a", "a"), ("aa", "a"), ("aa", "aa")]
    assert _learn_bpe("xy xy xy ab ab cd", 3) == [("x", "y"), ("a", "b"), ("c", "d")]
    assert _learn_bpe("ca bc ca bc", 2) == [("b", "c"), ("c", "a")]  # never ('a', 'b')
    assert _learn_bpe("ba ab", 1) == [("a", "b")]  # a tie: the smaller pair
    assert _learn_bpe("hello", 10) == [("e", "l"), ("el", "l"), ("ell", "o"), ("h", "ello")]
    assert _bpe_encode("ababc", [("b", "c"), ("a", "b")]) == ["ab", "a", "bc"]
    assert _bpe_encode("aaaaa", [("a", "a")]) == ["aa", "aa", "a"]


def test_a_crashing_bpe_answer_is_explained_without_a_traceback():
    learn = checks.check_learn_bpe(lambda text, n_merges: max([]))
    encode = checks.check_bpe_encode(lambda word, merges: merges[len(word)])
    for result, error in ((learn, "ValueError"), (encode, "IndexError")):
        assert not result and f"your code raised {error}" in result.message
        assert "Traceback" not in result.message
