"""Chapter 3's exercise checks accept right answers and explain typical wrong ones."""

import math

import torch
import torch.nn.functional as F
from torch import nn

import transformer_lib as tl
from transformer_lib import checks


def right_swiglu(x, w_gate, w_up, w_down):
    return (F.silu(x @ w_gate) * (x @ w_up)) @ w_down


def swiglu_with(gate=F.silu, up=lambda h: h, combine=torch.mul):
    """A SwiGLU with one of the known mistakes: another gate, SiLU on x W_up, a sum."""
    return lambda x, wg, wu, wd: combine(gate(x @ wg), up(x @ wu)) @ wd


def right_count(d_model, d_ff):
    return 2 * d_model * d_ff + d_ff + d_model


def changes_one_position_test(f, x):
    """Position-wise: the loop over positions equals the whole, and changing one position
    changes no other position's output."""
    out = f(x)
    by_position = torch.cat([f(x[:, t : t + 1]) for t in range(x.shape[1])], dim=1)
    changed = x.clone()
    changed[:, 0] += 1.0
    others_same = torch.allclose(f(changed)[:, 1:], out[:, 1:], atol=1e-5)
    return bool(torch.allclose(by_position, out, atol=1e-5) and others_same)


def permutation_only_test(f, x):
    order = torch.tensor([2, 0, 5, 1, 3, 4])  # a fixed order that does not commute with flip
    return torch.allclose(f(x[:, order]), f(x)[:, order], atol=1e-5)


def exact_equality_test(f, x):
    return torch.equal(torch.cat([f(x[:, t : t + 1]) for t in range(x.shape[1])], dim=1), f(x))


def ends_only_test(f, x):
    """Changes each end and looks only at the other end: a local mixing (a convolution) passes."""
    first, last = x.clone(), x.clone()
    first[:, 0] += 1.0
    last[:, -1] += 1.0
    out = f(x)
    return bool(torch.allclose(f(first)[:, -1], out[:, -1], atol=1e-5)
                and torch.allclose(f(last)[:, 0], out[:, 0], atol=1e-5))


def right_gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def inactive_fraction(mean, seed=0):
    torch.manual_seed(seed)
    ffn = tl.FeedForward(256)
    x = torch.randn(512, 256) + mean
    hidden = ffn.activation(ffn.linear1(x))
    return (hidden == 0).all(dim=0).float().mean().item()


class FeedForward(nn.Module):
    """The build exercise's solution; the keyword arguments make the known mistakes."""

    def __init__(self, d_model, d_ff, activation=torch.relu, relu_out=False, bias2=True,
                 always_drop=False):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(0.1)
        self.activation, self.relu_out, self.bias2 = activation, relu_out, bias2
        self.always_drop = always_drop

    def forward(self, x):
        hidden = self.activation(self.linear1(x))
        hidden = F.dropout(hidden, 0.5) if self.always_drop else self.dropout(hidden)
        out = self.linear2(hidden) if self.bias2 else hidden @ self.linear2.weight.T
        return torch.relu(out) if self.relu_out else out


def ffn_with(**mistake):
    return lambda d_model, d_ff: FeedForward(d_model, d_ff, **mistake)


class Unnamed(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))


RIGHT = [
    (checks.check_feed_forward_module, FeedForward),
    (checks.check_feed_forward_module, tl.FeedForward),  # the library's
    (checks.check_swiglu_ffn, right_swiglu),
    (checks.check_swiglu_ffn,  # nn.Linear's layout, transposed
     lambda x, wg, wu, wd: F.linear(F.silu(F.linear(x, wg.T)) * F.linear(x, wu.T), wd.T)),
    (checks.check_ffn_parameter_count, right_count),
    (checks.check_position_wise, changes_one_position_test),
    (checks.check_gelu_tanh, right_gelu_tanh),
    (checks.check_gelu_tanh, lambda x: F.gelu(x, approximate="tanh")),
    (checks.check_inactive_units, inactive_fraction),
    (checks.check_inactive_units, lambda mean: inactive_fraction(mean, seed=5)),
]

