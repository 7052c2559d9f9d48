"""Checks for the exercises of chapter 3 (the position-wise feed-forward network)."""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib.attention import MultiHeadAttention
from transformer_lib.checks._compare import compare, compare_count, python_number, student_module
from transformer_lib.checks._core import Failure, call, check, describe
from transformer_lib.feed_forward import FeedForward


@check("gated feed-forward network (SwiGLU)", seed=3)
def check_swiglu_ffn(student_fn: Callable, generator):
    """``student_fn(x (..., D), w_gate (D, F), w_up (D, F), w_down (F, D))`` -> ``(..., D)``,
    (SiLU(x W_gate) * x W_up) W_down, without biases, as in Shazeer (2020)."""
    for shape, d_ff in [((4,), 16), ((5, 4), 10), ((2, 6, 8), 21), ((2, 3, 5, 6), 16)]:
        d_model = shape[-1]
        inputs = {"x": torch.randn(shape, generator=generator),
                  "w_gate": torch.randn(d_model, d_ff, generator=generator) / math.sqrt(d_model),
                  "w_up": torch.randn(d_model, d_ff, generator=generator) / math.sqrt(d_model),
                  "w_down": torch.randn(d_ff, d_model, generator=generator) / math.sqrt(d_ff)}
        got = call(student_fn, *inputs.values())
        x, w_gate, w_up, w_down = (t.double() for t in inputs.values())  # reference in float64
        gate, up = x @ w_gate, x @ w_up  # (..., F) each
        compare(got, (F.silu(gate) * up) @ w_down, inputs, mistakes={
            "the SiLU belongs on the gate, x W_gate, not on x W_up": (gate * F.silu(up)) @ w_down,
            "that is GLU, with a sigmoid gate; SwiGLU's gate is SiLU(z) = z sigmoid(z)":
                (torch.sigmoid(gate) * up) @ w_down,
            "that is ReGLU, with a ReLU gate; SwiGLU's gate is SiLU": (F.relu(gate) * up) @ w_down,
            "without the SiLU the gate is linear (the 'bilinear' variant): apply SiLU to x W_gate":
                (gate * up) @ w_down,
            "you forgot the product with x W_up: that is an ordinary FFN with a SiLU":
                F.silu(gate) @ w_down,
            "x W_up multiplies the gate entry by entry, it is not added to it":
                (F.silu(gate) + up) @ w_down,
        })


@check("feed-forward parameter count")
def check_ffn_parameter_count(student_fn: Callable[[int, int], int]):
    """``student_fn(d_model, d_ff)`` -> the number of parameters of the FFN, a Python int."""
    for d_model, d_ff in [(4, 16), (6, 6), (3, 7), (512, 2048), (768, 3072), (1024, 4096)]:
        # PyTorch's own layers, on the meta device: shapes without memory
        layers = (nn.Linear(d_model, d_ff, device="meta"), nn.Linear(d_ff, d_model, device="meta"))
        expected = sum(p.numel() for layer in layers for p in layer.parameters())
        weights = 2 * d_model * d_ff
        hints = {
            weights: "you forgot the biases",
            weights + d_ff: "you counted linear1's bias (F numbers) but not linear2's (D numbers)",
            weights + d_model: "you counted linear2's bias (D numbers) but not linear1's "
                               "(F numbers)",
            weights + 2 * d_ff: "linear2's bias has D entries, not F",
            weights + 2 * d_model: "linear1's bias has F entries, not D",
            4 * d_model**2 + 4 * d_model: "that is the count of multi-head attention, 4 D^2 + 4 D",
        }  # with D = F, some of these counts coincide: no hint then
        compare_count(student_fn, {"d_model": d_model, "d_ff": d_ff}, expected,
                      hints if d_model != d_ff else {})


