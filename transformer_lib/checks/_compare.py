"""Describing what differs from the reference: ``compare`` for tensors, ``diagnose`` with the hint
of a known mistake, and readers of numbers, int lists and tuples that say what was expected."""

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import torch

from transformer_lib.checks._core import Failure, call, describe


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


def copy_weights(ours: torch.nn.Module, student: torch.nn.Module, names: str) -> None:
    """Give the student's module the library module's weights, parameter by parameter, by the
    names an exercise gives (``names`` lists them for the message when one is missing)."""
    state = ours.state_dict()
    theirs = dict(student.named_parameters())
    for name, value in state.items():
        if name not in theirs:
            raise Failure(f"your module has no parameter {name}: the check copies weights by the "
                          f"library's names ({names}); yours are "
                          f"{', '.join(list(theirs)[:6]) or 'none'}")
        if theirs[name].shape != value.shape:
            raise Failure(f"your {name} has shape {tuple(theirs[name].shape)}, expected "
                          f"{tuple(value.shape)}")
        with torch.no_grad():
            theirs[name].copy_(value)


def student_module(student_cls, *args) -> torch.nn.Module:
    """``student_cls(*args)``, which a build exercise asks to be an ``nn.Module``; else Failure."""
    module = call(student_cls, *args)
    if not isinstance(module, torch.nn.Module):
        name = getattr(student_cls, "__name__", "your class")
        given = ", ".join(map(repr, args))
        raise Failure(f"expected {name}({given}) to make an nn.Module, got {describe(module)}: "
                      f"write class {name}(nn.Module)")
    return module