WRONG = [
    (checks.check_swiglu_ffn, swiglu_with(gate=lambda h: h, up=F.silu), "not on x W_up"),
    (checks.check_swiglu_ffn, swiglu_with(gate=torch.sigmoid), "that is GLU"),
    (checks.check_swiglu_ffn, swiglu_with(gate=torch.relu), "that is ReGLU"),
    (checks.check_swiglu_ffn, swiglu_with(gate=lambda h: h), "the gate is linear"),
    (checks.check_swiglu_ffn, swiglu_with(combine=torch.add), "entry by entry"),
    (checks.check_swiglu_ffn, lambda x, wg, wu, wd: F.silu(x @ wg) @ wd, "forgot the product"),
    (checks.check_swiglu_ffn, lambda x, wg, wu, wd: (F.silu(x @ wg) * (x @ wu)) @ wd.T,
     "your code raised RuntimeError"),
    (checks.check_swiglu_ffn, lambda x, wg, wu, wd: x @ wg, "wrong shape"),
    (checks.check_ffn_parameter_count, lambda d, f: 2 * d * f, "forgot the biases"),
    (checks.check_ffn_parameter_count, lambda d, f: 2 * d * f + f, "not linear2's"),
    (checks.check_ffn_parameter_count, lambda d, f: 2 * d * f + d, "not linear1's"),
    (checks.check_ffn_parameter_count, lambda d, f: 2 * d * f + 2 * d, "F entries, not D"),
    (checks.check_ffn_parameter_count, lambda d, f: 2 * d * f + 2 * f, "D entries, not F"),
    (checks.check_ffn_parameter_count, lambda d, f: 4 * d * d + 4 * d, "multi-head attention"),
    (checks.check_ffn_parameter_count,
     lambda d, f: float(right_count(d, f)), "expected a Python int"),
    (checks.check_ffn_parameter_count,
     lambda d, f: torch.tensor(right_count(d, f)), "use .item()"),
    (checks.check_position_wise, permutation_only_test, "permutation-equivariant"),
    (checks.check_position_wise, lambda f, x: True, "mixes positions"),
    (checks.check_position_wise, lambda f, x: False, "is not position-wise, but it is"),
    (checks.check_position_wise, exact_equality_test, "use torch.allclose"),
    (checks.check_position_wise, lambda f, x: "yes", "expected True or False"),
    (checks.check_position_wise, ends_only_test, "a convolution with kernel size 3"),
    (checks.check_gelu_tanh, F.gelu, "exact GELU"),
    (checks.check_gelu_tanh, lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * x)),
     "cubic term"),
    (checks.check_gelu_tanh, lambda x: 2 * right_gelu_tanh(x), "factor 1/2"),
    (checks.check_gelu_tanh, torch.relu, "that is ReLU"),
    (checks.check_gelu_tanh, lambda x: x.sum(), "wrong shape"),
    (checks.check_inactive_units,
     lambda mean: (tl.FeedForward(256).linear1(torch.randn(512, 256) + mean) <= 0).float().mean()
     .item(),
     "every input"),
    (checks.check_inactive_units, lambda mean: inactive_fraction(0.0), "add `mean`"),
    (checks.check_inactive_units,
     lambda mean: torch.tensor(inactive_fraction(mean)), "use .item()"),
    (checks.check_inactive_units,
     lambda mean: 100 * inactive_fraction(mean) + 5, "between 0 and 1"),
    (checks.check_feed_forward_module, ffn_with(activation=lambda h: h), "forgot the ReLU"),
    (checks.check_feed_forward_module, ffn_with(activation=F.gelu), "that is GELU"),
    (checks.check_feed_forward_module, ffn_with(relu_out=True), "must be able to be negative"),
    (checks.check_feed_forward_module, ffn_with(bias2=False), "forgot linear2's bias"),
    (checks.check_feed_forward_module, ffn_with(always_drop=True), "use nn.Dropout"),
    (checks.check_feed_forward_module, Unnamed, "needs linear1 = nn.Linear(4, 16)"),
]


def test_checks_leave_the_global_random_state_alone():
    torch.manual_seed(0)
    expected = torch.randn(3)
    torch.manual_seed(0)
    checks.check_position_wise(lambda f, x: True)  # builds modules, draws no student numbers
    checks.check_inactive_units(lambda mean: 0.0)  # builds FeedForward(256) three times a mean
    assert torch.equal(torch.randn(3), expected)
