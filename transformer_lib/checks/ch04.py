"""Checks for the exercises of chapter 4 (layer normalization and residual connections)."""

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib.checks._compare import compare, python_number, student_module, unpack
from transformer_lib.checks._core import Failure, call, check, describe
from transformer_lib.feed_forward import FeedForward
from transformer_lib.normalization import ResidualConnection


def _norm_inputs(generator, names: tuple[str, ...]):
    """``{x (..., D), *names (D,)}``, their float64 copies and eps. In the last case the variance
    (9e-6) is about eps, so eps outside the root shows; float32 rounds x - mean to ~4e-5."""
    for shape, eps, scale, offset in [((3, 4), 1e-5, 1.0, 0.5), ((2, 5, 8), 1e-5, 3.0, 2.0),
                                      ((2, 3, 4, 16), 1e-2, 1.0, -1.0), ((4, 6), 1e-5, 0.003, 1.0)]:
        tensors = {"x": torch.randn(shape, generator=generator) * scale + offset}
        tensors |= {name: torch.randn(shape[-1], generator=generator) for name in names}
        yield tensors, [t.double() for t in tensors.values()], eps


def _compare_with_gradients(student_fn: Callable, reference: Callable, tensors: dict, eps: float,
                            mistakes: dict) -> None:
    """``student_fn(x, *params, eps)`` against ``reference(x, (D,), *params, eps)`` in float64:
    values, then the gradients w.r.t. each for a random upstream one, to 1e-4 of the largest."""
    ours = [t.double().requires_grad_() for t in tensors.values()]
    expected = reference(ours[0], ours[0].shape[-1:], *ours[1:], eps)
    leaves = [t.requires_grad_() for t in tensors.values()]
    got = call(student_fn, *leaves, eps)
    compare(got, expected.detach(), {"x": tensors["x"], "eps": eps}, mistakes=mistakes,
            atol=1e-4 * float(expected.detach().abs().max()))
    if not got.requires_grad:
        raise Failure("the values are right but your result is cut off from autograd: use torch "
                      "operations on the tensors you receive, without .detach(), .item() or NumPy")
    upstream = torch.randn(expected.shape, generator=torch.Generator().manual_seed(99)).double()
    right = torch.autograd.grad(expected, ours, upstream)
    grads = call(torch.autograd.grad, got, leaves, upstream.to(got.dtype), allow_unused=True)
    for name, grad, reference_grad in zip(tensors, grads, right):
        if grad is None:
            raise Failure(f"the values are right but no gradient reaches {name}")
        try:
            compare(grad, reference_grad, {}, atol=1e-4 * float(reference_grad.abs().max()))
        except Failure as failure:
            raise Failure(f"the values are right but the gradient w.r.t. {name} differs: "
                          f"{failure}") from None


def _normalize(x, dims, eps, unbiased=False, eps_outside=False, center=True):
    """(x - mean) / sqrt(var + eps) over ``dims``, or one of its classic mistakes."""
    var = x.var(dim=dims, keepdim=True, unbiased=unbiased)
    denominator = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return (x - x.mean(dim=dims, keepdim=True) if center else x) / denominator


def _layer_norm_mistakes(x, weight, bias, eps) -> dict:
    """hint -> what layer norm computes with that mistake, for float64 inputs."""

    def norm(dims=-1, **mistake):
        return _normalize(x, dims, eps, **mistake) * weight + bias

    over_d = "layer norm normalizes each vector over its own D features, the last axis (dim=-1)"
    mistakes = {
        "you used the unbiased variance (divide by D - 1); layer norm divides by D: "
        "use unbiased=False (or correction=0)": norm(unbiased=True),
        "eps must go inside the square root: (x - mean) / sqrt(var + eps)": norm(eps_outside=True),
        "you forgot the gain and bias: multiply by weight, then add bias": _normalize(x, -1, eps),
        "the gain and bias are swapped: multiply by weight, then add bias":
            _normalize(x, -1, eps) * bias + weight,
        "subtract the mean from x before dividing by the standard deviation": norm(center=False),
        f"you normalized over the batch axis (dim 0); {over_d}": norm(0),
        f"you normalized over all axes at once; {over_d}": norm(tuple(range(x.dim()))),
    }
    if x.dim() >= 3:
        mistakes[f"you normalized over the sequence axis (dim -2); {over_d}"] = norm(-2)
    return mistakes


