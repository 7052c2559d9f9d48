"""Running a check: ``check`` makes a check of a body that raises ``Failure`` at the first problem,
and ``call`` runs the student's code, turning its exceptions and any change to its inputs into
feedback. What differs from the reference is described by ``_compare``."""

import contextvars
import functools
import inspect
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
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
    except Failure:  # a check's own feedback, from a call inside this one
        raise
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
