"""Automatic checks for the exercises.

Each ``check_*`` calls the student's function on several inputs, compares the result with the
reference, prints what differs in plain words, and returns a ``CheckResult`` that is truthy only
when everything matched. A check never raises because of a wrong answer: an exception from the
student's code is reported as feedback. Use them as ``assert check_xxx(my_function)``.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch

from transformer_lib.attention import causal_mask, scaled_dot_product_attention
from transformer_lib.embeddings import sinusoidal_positional_encoding


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a check: ``passed`` and the feedback shown to the student."""

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "PASSED" if self.passed else "NOT YET"
        return f"[{mark}] {self.name}: {self.message}"


class _Failure(Exception):
    """Raised inside a check to stop at the first problem and report it."""


def _call(fn: Callable, *args, **kwargs):
    """Run the student's code; turn any exception into feedback."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise _Failure("not implemented yet (the function raises NotImplementedError)") from None
    except Exception as error:  # noqa: BLE001 - every student error becomes feedback
        frames = traceback.extract_tb(error.__traceback__)[1:]  # skip this function's frame
        yours = [f for f in frames if "site-packages" not in f.filename and f.filename != __file__]
        where = f" (in your line {yours[-1].line!r})" if yours and yours[-1].line else ""
        raise _Failure(f"your code raised {type(error).__name__}: {error}{where}") from None


def _format_args(args: dict) -> str:
    def show(v):
        return f"tensor of shape {tuple(v.shape)}" if isinstance(v, torch.Tensor) else repr(v)

    return ", ".join(f"{k}={show(v)}" for k, v in args.items())


def _compare(got, expected: torch.Tensor, inputs: dict, atol: float = 1e-5, rtol: float = 1e-4):
    """Raise _Failure describing the first difference between got and expected."""
    on = f" for {_format_args(inputs)}" if inputs else ""
    if not isinstance(got, torch.Tensor):
        raise _Failure(f"expected a torch.Tensor{on}, got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected.shape):
        raise _Failure(f"wrong shape{on}: expected {tuple(expected.shape)}, got {tuple(got.shape)}")
    if expected.dtype == torch.bool:
        if got.dtype != torch.bool:
            raise _Failure(f"expected a bool tensor{on}, got dtype {got.dtype}")
        wrong = (got != expected).nonzero()
        if len(wrong):
            where = tuple(wrong[0].tolist())
            raise _Failure(
                f"wrong values{on}: {len(wrong)} entries differ, first at index {where} "
                f"(expected {bool(expected[where])}, got {bool(got[where])})"
            )
        return
    got, expected = got.detach().to("cpu", torch.float64), expected.to(torch.float64)
    if torch.isnan(got).any() and not torch.isnan(expected).any():
        raise _Failure(f"your result contains NaN{on}")
    if not torch.allclose(got, expected, atol=atol, rtol=rtol):
        diff = (got - expected).abs()
        where = tuple(torch.nonzero(diff == diff.max())[0].tolist())
        raise _Failure(
            f"wrong values{on}: largest difference {diff.max():.3g} at index {where} "
            f"(expected {expected[where]:.5g}, got {got[where]:.5g})"
        )


def _run(name: str, body: Callable[[], str | None]) -> CheckResult:
    try:
        body()
        result = CheckResult(name, True, "all cases match the reference.")
    except _Failure as failure:
        result = CheckResult(name, False, str(failure))
    print(result)
    return result


# Chapter 1 ------------------------------------------------------------------------------------


def check_sinusoidal_encoding(student_fn: Callable[[int, int], torch.Tensor]) -> CheckResult:
    """``student_fn(max_len, d_model)`` must return the paper's ``(max_len, D)`` encodings."""

    def body():
        for max_len, d_model in [(4, 2), (10, 8), (50, 16), (128, 64)]:
            got = _call(student_fn, max_len, d_model)
            expected = sinusoidal_positional_encoding(max_len, d_model)
            _compare(got, expected, {"max_len": max_len, "d_model": d_model})

    return _run("sinusoidal positional encoding", body)


