"""Chapter 18's exercise checks accept right answers and explain the typical wrong ones.

tests/test_checks.py runs the RIGHT and WRONG tables below (and crashing, stub and unexpected
answers) through the shared tests.
"""

import torch
import torch.nn.functional as F

from transformer_lib import checks


def cell_step(order="ifgo", squash_g=torch.tanh, forget=True, tanh_c=True, new_c=True):
    def step(x, h, c, w_ih, w_hh, b_ih, b_hh):
        gates = dict(zip(order, (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)))
        i, f, g, o = (gates[name] for name in "ifgo")
        c_new = (torch.sigmoid(f) * c if forget else 0) + torch.sigmoid(i) * squash_g(g)
        shown = c_new if new_c else c
        return torch.sigmoid(o) * (torch.tanh(shown) if tanh_c else shown), c_new
    return step


def count(input_size, hidden_size, num_layers):
    first = 4 * (hidden_size * input_size + hidden_size ** 2 + 2 * hidden_size)
    return first + (num_layers - 1) * 4 * (2 * hidden_size ** 2 + 2 * hidden_size)


def count_by_module(input_size, hidden_size, num_layers):
    module = torch.nn.LSTM(input_size, hidden_size, num_layers)
    return sum(p.numel() for p in module.parameters())


def multiply_adds(n, d):
    return 4 * n * d * d + 2 * n * n * d, 8 * n * d * d


def per_position(model, inputs, targets, dim=0, reduce="mean"):
    with torch.no_grad():
        each = F.cross_entropy(model(inputs).transpose(1, 2), targets, reduction="none")
    return getattr(each, reduce)(dim)


RIGHT = [
    (checks.check_lstm_cell_step, cell_step()),
    (checks.check_lstm_cell_step, lambda *a: list(cell_step()(*(x.double() for x in a)))),
    (checks.check_lstm_parameter_count, count),
    (checks.check_lstm_parameter_count, count_by_module),
    (checks.check_layer_multiply_adds, multiply_adds),
    (checks.check_layer_multiply_adds, lambda n, d: [float(x) for x in multiply_adds(n, d)]),
    (checks.check_loss_by_position, per_position),
]

WRONG = [
    (checks.check_lstm_cell_step, cell_step(order="ifog"), "input, forget, cell"),
    (checks.check_lstm_cell_step, cell_step(squash_g=torch.sigmoid), "through tanh"),
    (checks.check_lstm_cell_step, cell_step(forget=False), "forget gate"),
    (checks.check_lstm_cell_step, cell_step(tanh_c=False), "with the tanh"),
    (checks.check_lstm_cell_step, cell_step(new_c=False), "not the old c"),
    (checks.check_lstm_cell_step, lambda x, h, c, *w: h, "tuple"),
    (checks.check_lstm_parameter_count, lambda i, h, n: 4 * (h * i + h * h + h) * n,
     "two bias vectors"),
    (checks.check_lstm_parameter_count, lambda i, h, n: count(i, h, n) // 4, "4 gates"),
    (checks.check_lstm_parameter_count, lambda i, h, n: 4 * (h * i + h * h) * n,
     "count the biases"),
    (checks.check_lstm_parameter_count, lambda i, h, n: 4 * (h * i + h * h + 2 * h) * n,
     "input size is hidden_size"),
    (checks.check_lstm_parameter_count, lambda i, h, n: count(i, h, n) / 1, "int"),
    (checks.check_layer_multiply_adds,
     lambda n, d: (4 * n * d * d + n * n * d, 8 * n * d * d), "weighted sum"),
    (checks.check_layer_multiply_adds, lambda n, d: (2 * n * n * d, 8 * n * d * d),
     "four projections"),
    (checks.check_layer_multiply_adds,
     lambda n, d: (4 * n * d * d + 2 * n * n * d, 4 * n * d * d), "two matrices"),
    (checks.check_layer_multiply_adds, lambda n, d: None, "tuple"),
    (checks.check_loss_by_position, lambda m, x, y: per_position(m, x, y, dim=1), "dim 0"),
    (checks.check_loss_by_position, lambda m, x, y: per_position(m, x, y, reduce="sum"),
     "take their mean"),
    (checks.check_loss_by_position, lambda m, x, y: per_position(m, x, y).mean(), "shape"),
]


def test_a_crash_names_the_error():
    result = checks.check_lstm_cell_step(lambda *args: 1 / 0)
    assert not result and "ZeroDivisionError" in result.message
