"""Checks for the exercises of chapter 4 (layer normalization and residual connections)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib.checks._core import CheckResult, Failure, call, compare, run
from transformer_lib.feed_forward import FeedForward
from transformer_lib.normalization import ResidualConnection

__all__ = [
    "check_layer_norm",
    "check_post_ln",
    "check_pre_ln",
    "check_rms_norm",
    "check_stream_rms",
]

# (shape, eps, scale, offset) of the inputs x = randn(shape) * scale + offset. In the last case
# the variance (9e-6) is about eps, so putting eps outside the square root shows.
_NORM_CASES = [
    ((3, 4), 1e-5, 1.0, 0.5),
    ((2, 5, 8), 1e-5, 3.0, 2.0),
    ((2, 3, 4, 16), 1e-2, 1.0, -1.0),
    ((4, 6), 1e-5, 0.003, 1.0),
]


def _first_match(got, expected: torch.Tensor, wrong_answers: dict) -> None:
    """Raise the hint of the first wrong answer that ``got`` reproduces (and the right one not)."""
    if not isinstance(got, torch.Tensor):
        return
    got, expected = got.detach().to("cpu", torch.float32), expected.detach()

    def close(a, b):
        return a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)

    for hint, wrong in wrong_answers.items():
        if close(got, wrong) and not close(expected, wrong):
            raise Failure(hint)


def _check_gradients(got: torch.Tensor, expected: torch.Tensor, leaves: dict, ours: list) -> None:
    """Raise Failure unless d(got)/d(leaves) equals d(expected)/d(ours) for a random upstream."""
    if not got.requires_grad:
        raise Failure("the values are right but your result is cut off from autograd: use torch "
                      "operations on the tensors you receive, without .detach(), .item() or NumPy")
    upstream = torch.randn(expected.shape, generator=torch.Generator().manual_seed(99))
    reference = torch.autograd.grad(expected, ours, upstream)
    grads = call(torch.autograd.grad, got, list(leaves.values()), upstream.to(got.dtype),
                 allow_unused=True)
    for name, grad, right in zip(leaves, grads, reference):
        if grad is None:
            raise Failure(f"the values are right but no gradient reaches {name}")
        try:
            compare(grad, right, {})
        except Failure as failure:
            raise Failure(f"the values are right but the gradient w.r.t. {name} differs: "
                          f"{failure}") from None


def _normalize(x, dims, eps, unbiased=False, eps_outside=False, center=True):
    """(x - mean) / sqrt(var + eps) over ``dims``, or one of its classic mistakes."""
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, unbiased=unbiased)
    denominator = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return ((x - mean) if center else x) / denominator


def _rms(x, dims, eps, eps_outside=False, use_sum=False):
    """x / sqrt(mean(x^2) + eps) over ``dims``, or one of its classic mistakes."""
    square = x.pow(2).sum(dims, keepdim=True) if use_sum else x.pow(2).mean(dims, keepdim=True)
    return x / (square.sqrt() + eps if eps_outside else (square + eps).sqrt())


def _leaves(*tensors, names):
    return {name: t.clone().requires_grad_() for name, t in zip(names, tensors)}


def check_layer_norm(student_fn: Callable) -> CheckResult:
    """``student_fn(x (..., D), weight (D,), bias (D,), eps)`` -> layer norm of x, ``(..., D)``.

    Compared with ``F.layer_norm(x, (D,), weight, bias, eps)``, values and gradients (w.r.t. x,
    weight and bias), on inputs of rank 2 to 4 with a random gain and bias.
    """

    def body():
        generator = torch.Generator().manual_seed(4)
        for shape, eps, scale, offset in _NORM_CASES:
            d_model = shape[-1]
            x = torch.randn(shape, generator=generator) * scale + offset
            weight, bias = torch.randn(d_model, generator=generator), torch.randn(d_model, generator=generator)
            ours = [t.clone().requires_grad_() for t in (x, weight, bias)]
            expected = F.layer_norm(ours[0], (d_model,), ours[1], ours[2], eps)
            leaves = _leaves(x, weight, bias, names=("x", "weight", "bias"))
            got = call(student_fn, *leaves.values(), eps)

            def affine(y):
                return y * weight + bias

            wrong = {
                "you used the unbiased variance (divide by D - 1); layer norm divides by D: "
                "use unbiased=False (or correction=0)": affine(_normalize(x, -1, eps, unbiased=True)),
                "eps must go inside the square root: (x - mean) / sqrt(var + eps)":
                    affine(_normalize(x, -1, eps, eps_outside=True)),
                "you forgot the gain and bias: multiply by weight, then add bias":
                    _normalize(x, -1, eps),
                "the gain and bias are swapped: multiply by weight, then add bias":
                    _normalize(x, -1, eps) * bias + weight,
                "subtract the mean from x before dividing by the standard deviation":
                    affine(_normalize(x, -1, eps, center=False)),
                "you normalized over the batch axis (dim 0); layer norm normalizes each vector "
                "over its own D features, the last axis (dim=-1)": affine(_normalize(x, 0, eps)),
                "you normalized over all axes at once; layer norm normalizes each vector "
                "over its own D features, the last axis (dim=-1)":
                    affine(_normalize(x, tuple(range(x.dim())), eps)),
            }
            if x.dim() >= 3:
                wrong["you normalized over the sequence axis (dim -2); layer norm normalizes "
                      "each vector over its own D features, the last axis (dim=-1)"] = affine(
                    _normalize(x, -2, eps))
            _first_match(got, expected, wrong)
            compare(got, expected.detach(), {"x": x, "eps": eps})
            _check_gradients(got, expected, leaves, ours)

    return run("layer norm", body)


def _sublayer_and_norm(generator, d_model):
    """A small random sublayer (D -> D) and an ``nn.LayerNorm`` with a random gain and bias."""
    w1 = torch.randn(d_model, 2 * d_model, generator=generator) / d_model**0.5
    w2 = torch.randn(2 * d_model, d_model, generator=generator) / d_model**0.5

    def sublayer(h):
        return torch.relu(h @ w1) @ w2  # (..., D) -> (..., D)

    norm = nn.LayerNorm(d_model)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(d_model, generator=generator))
        norm.bias.copy_(torch.randn(d_model, generator=generator))
    return sublayer, norm


_RESIDUAL_CASES = [(1, 3, 4), (2, 5, 8), (3, 4, 16)]  # (B, T, D)


def _check_placement(student_fn: Callable, norm_first: bool) -> None:
    generator = torch.Generator().manual_seed(5 + norm_first)
    for batch, length, d_model in _RESIDUAL_CASES:
        x = torch.randn(batch, length, d_model, generator=generator) * 2 + 1  # (B, T, D)
        sublayer, norm = _sublayer_and_norm(generator, d_model)
        with torch.no_grad():
            post, pre = norm(x + sublayer(x)), x + sublayer(norm(x))
            wrong = {
                "the residual is missing: the sum must include x itself":
                    norm(sublayer(x)) if not norm_first else sublayer(norm(x)),
                "you forgot the layer norm": x + sublayer(x),
            }
            if norm_first:
                wrong |= {
                    "this is the post-LN placement norm(x + sublayer(x)); pre-LN normalizes the "
                    "sublayer's input: x + sublayer(norm(x))": post,
                    "the residual must carry the original x, not norm(x): x + sublayer(norm(x))":
                        norm(x) + sublayer(norm(x)),
                    "in pre-LN the norm goes before the sublayer: x + sublayer(norm(x))":
                        x + norm(sublayer(x)),
                }
            else:
                wrong |= {
                    "this is the pre-LN placement x + sublayer(norm(x)); post-LN (the paper) "
                    "normalizes the sum: norm(x + sublayer(x))": pre,
                    "normalize the sum x + sublayer(x), not the sublayer's output alone":
                        x + norm(sublayer(x)),
                }
            got = call(student_fn, x.clone(), sublayer, norm)
        expected = pre if norm_first else post
        _first_match(got, expected, wrong)
        compare(got, expected, {"x": x})


def check_post_ln(student_fn: Callable) -> CheckResult:
    """``student_fn(x (B, T, D), sublayer, norm)`` -> ``norm(x + sublayer(x))``, ``(B, T, D)``.

    ``sublayer`` maps ``(B, T, D)`` to ``(B, T, D)``; ``norm`` is an ``nn.LayerNorm(D)`` with a
    random gain and bias.
    """
    return run("post-LN residual (Add & Norm)", lambda: _check_placement(student_fn, norm_first=False))


def check_pre_ln(student_fn: Callable) -> CheckResult:
    """``student_fn(x (B, T, D), sublayer, norm)`` -> ``x + sublayer(norm(x))``, ``(B, T, D)``.

    ``sublayer`` maps ``(B, T, D)`` to ``(B, T, D)``; ``norm`` is an ``nn.LayerNorm(D)`` with a
    random gain and bias.
    """
    return run("pre-LN residual", lambda: _check_placement(student_fn, norm_first=True))


def _reference_rms_norm(x, weight, eps):
    if hasattr(F, "rms_norm"):  # PyTorch >= 2.4
        return F.rms_norm(x, (x.shape[-1],), weight, eps)
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() * weight


def check_rms_norm(student_fn: Callable) -> CheckResult:
    """``student_fn(x (..., D), weight (D,), eps)`` -> ``x / sqrt(mean(x^2) + eps) * weight``.

    Compared with ``F.rms_norm`` (or that formula on PyTorch older than 2.4), values and gradients.
    """

    def body():
        generator = torch.Generator().manual_seed(6)
        for shape, eps, scale, offset in _NORM_CASES:
            d_model = shape[-1]
            x = torch.randn(shape, generator=generator) * scale + offset
            weight = torch.randn(d_model, generator=generator)
            ours = [t.clone().requires_grad_() for t in (x, weight)]
            expected = _reference_rms_norm(ours[0], ours[1], eps)
            leaves = _leaves(x, weight, names=("x", "weight"))
            got = call(student_fn, *leaves.values(), eps)
            wrong = {
                "you subtracted the mean: that is layer norm; RMSNorm divides x itself by its "
                "root mean square": _normalize(x, -1, eps) * weight,
                "eps must go inside the square root: x / sqrt(mean(x^2) + eps)":
                    _rms(x, -1, eps, eps_outside=True) * weight,
                "you forgot to multiply by weight (the gain)": _rms(x, -1, eps),
                "use the mean of the squares, not their sum": _rms(x, -1, eps, use_sum=True) * weight,
                "normalize each vector over its own D features, the last axis (dim=-1)":
                    _rms(x, 0, eps) * weight,
            }
            _first_match(got, expected, wrong)
            compare(got, expected.detach(), {"x": x, "eps": eps})
            _check_gradients(got, expected, leaves, ours)

    return run("RMSNorm", body)


def _reference_stream_rms(n_layers: int, seeds=(0, 1, 2, 3)) -> float:
    """Mean over seeds of the RMS of a pre-LN stream of FeedForward blocks (Exercise 4's setup)."""
    values = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(1000 + seed)
        x = torch.randn(32, 16, 64, generator=generator)  # (B, T, D)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)  # the modules' default initialization draws from it
            for _ in range(n_layers):
                x = ResidualConnection(64, norm_first=True)(x, FeedForward(64))
        values.append(x.pow(2).mean().sqrt().item())
    return sum(values) / len(values)


def check_stream_rms(student_fn: Callable[[int], float]) -> CheckResult:
    """``student_fn(n_layers)`` -> RMS (a float) of the residual stream after n pre-LN FFN blocks.

    Setup: ``D = 64``, ``x = randn(32, 16, 64)``, each block a ``ResidualConnection(64,
    norm_first=True)`` around its own ``FeedForward(64)`` with PyTorch's default initialization,
    no final norm. The student's random draws differ from ours, so values are compared within 7%.
    """

    def body():
        for n_layers in (0, 8, 32):
            got = call(student_fn, n_layers)
            inputs = f"n_layers={n_layers}"
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                raise Failure(f"expected a Python float for {inputs}, got a tensor (use .item())")
            if not isinstance(got, float):
                raise Failure(f"expected a Python float for {inputs}, got {type(got).__name__}")
            expected = _reference_stream_rms(n_layers)
            if abs(got - expected) > 0.07 * expected:
                hint = ""
                if n_layers and abs(got - 1.0) < 0.02:
                    hint = (": the RMS stays at 1, as if the stream were normalized (post-LN, or a "
                            "final norm) or the blocks added nothing; in pre-LN each block adds "
                            "sublayer(norm(x)) to the un-normalized x")
                raise Failure(f"for {inputs} expected about {expected:.2f}, got {got:.3f}{hint}")

    return run("pre-LN stream growth experiment", body)