def check_pad_batch(student_fn: Callable) -> CheckResult:
    """``student_fn(sequences, pad_id)`` -> ``(ids (B, T) long, lengths (B,) long)``."""

    def reference(sequences, pad_id):
        longest = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        return ids, torch.tensor([len(s) for s in sequences])

    def body():
        generator = torch.Generator().manual_seed(0)
        cases = [([[5, 6, 7], [8]], 0), ([[1], [2], [3]], 9), ([[4, 4]], 0)]
        for _ in range(3):
            lengths = torch.randint(1, 8, (4,), generator=generator).tolist()
            cases.append(([torch.randint(1, 50, (n,), generator=generator).tolist()
                           for n in lengths], 0))
        for sequences, pad_id in cases:
            got = _call(student_fn, [list(s) for s in sequences], pad_id)
            if not (isinstance(got, tuple) and len(got) == 2):
                raise _Failure(f"expected a tuple (ids, lengths), got {type(got).__name__}")
            ids, lengths = reference(sequences, pad_id)
            inputs = {"sequences": sequences, "pad_id": pad_id}
            for part, value, expected in (("ids", got[0], ids), ("lengths", got[1], lengths)):
                if isinstance(value, torch.Tensor) and value.dtype != torch.long:
                    raise _Failure(f"{part} must have dtype torch.long, got {value.dtype}")
                try:
                    _compare(value, expected, inputs)
                except _Failure as failure:
                    raise _Failure(f"{part}: {failure}") from None

    return _run("pad a batch of token-id sequences", body)


def check_relative_position_matrix(student_fn: Callable[[int, int], torch.Tensor]) -> CheckResult:
    """``student_fn(offset, d_model)`` must return M ``(D, D)`` with PE[p + offset] = M @ PE[p]."""

    def body():
        for offset, d_model in [(1, 2), (3, 8), (10, 16), (25, 64)]:
            got = _call(student_fn, offset, d_model)
            inputs = {"offset": offset, "d_model": d_model}
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != (d_model, d_model):
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                raise _Failure(f"expected a ({d_model}, {d_model}) tensor for {inputs}, got {shape}")
            pe = sinusoidal_positional_encoding(200, d_model)
            shifted = pe[:-offset] @ got.detach().float().T  # rows: M @ PE[p]
            _compare(shifted, pe[offset:], inputs, atol=1e-3, rtol=1e-3)

    return _run("relative position as a linear map", body)


# Chapter 2 ------------------------------------------------------------------------------------


def check_attention_weights(student_fn: Callable) -> CheckResult:
    """``student_fn(q (..., T, Dh), k (..., S, Dh))`` -> softmax(q k^T / sqrt(Dh)) ``(..., T, S)``."""

    def body():
        generator = torch.Generator().manual_seed(1)
        for shape_q, shape_k in [((3, 4), (5, 4)), ((2, 6, 16), (2, 7, 16)), ((2, 3, 4, 64), (2, 3, 4, 64))]:
            q = torch.randn(shape_q, generator=generator) * 2
            k = torch.randn(shape_k, generator=generator) * 2
            got = _call(student_fn, q.clone(), k.clone())
            scores = q @ k.transpose(-2, -1)
            expected = (scores / math.sqrt(q.shape[-1])).softmax(-1)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape:
                hints = {
                    "you forgot to divide the scores by sqrt(d_k)": scores.softmax(-1),
                    "you forgot the softmax (rows must sum to 1)": scores / math.sqrt(q.shape[-1]),
                    "the softmax runs over the wrong dimension: each query's row over the keys "
                    "must sum to 1 (use dim=-1)": (scores / math.sqrt(q.shape[-1])).softmax(-2),
                }
                for hint, wrong in hints.items():
                    if torch.allclose(got.detach().float(), wrong, atol=1e-5):
                        raise _Failure(hint)
            _compare(got, expected, {"q": q, "k": k})

    return _run("attention weights", body)


def check_causal_mask(student_fn: Callable[[int], torch.Tensor]) -> CheckResult:
    """``student_fn(T)`` -> ``(T, T)`` bool, True where query t may attend to key s (s <= t)."""

    def body():
        for size in (1, 2, 5, 12):
            got = _call(student_fn, size)
            expected = causal_mask(size)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == torch.bool:
                if (got & ~expected).any():
                    t, s = (got & ~expected).nonzero()[0].tolist()
                    raise _Failure(
                        f"the mask leaks the future: for T={size}, query {t} may attend to key {s}"
                    )
                if not got.diagonal().all():
                    raise _Failure("each position must be allowed to attend to itself (diagonal True)")
            _compare(got, expected, {"T": size})

    return _run("causal mask", body)


