"""Checks for the exercises of chapter 18 (Transformers versus recurrent networks): one LSTM
step from its equations, an LSTM's parameter count, the multiply-adds of a layer of each kind, and
the loss at each position of a window."""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from transformer_lib.checks._compare import Case, compare, compare_count, diagnose, unpack
from transformer_lib.checks._core import Failure, call, check
from transformer_lib.recurrent import LSTMLanguageModel, lstm_layer_parameters


def _cell_variants(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """(h, c) of the right LSTM step and of the usual wrong ones: hint -> (h, c)."""
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # PyTorch's order: input, forget, cell, output
    sig = torch.sigmoid

    def step(i, f, g, o, squash=torch.tanh, forget=True):
        c_new = (sig(f) * c if forget else 0) + sig(i) * squash(g)
        return sig(o) * torch.tanh(c_new), c_new

    right = step(i, f, g, o)
    c_new = right[1]
    return right, {
        "PyTorch orders the four gates input, forget, cell (g), output: you used i, f, o, g":
            step(i, f, o, g),
        "the candidate g goes through tanh, not the sigmoid": step(i, f, g, o, squash=sig),
        "the old cell state is kept through the forget gate: c' = f * c + i * g":
            step(i, f, g, o, forget=False),
        "the new h is o * tanh(c'), with the tanh": (sig(o) * c_new, c_new),
        "h' uses the new cell state c', not the old c": (sig(o) * torch.tanh(c), c_new),
    }


@check("one LSTM step", seed=18)
def check_lstm_cell_step(student_fn: Callable, generator):
    """``student_fn(x (B, I), h (B, H), c (B, H), weight_ih (4H, I), weight_hh (4H, H),
    bias_ih (4H,), bias_hh (4H,))`` -> ``(h', c')``, each ``(B, H)``, as ``nn.LSTMCell``."""
    for batch, size_in, hidden in [(2, 3, 4), (5, 8, 6), (1, 1, 2)]:
        cell = nn.LSTMCell(size_in, hidden)
        with torch.no_grad():  # weights from the check's own generator
            for p in cell.parameters():
                p.copy_(torch.randn(p.shape, generator=generator))
        x, h, c = (torch.randn(batch, n, generator=generator) for n in (size_in, hidden, hidden))
        weights = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        weights = tuple(w.detach().clone() for w in weights)
        got = unpack(call(student_fn, x, h, c, *weights), "h, c", "one step")
        if not all(isinstance(part, torch.Tensor) for part in got):
            raise Failure(f"expected two tensors (h', c'), each (B, H), got "
                          f"({type(got[0]).__name__}, {type(got[1]).__name__})")
        with torch.no_grad():
            expected = cell(x, (h, c))
        right, mistakes = _cell_variants(x, h, c, *weights)
        shown = f"with B={batch}, I={size_in}, H={hidden}, (h', c') differ from nn.LSTMCell's"
        diagnose([Case(tuple(got), tuple(expected), mistakes, shown)])
        inputs = {"x": x, "h": h, "c": c}
        compare(got[0], expected[0], inputs, what="h'")
        compare(got[1], expected[1], inputs, what="c'")


@check("LSTM parameter count")
def check_lstm_parameter_count(student_fn: Callable):
    """``student_fn(input_size, hidden_size, num_layers)`` -> the parameters of
    ``nn.LSTM(input_size, hidden_size, num_layers)``."""
    for size_in, hidden, layers in [(96, 245, 1), (10, 20, 1), (7, 5, 3), (64, 128, 2)]:
        expected = sum(p.numel() for p in nn.LSTM(size_in, hidden, layers).parameters())
        one_bias = 4 * (hidden * size_in + hidden * hidden + hidden) * layers
        first_only = lstm_layer_parameters(size_in, hidden) * layers
        hints = {
            expected // 4: "each of the 4 gates (input, forget, cell, output) has its own "
                           "matrices and biases",
            (expected - 4 * hidden * layers): "PyTorch keeps two bias vectors per gate, b_ih "
                                              "and b_hh",
            one_bias: "PyTorch keeps two bias vectors per gate, b_ih and b_hh",
            expected - 8 * hidden * layers: "count the biases too: two vectors of 4H per layer",
        }
        if layers > 1:
            hints[first_only] = ("the layers after the first read the hidden state of the layer "
                                 "below: their input size is hidden_size, not input_size")
            hints[lstm_layer_parameters(size_in, hidden)] = "that is one layer; count all of them"
        compare_count(student_fn, {"input_size": size_in, "hidden_size": hidden,
                                   "num_layers": layers}, expected, hints)


@check("multiply-adds of one layer")
def check_layer_multiply_adds(student_fn: Callable):
    """``student_fn(n, d)`` -> ``(attention, lstm)``: the multiply-adds of one self-attention
    sublayer (4 projections, the scores, the weighted sum: ``4 n d^2 + 2 n^2 d``) and of one LSTM
    layer with input and state of size d (4 gates, two matrices each: ``8 n d^2``), for n tokens."""
    for n, d in [(64, 96), (256, 96), (10, 3), (1, 512)]:
        got = unpack(call(student_fn, n, d), "attention, lstm", f"n={n}, d={d}")
        expected = (4 * n * d * d + 2 * n * n * d, 8 * n * d * d)
        mistakes = {
            "the attention count misses the weighted sum of the values, a second n^2 d":
                (4 * n * d * d + n * n * d, expected[1]),
            "the attention count misses the four projections (queries, keys, values, output), "
            "4 n d^2": (2 * n * n * d, expected[1]),
            "each LSTM gate has two matrices, one for x and one for h: 8 n d^2":
                (expected[0], 4 * n * d * d),
            "the LSTM has four gates, each with two d x d matrices: 8 n d^2":
                (expected[0], 2 * n * d * d),
        }
        shown = f"for n={n}, d={d} expected {expected}, got {tuple(got)}"
        diagnose([Case(tuple(got), expected, mistakes, shown)], atol=0.5, rtol=0)


def _position_model(seed: int) -> LSTMLanguageModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LSTMLanguageModel(vocab_size=11, d_model=8, hidden_size=12)


@check("loss at each position", seed=19)
def check_loss_by_position(student_fn: Callable, generator):
    """``student_fn(model, inputs (W, T), targets (W, T))`` -> ``(T,)``: the cross-entropy at
    each position t, averaged over the W windows."""
    model = _position_model(0).eval()
    for windows, length in [(6, 5), (3, 9), (1, 4)]:
        inputs = torch.randint(0, 11, (windows, length), generator=generator)
        targets = torch.randint(0, 11, (windows, length), generator=generator)
        got = call(student_fn, model, inputs, targets)
        with torch.no_grad():
            logits = model(inputs)  # (W, T, V)
            each = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (W, T)
        if isinstance(got, torch.Tensor) and got.requires_grad:
            got = got.detach()
        if isinstance(got, (list, tuple)):
            got = torch.tensor(got)
        compare(got, each.mean(0), {"inputs": inputs}, atol=1e-4, mistakes={
            "that is the loss of each window (averaged over positions); average over the windows "
            "instead, dim 0": each.mean(1),
            "that is the sum over the windows; take their mean": each.sum(0),
        })
        if not isinstance(got, torch.Tensor):
            raise Failure(f"expected a tensor of shape ({length},), got {type(got).__name__}")