@check("layer norm backward", seed=4)
def check_layer_norm_backward(student_fn: Callable, generator):
    """``student_fn(x (..., D), grad (..., D), eps)`` -> the gradient w.r.t. x of
    ``(grad * F.layer_norm(x, (D,), eps=eps)).sum()``, from the formula; float64 reference."""
    for shape, eps in [((3, 4), 1e-5), ((2, 5, 8), 1e-5), ((2, 3, 4, 16), 1e-2)]:
        x, grad = torch.randn(2, *shape, generator=generator).unbind()
        got = call(student_fn, x * 3 + 2, grad, eps)
        x, grad = (x.double() * 3 + 2).requires_grad_(), grad.double()
        right = torch.autograd.grad((F.layer_norm(x, shape[-1:], eps=eps) * grad).sum(), x)[0]
        std = (x.detach().var(-1, keepdim=True, unbiased=False) + eps).sqrt()
        x_hat = _normalize(x.detach(), -1, eps)
        mean_g, mean_gx = grad.mean(-1, keepdim=True), (grad * x_hat).mean(-1, keepdim=True)
        depends = "depends on every x_i too, which adds the term"
        compare(got, right, {"x": x, "grad": grad}, 1e-4 * float(right.abs().max()), mistakes={
            f"this treats the mean and the std as constants; each {depends}s -mean(grad) and "
            "-x_hat * mean(grad * x_hat)": grad / std,
            f"the mean {depends} -mean(grad)": (grad - x_hat * mean_gx) / std,
            f"the std {depends} -x_hat * mean(grad * x_hat)": (grad - mean_g) / std,
            "divide by the std sqrt(var + eps) at the end": grad - mean_g - x_hat * mean_gx})


@check("causal batch norm", seed=5)
def check_causal_batch_norm(student_fn: Callable, generator):
    """``student_fn(x (B, T, D), eps)`` -> (B, T, D): position t normalized per feature by the
    statistics (mean, biased variance) of ``x[:, :t + 1]``, all B sequences' positions 0 to t."""
    for shape in [(2, 5, 4), (3, 6, 8), (4, 3, 16)]:
        x = torch.randn(shape, generator=generator) * 2 + 1
        got, x = call(student_fn, x, 1e-5), x.double()

        def upto_t(dims, **mistake):  # each position t with the statistics of x[:, :t + 1]
            return torch.stack([_normalize(x[:, :t + 1], dims, 1e-5, **mistake)[:, -1]
                                for t in range(shape[1])], dim=1)

        compare(got, upto_t((0, 1)), {"x": x}, atol=1e-4, mistakes={
            "position t uses later positions' statistics, the leak: pool positions 0 to t only":
                _normalize(x, (0, 1), 1e-5),
            "pool the B sequences too, as batch norm does, not each sequence alone": upto_t(1),
            "you pooled position t alone; pool the positions 0 to t": _normalize(x, 0, 1e-5),
            "use the biased variance: divide by the count": upto_t((0, 1), unbiased=True)})


@check("gain and bias from the Annotated Transformer's layer norm", seed=6)
def check_from_annotated(student_fn: Callable, generator):
    """``student_fn(a_2 (D,), b_2 (D,))`` -> ``(weight, bias)`` with which ``nn.LayerNorm(D)``
    computes ``a_2 * (x - mean) / x.std(-1) + b_2`` (unbiased std; eps left aside)."""
    for d_model in (4, 16, 512):
        a_2, b_2 = torch.randn(2, d_model, generator=generator).unbind()
        weight, bias = unpack(call(student_fn, a_2, b_2), "weight, bias", f"D={d_model}")
        factor = ((d_model - 1) / d_model) ** 0.5  # the unbiased std is larger by 1 / factor
        shrink = "the unbiased std is the larger one, so the gain shrinks: a_2 * sqrt((D-1)/D)"
        compare(weight, a_2 * factor, {"a_2": a_2}, what="weight", mistakes={
            f"x.std(-1) divides by D - 1, layer norm by D; {shrink}": a_2,
            f"the factor goes the other way; {shrink}": a_2 / factor})
        compare(bias, b_2, {"b_2": b_2}, what="bias", mistakes={
            "the bias is added after the division: it needs no correction": b_2 * factor})