@torch.random.fork_rng(devices=[])  # leave the caller's random state alone
def _position_zoo():
    """(description, f, is position-wise, is permutation-equivariant) for (B, T, D=8) inputs."""
    torch.manual_seed(0)
    norm = nn.LayerNorm(8)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    conv = nn.Conv1d(8, 8, kernel_size=3, padding=1)  # over (B, D, T)
    return [
        ("tl.FeedForward(8)", FeedForward(8).eval(), True, True),
        ("nn.Linear(8, 8)", nn.Linear(8, 8), True, True),
        ("torch.relu", torch.relu, True, True),
        ("nn.LayerNorm(8) (it normalizes each position's D features)", norm, True, True),
        ("a running sum over the positions (x.cumsum(dim=1))", lambda x: x.cumsum(1),
         False, False),
        ("reversing the positions (x.flip(1))", lambda x: x.flip(1), False, False),
        ("a convolution with kernel size 3 over the positions",
         lambda x: conv(x.transpose(1, 2)).transpose(1, 2), False, False),
        ("self-attention (tl.MultiHeadAttention(8, 2))", MultiHeadAttention(8, 2).eval(), False,
         True),
        ("subtracting the mean over the positions", lambda x: x - x.mean(1, keepdim=True),
         False, True),
    ]


@check("position-wise test", seed=4)
def check_position_wise(student_fn: Callable, generator):
    """``student_fn(f, x (B, T, D))`` -> True if ``f`` ((B, T', D) -> (B, T', D), any T') acts on
    each position separately, else False; asked of nine functions."""
    for name, f, expected, equivariant in _position_zoo():
        x = torch.randn(2, 6, 8, generator=generator)  # (B, T, D)
        with torch.no_grad():
            got = call(student_fn, f, x)
        if isinstance(got, torch.Tensor) and got.numel() == 1 and got.dtype == torch.bool:
            got = bool(got.item())
        if not isinstance(got, bool):
            raise Failure(f"expected True or False for f = {name}, got {type(got).__name__}")
        if got == expected:
            continue
        if expected:
            raise Failure(f"your test says f = {name} is not position-wise, but it is: it acts on "
                          "each position alone. If you compare with torch.equal or ==, use "
                          "torch.allclose: computing positions separately can change the last "
                          "bits of a float sum")
        raise Failure(f"your test says f = {name} is position-wise, but it mixes positions" + (
            ". It is permutation-equivariant (permuting the positions permutes its outputs), so a "
            "permutation test cannot tell: change one position and check that the outputs at the "
            "other positions stay the same" if equivariant else ""))


@check("GELU, tanh approximation", seed=5)
def check_gelu_tanh(student_fn: Callable[[torch.Tensor], torch.Tensor], generator):
    """``student_fn(x)`` -> GELU's tanh approximation of ``x``, any shape, as
    ``F.gelu(x, approximate="tanh")``."""
    for x in [torch.linspace(-6, 6, 101), torch.randn(3, 7, generator=generator) * 3,
              torch.randn(2, 4, 5, generator=generator)]:
        got = call(student_fn, x)
        inputs, x = {"x": x}, x.double()  # the reference in float64
        expected = F.gelu(x, approximate="tanh")
        compare(got, expected, inputs, mistakes={
            "that is the exact GELU, x Phi(x) with erf; this exercise asks for the tanh "
            "approximation": F.gelu(x),
            "the cubic term 0.044715 x^3 inside the tanh is missing":
                0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * x)),
            "you forgot the factor 1/2 in front": 2 * expected,
            "that is ReLU": F.relu(x),
        })


@torch.random.fork_rng(devices=[])
@torch.no_grad()
def _inactive_fraction(mean: float, seed: int) -> float:
    torch.manual_seed(seed)
    ffn = FeedForward(256).double()  # (D, F) = (256, 1024)
    hidden = ffn.activation(ffn.linear1(torch.randn(512, 256).double() + mean))  # (N, F)
    return (hidden == 0).all(dim=0).float().mean().item()


