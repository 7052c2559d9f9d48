"""The machinery every exercise check shares.

Each ``check_*`` calls the student's function on several inputs, compares the result with the
reference, prints what differs in plain words, and returns a ``CheckResult`` that is truthy only
when everything matched. A check never raises because of a wrong answer: an exception from the
student's code is reported as feedback. Use them as ``assert check_xxx(my_function)``.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from collections.abc import Callable
from dataclasses import dataclass

import torch

_LIBRARY = str(Path(__file__).resolve().parents[1])  # frames in here are not the student's


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


class Failure(Exception):
    """Raised inside a check to stop at the first problem and report it."""


def call(fn: Callable, *args, **kwargs):
    """Run the student's code; turn any exception into feedback."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise Failure("not implemented yet (the function raises NotImplementedError)") from None
    except Exception as error:  # noqa: BLE001 - every student error becomes feedback
        frames = traceback.extract_tb(error.__traceback__)[1:]  # skip this function's frame
        yours = [f for f in frames
                 if "site-packages" not in f.filename and not f.filename.startswith(_LIBRARY)]
        where = f" (in your line {yours[-1].line!r})" if yours and yours[-1].line else ""
        raise Failure(f"your code raised {type(error).__name__}: {error}{where}") from None


def format_args(args: dict) -> str:
    def show(v):
        return f"tensor of shape {tuple(v.shape)}" if isinstance(v, torch.Tensor) else repr(v)

    return ", ".join(f"{k}={show(v)}" for k, v in args.items())


def compare(got, expected: torch.Tensor, inputs: dict, atol: float = 1e-5, rtol: float = 1e-4):
    """Raise Failure describing the first difference between got and expected."""
    on = f" for {format_args(inputs)}" if inputs else ""
    if not isinstance(got, torch.Tensor):
        raise Failure(f"expected a torch.Tensor{on}, got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected.shape):
        raise Failure(f"wrong shape{on}: expected {tuple(expected.shape)}, got {tuple(got.shape)}")
    if expected.dtype == torch.bool:
        if got.dtype != torch.bool:
            raise Failure(f"expected a bool tensor{on}, got dtype {got.dtype}")
        wrong = (got != expected).nonzero()
        if len(wrong):
            where = tuple(wrong[0].tolist())
            raise Failure(
                f"wrong values{on}: {len(wrong)} entries differ, first at index {where} "
                f"(expected {bool(expected[where])}, got {bool(got[where])})"
            )
        return
    got, expected = got.detach().to("cpu", torch.float64), expected.to(torch.float64)
    if torch.isnan(got).any() and not torch.isnan(expected).any():
        raise Failure(f"your result contains NaN{on}")
    if not torch.allclose(got, expected, atol=atol, rtol=rtol):
        diff = (got - expected).abs()
        where = tuple(torch.nonzero(diff == diff.max())[0].tolist())
        raise Failure(
            f"wrong values{on}: largest difference {diff.max():.3g} at index {where} "
            f"(expected {expected[where]:.5g}, got {got[where]:.5g})"
        )


def run(name: str, body: Callable[[], str | None]) -> CheckResult:
    try:
        body()
        result = CheckResult(name, True, "all cases match the reference.")
    except Failure as failure:
        result = CheckResult(name, False, str(failure))
    print(result)
    return result