@check("RMSNorm", seed=6)
def check_rms_norm(student_fn: Callable, generator):
    """``student_fn(x (..., D), weight (D,), eps)`` -> ``x / sqrt(mean(x^2) + eps) * weight``:
    values and gradients equal to ``F.rms_norm``'s."""
    for tensors, (x, weight), eps in _norm_inputs(generator, ("weight",)):
        square, total = x.pow(2).mean(-1, keepdim=True), x.pow(2).sum(-1, keepdim=True)
        _compare_with_gradients(student_fn, F.rms_norm, tensors, eps, {
            "you subtracted the mean: that is layer norm; RMSNorm divides x itself by its "
            "root mean square": _normalize(x, -1, eps) * weight,
            "eps must go inside the square root: x / sqrt(mean(x^2) + eps)":
                x / (square.sqrt() + eps) * weight,
            "you forgot to multiply by weight (the gain)": x / (square + eps).sqrt(),
            "use the mean of the squares, not their sum": x / (total + eps).sqrt() * weight,
            "normalize each vector over its own D features, the last axis (dim=-1)":
                x / (x.pow(2).mean(0, keepdim=True) + eps).sqrt() * weight})


@torch.random.fork_rng(devices=[])
@torch.no_grad()
def _stream_rms(n_layers: int, seed: int) -> float:
    """RMS of a pre-LN stream of n FeedForward blocks, in float64 (the stream exercise)."""
    x = torch.randn(32, 16, 64, generator=torch.Generator().manual_seed(1000 + seed)).double()
    torch.manual_seed(seed)  # the modules' default initialization draws from it
    for _ in range(n_layers):
        x = ResidualConnection(64, norm_first=True).double()(x, FeedForward(64).double())
    return x.pow(2).mean().sqrt().item()


@check("pre-LN stream growth experiment")
def check_stream_rms(student_fn: Callable[[int], float]):
    """``student_fn(n_layers)`` -> RMS of ``x = randn(32, 16, 64)`` after n pre-LN blocks around
    ``FeedForward(64)`` (``ResidualConnection(64, norm_first=True)``), no final norm, within 7%."""
    for n_layers in (0, 8, 32):
        inputs = f"n_layers={n_layers}"
        got = python_number(call(student_fn, n_layers), inputs)
        expected = sum(_stream_rms(n_layers, seed) for seed in range(4)) / 4
        if abs(got - expected) > 0.07 * expected:
            hint = (": it stays at 1, as if normalized; in pre-LN each block adds sublayer(norm(x))"
                    " to the un-normalized x" if abs(got - 1) < 0.02 else "")
            raise Failure(f"for {inputs} expected about {expected:.2f}, got {got:.3f}{hint}")