@check("inactive units experiment")
def check_inactive_units(student_fn: Callable[[float], float]):
    """``student_fn(mean)`` -> fraction of the 1024 hidden units of a new ``FeedForward(256)`` zero
    for all 512 inputs drawn from N(mean, 1), within 0.04 of our mean over three seeds."""
    for mean in (0.0, 1.0, 2.0, 3.0, 4.0):
        got = python_number(call(student_fn, mean), f"mean={mean}")
        expected = sum(_inactive_fraction(mean, seed) for seed in (11, 12, 13)) / 3
        if abs(got - expected) <= 0.04:
            continue
        hint = ""
        if not 0.0 <= got <= 1.0:
            hint = ": a fraction lies between 0 and 1"
        elif abs(got - 0.5) < 0.05:
            hint = (": about half of all entries are zero at any mean; the question is how many "
                    "units are zero for every input (hidden == 0).all(dim=0)")
        elif mean >= 2 and got < 0.01:
            hint = ": did you add `mean` to the inputs?"
        raise Failure(f"for mean={mean} expected about {expected:.3f}, got {got:.3f}{hint}")


@check("FeedForward module", seed=6)
def check_feed_forward_module(student_cls, generator):
    """``student_cls(d_model, d_ff)``: an nn.Module with ``linear1 = nn.Linear(d_model, d_ff)``
    and ``linear2 = nn.Linear(d_ff, d_model)`` whose ``forward(x (..., D))`` -> ``(..., D)`` is
    the paper's max(0, x W1 + b1) W2 + b2, in eval mode, for one vector, a sequence and batches."""
    for shape, d_ff in [((4,), 16), ((5, 4), 16), ((2, 6, 8), 32), ((2, 3, 5, 6), 24)]:
        d_model = shape[-1]
        module = student_module(student_cls, d_model, d_ff)
        for name, size_in, size_out in [("linear1", d_model, d_ff), ("linear2", d_ff, d_model)]:
            layer = getattr(module, name, None)
            if not (isinstance(layer, nn.Linear) and (layer.in_features, layer.out_features)
                    == (size_in, size_out) and layer.bias is not None):
                raise Failure(f"your module needs {name} = nn.Linear({size_in}, {size_out}) "
                              f"with a bias (d_model={d_model}, d_ff={d_ff}), got "
                              f"{describe(layer)}: the check sets its weights by these names")
            with torch.no_grad():
                layer.weight.copy_(torch.randn(size_out, size_in, generator=generator)
                                   / math.sqrt(size_in))
                layer.bias.copy_(torch.randn(size_out, generator=generator) * 0.5)
        module.eval()
        x = torch.randn(shape, generator=generator)
        with torch.no_grad():
            got = call(module, x)
            again = call(module, x)
        if (isinstance(got, torch.Tensor) and isinstance(again, torch.Tensor)
                and got.shape == again.shape and not torch.equal(got, again)):
            raise Failure("in eval mode your output changes from one call to the next: use "
                          "nn.Dropout, which stops dropping after module.eval()")
        w1, b1 = module.linear1.weight.double(), module.linear1.bias.double()
        w2, b2 = module.linear2.weight.double(), module.linear2.bias.double()
        x64 = x.double()  # the reference in float64: PyTorch's own linear maps
        hidden = F.linear(x64, w1, b1)
        expected = F.linear(F.relu(hidden), w2, b2)
        compare(got, expected, {"x": x}, mistakes={
            "you forgot the ReLU between the two linear maps (without it they collapse "
            "into a single linear map)": F.linear(hidden, w2, b2),
            "that is GELU; the paper's feed-forward network uses ReLU": F.linear(F.gelu(hidden),
                                                                                 w2, b2),
            "the ReLU belongs between the two linear maps only: the output must be able to be "
            "negative": F.relu(expected),
            "you forgot linear2's bias": F.relu(hidden) @ w2.T,
        }, what=f"input of shape {shape}")
