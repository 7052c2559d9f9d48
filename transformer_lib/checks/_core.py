"""What every exercise check shares: ``check`` makes a check of a body that raises ``Failure`` at
the first problem; ``call`` runs the student's code; ``compare`` and ``diagnose`` describe what
differs, with a known mistake's hint."""

import contextvars
import functools
import inspect
import math
import operator
import sysconfig
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

_NOT_YOURS = tuple({str(Path(__file__).resolve().parents[1]),  # this library, Python's own and
                    *(sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib"))})
_NOTHING = object()
_last_returned = contextvars.ContextVar("last_returned", default=_NOTHING)


class CheckFailed(AssertionError):
    """Raised by ``CheckResult.assert_passed`` with the check's report."""


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a check: ``passed`` and the feedback shown to the student. A notebook shows
    it as one line; ``assert_passed()`` prints that line, or raises ``CheckFailed`` with it."""

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"[{'PASSED' if self.passed else 'NOT YET'}] {self.name}: {self.message}"

    __repr__ = __str__

    def assert_passed(self) -> None:
        """Print the report if the check passed; else raise CheckFailed carrying it."""
        if not self.passed:
            raise CheckFailed(str(self))
        print(self)


class Failure(Exception):
    """Raised inside a check to stop at the first problem and report it."""


def describe(value) -> str:
    """A value in a few words, for messages: ``None``, ``a tensor of shape (2, 3)``, ..."""
    if isinstance(value, torch.Tensor):
        return "a 0-dim tensor" if value.dim() == 0 else f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple, set, dict)):
        kinds = sorted({type(item).__name__ for item in value})
        return (f"a {type(value).__name__} of {len(value)} item{'s' * (len(value) != 1)}"
                + (f" ({', '.join(kinds)})" if kinds else ""))
    shape = getattr(value, "shape", None)
    if shape is not None and type(value).__module__.startswith("numpy"):
        return f"a NumPy array of shape {tuple(shape)}"
    return "None" if value is None else f"a {type(value).__name__}"


def _snapshot(value):
    """A copy of the tensors in ``value`` (also inside lists, tuples and dicts), else None."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(item) for item in value) if any(
            isinstance(item, (torch.Tensor, list, tuple, int, float)) for item in value) else None
    if isinstance(value, dict):
        return {key: _snapshot(item) for key, item in value.items()}
    return value if isinstance(value, (int, float, str)) else None


def _unchanged(before, after) -> bool:
    if before is None:
        return True
    if isinstance(before, torch.Tensor):
        return (isinstance(after, torch.Tensor) and after.shape == before.shape
                and bool(((after.detach() == before) | (after.isnan() & before.isnan())).all()))
    if isinstance(before, (list, tuple, dict)):
        if not isinstance(after, type(before)) or len(after) != len(before):
            return False
        if isinstance(before, dict):
            return before.keys() == after.keys() and all(
                _unchanged(before[key], after[key]) for key in before)
        return all(_unchanged(b, a) for b, a in zip(before, after))
    return before == after


def _argument_names(fn: Callable, args: tuple, kwargs: dict) -> list[str]:
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs).arguments
        return list(bound)[: len(args)] + list(kwargs)
    except (TypeError, ValueError):
        return [f"argument {index + 1}" for index in range(len(args))] + list(kwargs)


def call(fn: Callable, *args, **kwargs):
    """Run the student's code; turn any exception, and any change it makes to its inputs, into
    feedback."""
    inputs = (*args, *kwargs.values())
    before = [_snapshot(value) for value in inputs]
    try:
        returned = fn(*args, **kwargs)
    except NotImplementedError:
        raise Failure("not implemented yet (the function raises NotImplementedError)") from None
    except Exception as error:  # noqa: BLE001 - every student error becomes feedback
        frames = traceback.extract_tb(error.__traceback__)[1:]  # skip this function's frame
        yours = [f for f in frames if not f.filename.startswith(_NOT_YOURS)
                 and not f.filename.startswith("<frozen")]
        where = f" (in your line {yours[-1].line!r})" if yours and yours[-1].line else ""
        raise Failure(f"your code raised {type(error).__name__}: {error}{where}") from None
    for name, old, new in zip(_argument_names(fn, args, kwargs), before, inputs):
        if not _unchanged(old, new):
            raise Failure(f"your function changed its input {name} in place; leave the inputs "
                          f"as they are and return a new result (e.g. x = x + 1, not x += 1)")
    _last_returned.set(returned)
    return returned


def check(name: str, seed: int | None = None) -> Callable[[Callable], Callable]:
    """Make ``body(student_fn)``, which raises Failure at the first problem, the check ``name`` that
    returns a ``CheckResult``; with ``seed``, ``body`` also gets a seeded generator. An exception
    while reading the student's result is feedback too."""

    def decorate(body: Callable[..., None]) -> Callable[[Callable], CheckResult]:
        @functools.wraps(body)
        def checked(student_fn: Callable) -> CheckResult:
            generator = () if seed is None else (torch.Generator().manual_seed(seed),)
            token = _last_returned.set(_NOTHING)
            try:
                body(student_fn, *generator)
                return CheckResult(name, True, "all cases match the reference.")
            except Failure as failure:
                return CheckResult(name, False, str(failure))
            except Exception as error:  # noqa: BLE001 - an unreadable answer is feedback too
                returned = _last_returned.get()
                what = ("your function's result" if returned is _NOTHING
                        else f"your function returned {describe(returned)}, which")
                return CheckResult(name, False, f"{what} could not be read as this exercise "
                                   f"asks ({type(error).__name__}: {error})")
            finally:
                _last_returned.reset(token)

        student_fn = list(inspect.signature(body).parameters.values())[:1]
        checked.__signature__ = inspect.Signature(student_fn, return_annotation="CheckResult")
        return checked

    return decorate


def format_args(args: dict) -> str:
    return ", ".join(f"{k}=tensor of shape {tuple(v.shape)}" if isinstance(v, torch.Tensor)
                     else f"{k}={v!r}" for k, v in args.items())


def matches(got, wrong, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Whether ``got`` equals ``wrong``: tensors of one shape or numbers within the tolerances
    (NaN and infinities alike), tuples and lists item by item, anything else by ``==``."""
    if isinstance(wrong, torch.Tensor):
        return isinstance(got, torch.Tensor) and got.shape == wrong.shape and torch.allclose(
            got.detach().cpu().double(), wrong.detach().cpu().double(), atol=atol, rtol=rtol,
            equal_nan=True)
    if isinstance(wrong, (int, float)) and not isinstance(wrong, bool):
        return (isinstance(got, (int, float)) and not isinstance(got, bool)
                and math.isclose(got, wrong, rel_tol=rtol, abs_tol=atol))
    if isinstance(wrong, (tuple, list)):
        return (isinstance(got, (tuple, list)) and len(got) == len(wrong)
                and all(matches(g, w, atol, rtol) for g, w in zip(got, wrong)))
    return isinstance(got, type(wrong)) and got == wrong


@dataclass
class Case:
    """One input of a check: the student's answer, the right one, the known mistakes."""

    got: object
    expected: object
    mistakes: Mapping[str, object] = field(default_factory=dict)  # hint -> that mistake's answer
    shown: str = ""  # the case and what differs, in words


def diagnose(cases: Iterable[Case], atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Raise Failure at the first wrong case, with its ``shown`` and the hint of a mistake whose
    answer (not the right one) every wrong case gave; no hint, no ``shown``: left to ``compare``."""
    cases = list(cases)
    wrong = [case for case in cases if not matches(case.got, case.expected, atol, rtol)]
    if not wrong:
        return
    first = wrong[0]
    for hint in first.mistakes:
        if all(hint in case.mistakes and matches(case.got, case.mistakes[hint], atol, rtol)
               and not matches(case.expected, case.mistakes[hint], atol, rtol) for case in wrong):
            if len(cases) > 1:
                raise Failure(f"{hint}. For example, {first.shown}")
            raise Failure(f"{first.shown}: {hint}" if first.shown else hint)
    if first.shown:
        raise Failure(first.shown)


def compare(got, expected: torch.Tensor, inputs: dict, atol: float = 1e-5, rtol: float = 1e-4,
            mistakes: Mapping[str, object] | None = None, what: str = "",
            long: bool = False) -> None:
    """Raise Failure at the first difference of got from expected, with the hint of the mistake
    that returns got; ``what`` names the part compared; with ``long``, dtype must be long."""
    diagnose([Case(got, expected, mistakes or {})], atol, rtol)
    said = f"{what}: " if what else ""
    on = f" for {format_args(inputs)}" if inputs else ""
    if not isinstance(got, torch.Tensor):
        raise Failure(f"{said}expected a torch.Tensor{on}, got {type(got).__name__}")
    if long and got.dtype != torch.long:
        raise Failure(f"{what or 'the result'} must have dtype torch.long, got {got.dtype}")
    if tuple(got.shape) != tuple(expected.shape):
        raise Failure(f"{said}wrong shape{on}: expected {tuple(expected.shape)}, "
                      f"got {tuple(got.shape)}")
    if expected.dtype == torch.bool:
        if got.dtype != torch.bool:
            raise Failure(f"{said}expected a bool tensor{on}, got dtype {got.dtype}")
        wrong = (got != expected).nonzero()
        if len(wrong):
            where = tuple(wrong[0].tolist())
            raise Failure(f"{said}wrong values{on}: {len(wrong)} entries differ, first at index "
                          f"{where} (expected {bool(expected[where])}, got {bool(got[where])})")
        return
    got, expected = got.detach().to("cpu", torch.float64), expected.to(torch.float64)
    if torch.isnan(got).any() and not torch.isnan(expected).any():
        raise Failure(f"{said}your result contains NaN{on}")
    bad = ~torch.isclose(got, expected, atol=atol, rtol=rtol, equal_nan=True)
    if bad.any():  # point at the entry furthest outside the tolerance, not the largest difference
        excess = ((got - expected).abs() - atol - rtol * expected.abs()).nan_to_num(math.inf)
        where = tuple(torch.nonzero(excess == excess[bad].max())[0].tolist())
        got, expected = got[where].item(), expected[where].item()
        raise Failure(f"{said}wrong values{on}: at index {where} expected {expected:.6g}, got "
                      f"{got:.6g}, a difference of {abs(got - expected):.2g} where "
                      f"{atol + rtol * abs(expected):.2g} is allowed ({int(bad.sum())} of "
                      f"{bad.numel()} entries differ by more than that)")


def python_number(got, what: str, kind: type | tuple[type, ...] = float, item: bool = False):
    """``got`` if it is a Python ``kind`` (int, float or both; with ``item``, or a one-element
    tensor's ``.item()``); else a Failure that says what was expected for ``what``."""
    if item and isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, kind) and not isinstance(got, bool):
        return got
    wanted = f"a Python {kind.__name__}" if isinstance(kind, type) else "a number"
    if isinstance(got, torch.Tensor):
        how = "(use .item())" if got.numel() == 1 else f"of shape {tuple(got.shape)}"
        raise Failure(f"expected {wanted} for {what}, got a tensor {how}")
    if kind is int and isinstance(got, float) and got.is_integer():
        raise Failure(f"expected {wanted} for {what}, got the float {got} (use // instead of /, "
                      f"or int(...))")
    raise Failure(f"expected {wanted} for {what}, got {type(got).__name__}")


def as_int(item) -> int | None:
    """``item`` as an int if it is one (Python, NumPy, a 1-element integer tensor), else None."""
    try:
        return None if isinstance(item, bool) else operator.index(item)
    except TypeError:
        return None


def int_list(got, wanted: str) -> list[int]:
    """``got`` (a list, tuple, 1-dim tensor or array) as a list of ints, else a Failure that says
    ``wanted`` and what it got."""
    if hasattr(got, "tolist") and getattr(got, "ndim", None) == 1:
        got = got.tolist()
    odd = [i for i in got if as_int(i) is None] if isinstance(got, (list, tuple)) else [got]
    if odd:  # got itself, or its first item that is no int
        held = describe(got) if odd[0] is got else f"a list holding {describe(odd[0])}"
        raise Failure(f"{wanted}, got {held}")
    return [as_int(item) for item in got]


def unpack(got, names: str, what: str = "") -> tuple:
    """``got`` as the tuple ``names`` describes (e.g. "ids, lengths"); a list is accepted too."""
    if not isinstance(got, (tuple, list)) or len(got) != len(names.split(", ")):
        on = f" for {what}" if what else ""
        raise Failure(f"expected a tuple ({names}){on}, got {type(got).__name__}")
    return tuple(got)


def compare_count(student_fn: Callable, args: dict, expected: int, hints: Mapping[int, str],
                  difference: bool = False) -> None:
    """Raise Failure unless ``student_fn(*args.values())`` returns the int ``expected``; the hint
    of ``hints`` keyed by the wrong count (with ``difference``, by wrong count - expected)."""
    inputs = ", ".join(f"{name}={value}" for name, value in args.items())
    got = python_number(call(student_fn, *args.values()), inputs, int)
    if got != expected:
        off = f" (difference {got - expected:+,})" if difference else ""
        hint = hints.get(got - expected if difference else got)
        raise Failure(f"for {inputs} expected {expected:,}, got {got:,}{off}"
                      + (f": {hint}" if hint else ""))


def through_sublayers(x, norms, sublayers, norm_first: bool, residual: bool = True):
    """``x`` through each sublayer with its norm: ``x + f(norm(x))`` (pre-LN, ``norm_first``) or
    ``norm(x + f(x))`` (post-LN); without ``residual``, ``f(norm(x))`` or ``norm(f(x))``."""
    for norm, sublayer in zip(norms, sublayers):
        out = sublayer(norm(x) if norm_first else x)
        out = x + out if residual else out
        x = out if norm_first else norm(out)
    return x