@check("LayerNorm module", seed=7)
def check_layer_norm_module(student_cls, generator):
    """``student_cls(d_model, eps)``: an nn.Module with parameters ``weight`` and ``bias`` (D,)
    whose ``forward(x (..., D))`` equals ``nn.LayerNorm``'s, values and gradients."""
    for tensors, (x64, weight64, bias64), eps in _norm_inputs(generator, ("weight", "bias")):
        d_model = tensors["x"].shape[-1]
        module = student_module(student_cls, d_model, eps)
        parameters = dict(module.named_parameters())
        for name in ("weight", "bias"):
            if name not in parameters or tuple(parameters[name].shape) != (d_model,):
                raise Failure(f"your module needs a parameter {name} of shape ({d_model},), "
                              f"nn.Parameter(torch.{'ones' if name == 'weight' else 'zeros'}"
                              f"(d_model)), got {describe(parameters.get(name))}")
        if not (torch.equal(parameters["weight"].detach(), torch.ones(d_model))
                and torch.equal(parameters["bias"].detach(), torch.zeros(d_model))):
            raise Failure("a new layer norm must start as the identity scaling: weight all ones, "
                          "bias all zeros, as nn.LayerNorm's")

        def student_fn(x, weight, bias, eps):  # the module, run with the check's gain and bias
            return torch.func.functional_call(module, {"weight": weight, "bias": bias}, (x,))

        _compare_with_gradients(student_fn, F.layer_norm, tensors, eps,
                                _layer_norm_mistakes(x64, weight64, bias64, eps))


def _check_placement(student_cls, generator: torch.Generator, norm_first: bool) -> None:
    """The student's block built for ``norm_first``, with the check's ``norm`` in its place."""
    for batch, length, d_model in [(1, 3, 4), (2, 5, 8), (3, 4, 16)]:
        x = torch.randn(batch, length, d_model, generator=generator) * 2 + 1  # (B, T, D)
        w1 = torch.randn(d_model, 2 * d_model, generator=generator) / d_model**0.5
        w2 = torch.randn(2 * d_model, d_model, generator=generator) / d_model**0.5
        norm = nn.LayerNorm(d_model)  # with a random gain and bias
        nn.init.normal_(norm.weight, generator=generator)
        nn.init.normal_(norm.bias, generator=generator)

        def sublayer(h, w1=w1, w2=w2):  # (..., D) -> (..., D), in h's dtype
            return torch.relu(h @ w1.to(h.dtype)) @ w2.to(h.dtype)
        block = student_module(student_cls, d_model, 0.0, norm_first)  # D, dropout, placement
        if not isinstance(getattr(block, "norm", None), nn.Module):
            raise Failure("your block needs its layer norm as an attribute named norm (the check "
                          f"puts a known one there), got {describe(getattr(block, 'norm', None))}")
        block.norm = norm
        with torch.no_grad():
            got = call(block.eval(), x, sublayer)
            inputs, x, norm = {"x": x}, x.double(), copy.deepcopy(norm).double()  # in float64
            post, pre = norm(x + sublayer(x)), x + sublayer(norm(x))
            mistakes = {
                "the residual is missing: the sum must include x itself":
                    sublayer(norm(x)) if norm_first else norm(sublayer(x)),
                "you forgot the layer norm": x + sublayer(x),
            } | ({
                "this is the post-LN placement norm(x + sublayer(x)); pre-LN normalizes the "
                "sublayer's input: x + sublayer(norm(x))": post,
                "the residual must carry the original x, not norm(x): x + sublayer(norm(x))":
                    norm(x) + sublayer(norm(x)),
                "in pre-LN the norm goes before the sublayer: x + sublayer(norm(x))":
                    x + norm(sublayer(x)),
            } if norm_first else {
                "this is the pre-LN placement x + sublayer(norm(x)); post-LN (the paper) "
                "normalizes the sum: norm(x + sublayer(x))": pre,
                "normalize the sum x + sublayer(x), not the sublayer's output alone":
                    x + norm(sublayer(x)),
            })
        compare(got, pre if norm_first else post, inputs, mistakes=mistakes)


@check("residual block module, both placements", seed=8)
def check_residual_module(student_cls, generator):
    """``student_cls(d_model, dropout, norm_first)``: an nn.Module with a layer norm ``norm`` whose
    ``forward(x (B, T, D), sublayer)`` is ``norm(x + sublayer(x))`` (post-LN, norm_first=False)
    or ``x + sublayer(norm(x))`` (pre-LN, norm_first=True), in eval mode."""
    for norm_first in (False, True):
        try:
            _check_placement(student_cls, generator, norm_first)
        except Failure as failure:
            raise Failure(f"with norm_first={norm_first}: {failure}") from None