def check_split_heads(student_fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """``student_fn(x (B, T, D), n_heads)`` -> ``(B, H, T, Dh)``, head h holding features h*Dh.."""

    def body():
        generator = torch.Generator().manual_seed(2)
        for batch, length, d_model, n_heads in [(1, 3, 4, 2), (2, 5, 12, 3), (3, 7, 64, 8)]:
            x = torch.randn(batch, length, d_model, generator=generator)
            got = _call(student_fn, x.clone(), n_heads)
            expected = x.view(batch, length, n_heads, d_model // n_heads).transpose(1, 2)
            wrong = x.view(batch, n_heads, length, d_model // n_heads)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape:
                if torch.equal(got, wrong) and n_heads > 1:
                    raise _Failure(
                        "the shape is right but heads mix up positions: reshape to "
                        "(B, T, H, Dh) first, then swap the T and H axes"
                    )
            _compare(got, expected, {"x": x, "n_heads": n_heads})

    return _run("split into heads", body)


def check_masked_attention(student_fn: Callable) -> CheckResult:
    """``student_fn(q, k, v, mask)`` -> attention output ``(..., T, Dv)`` with a bool mask."""

    def body():
        generator = torch.Generator().manual_seed(3)
        for batch, length, dim in [(1, 4, 8), (2, 6, 16)]:
            q, k, v = (torch.randn(batch, length, dim, generator=generator) for _ in range(3))
            mask = causal_mask(length)
            got = _call(student_fn, q, k, v, mask)
            expected, _ = scaled_dot_product_attention(q, k, v, mask)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape:
                v_changed = v.clone()
                v_changed[:, -1] += 100.0  # the last position is in every query's future but its own
                again = _call(student_fn, q, k, v_changed, mask)
                if isinstance(again, torch.Tensor) and not torch.allclose(again[:, :-1], got[:, :-1]):
                    raise _Failure("the mask leaks the future: changing the last value changed "
                                   "the outputs at earlier positions")
            _compare(got, expected, {"q": q, "k": k, "v": v, "mask": mask})

    return _run("masked attention", body)


def check_softmax_saturation(student_fn: Callable[[int, bool], float]) -> CheckResult:
    """``student_fn(d_k, scaled)`` -> mean over random rows of the largest attention weight.

    Rows come from 200 sets of 8 unit-variance queries and keys of width d_k; the student's
    random draws differ from ours, so values are compared within 0.05.
    """

    def reference(d_k, scaled):
        generator = torch.Generator().manual_seed(1234)
        q = torch.randn(200, 8, d_k, generator=generator)  # (N, T, Dh)
        k = torch.randn(200, 8, d_k, generator=generator)  # (N, S, Dh)
        scores = q @ k.transpose(-2, -1) / (math.sqrt(d_k) if scaled else 1.0)  # (N, T, S)
        return scores.softmax(-1).max(-1).values.mean().item()

    def body():
        for d_k in (4, 64, 1024):
            for scaled in (False, True):
                got = _call(student_fn, d_k, scaled)
                inputs = f"d_k={d_k}, scaled={scaled}"
                if not isinstance(got, float):
                    raise _Failure(f"expected a Python float for {inputs}, got "
                                   f"{type(got).__name__} (use .item())")
                expected = reference(d_k, scaled)
                if abs(got - expected) > 0.05:
                    hint = ""
                    if scaled and abs(got - reference(d_k, False)) <= 0.05:
                        hint = ": it looks like the scores were not divided by sqrt(d_k)"
                    elif not scaled and abs(got - reference(d_k, True)) <= 0.05:
                        hint = ": it looks like the scores were scaled although scaled=False"
                    raise _Failure(f"for {inputs} expected about {expected:.2f}, got {got:.3f}{hint}")

    return _run("softmax saturation experiment", body)


def check_whole_word_fraction(student_fn: Callable) -> CheckResult:
    """``student_fn(tokenizer, words)`` -> fraction of ``words`` encoded as exactly one token.

    Uses two small BPE tokenizers (``tokenizers`` package) trained on Python's help pages.
    """
    from pydoc_data.topics import topics
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    texts = list(topics.values())[::4]
    words = ["function", "the", "Transformer", "tokenization", "def", "xyzzy", "return", "a"]

    def train(vocab_size):
        tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["[UNK]"],
                                      show_progress=False)
        tokenizer.train_from_iterator(texts, trainer)
        return tokenizer

    def body():
        for vocab_size in (300, 3000):
            tokenizer = train(vocab_size)
            for sample in (words, words[:3], ["function"]):
                got = _call(student_fn, tokenizer, list(sample))
                expected = sum(len(e.ids) == 1 for e in tokenizer.encode_batch(sample)) / len(sample)
                inputs = f"{len(sample)} words with a {vocab_size}-token BPE"
                if not isinstance(got, (float, int)) or isinstance(got, bool):
                    raise _Failure(f"expected a number for {inputs}, got {type(got).__name__}")
                if abs(got - expected) > 1e-9:
                    raise _Failure(f"for {inputs} expected {expected:.3f}, got {got:.3f}")

    return _run("whole-word fraction", body)
