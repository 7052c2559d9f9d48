"""Chapter 4's exercise checks accept right answers and explain the typical wrong ones."""

import math

import torch
import torch.nn.functional as F
from torch import nn

import transformer_lib as tl
from transformer_lib import checks


def layer_norm(x, weight, bias, eps, dim=-1, unbiased=False, eps_outside=False):
    mean = x.mean(dim, keepdim=True)
    var = x.var(dim, keepdim=True, unbiased=unbiased)
    std = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return (x - mean) / std * weight + bias


def layer_norm_backward(x, grad, eps, mean_term=True, std_term=True, divide=True):
    """The gradient of sum(grad * x_hat) w.r.t. x; the keyword arguments make the mistakes."""
    std = (x.var(-1, keepdim=True, unbiased=False) + eps).sqrt()
    x_hat = (x - x.mean(-1, keepdim=True)) / std
    out = grad - mean_term * grad.mean(-1, keepdim=True)
    out = out - std_term * x_hat * (grad * x_hat).mean(-1, keepdim=True)
    return out / std if divide else out


def by_autograd(x, grad, eps):
    x = x.detach().requires_grad_()
    return torch.autograd.grad((F.layer_norm(x, x.shape[-1:], eps=eps) * grad).sum(), x)[0]


def causal_batch_norm(x, eps, pool=(0, 1), seen="upto", unbiased=False):
    """Each position t normalized with the statistics over the axes ``pool`` of the positions
    ``seen``: 0 to t (right), all of them or t alone (mistakes)."""
    out = []
    for t in range(x.shape[1]):
        window = {"upto": x[:, :t + 1], "all": x, "alone": x[:, t:t + 1]}[seen]
        mean = window.mean(pool, keepdim=True)
        var = window.var(pool, keepdim=True, unbiased=unbiased)
        out.append((x[:, t:t + 1] - mean) / (var + eps).sqrt())
    return torch.cat(out, dim=1)


def causal_batch_norm_cumsum(x, eps):  # running sums over the positions, in float32
    count = x.shape[0] * torch.arange(1, x.shape[1] + 1).view(1, -1, 1)  # (1, T, 1)
    mean = x.sum(0, keepdim=True).cumsum(1) / count  # (1, T, D)
    var = x.pow(2).sum(0, keepdim=True).cumsum(1) / count - mean**2
    return (x - mean) / (var + eps).sqrt()


def from_annotated(a_2, b_2, factor=lambda d: math.sqrt((d - 1) / d), bias_factor=False):
    f = factor(a_2.shape[-1])
    return a_2 * f, b_2 * f if bias_factor else b_2.clone()


def rms_norm(x, weight, eps, center=False, eps_outside=False):
    if center:
        x = x - x.mean(-1, keepdim=True)
    ms = x.pow(2).mean(-1, keepdim=True)
    return x / (ms.sqrt() + eps if eps_outside else (ms + eps).sqrt()) * weight


def stream_rms(n_layers, norm_first=True, final_norm=False):
    torch.manual_seed(123)
    x = torch.randn(32, 16, 64)
    with torch.no_grad():
        for _ in range(n_layers):
            x = tl.ResidualConnection(64, norm_first=norm_first)(x, tl.FeedForward(64))
        if final_norm:
            x = tl.LayerNorm(64)(x)
    return x.pow(2).mean().sqrt().item()


class LayerNorm(nn.Module):
    """The build exercise's solution; the keyword arguments make the known mistakes."""

    def __init__(self, d_model, eps=1e-5, unbiased=False, dim=-1, start=1.0, detach=False):
        super().__init__()
        self.weight = nn.Parameter(torch.full((d_model,), start))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.eps, self.unbiased, self.dim, self.detach = eps, unbiased, dim, detach

    def forward(self, x):
        out = layer_norm(x, self.weight, self.bias, self.eps, self.dim, self.unbiased)
        return out.detach() if self.detach else out


def norm_with(**mistake):
    return lambda d_model, eps: LayerNorm(d_model, eps, **mistake)


class Residual(nn.Module):
    """The residual block's solution; ``swap`` builds the other placement, ``skip`` no residual."""

    def __init__(self, d_model, dropout=0.0, norm_first=False, swap=False, skip=False):
        super().__init__()
        self.norm, self.norm_first, self.skip = LayerNorm(d_model), norm_first != swap, skip

    def forward(self, x, sublayer):
        residual = 0 if self.skip else x
        if self.norm_first:
            return residual + sublayer(self.norm(x))
        return self.norm(residual + sublayer(x))


RIGHT = [
    (checks.check_layer_norm_module, LayerNorm),
    (checks.check_layer_norm_module, lambda d_model, eps: tl.LayerNorm(d_model, eps)),
    (checks.check_layer_norm_module, lambda d_model, eps: nn.LayerNorm(d_model, eps)),
    (checks.check_residual_module, Residual),
    (checks.check_residual_module, tl.ResidualConnection),
    (checks.check_layer_norm_backward, layer_norm_backward),
    (checks.check_layer_norm_backward, by_autograd),
    (checks.check_layer_norm_backward,
     lambda x, g, eps: layer_norm_backward(x.double(), g.double(), eps)),
    (checks.check_causal_batch_norm, causal_batch_norm),
    (checks.check_causal_batch_norm, causal_batch_norm_cumsum),
    (checks.check_from_annotated, from_annotated),
    (checks.check_from_annotated, lambda a, b: (a * (1 - 1 / a.numel()) ** 0.5, b)),
    (checks.check_rms_norm, rms_norm),
    (checks.check_rms_norm, lambda x, w, eps: rms_norm(x.double(), w.double(), eps)),
    (checks.check_rms_norm, lambda x, w, eps: F.rms_norm(x, (x.shape[-1],), w, eps)),
    (checks.check_stream_rms, stream_rms),
]

WRONG = [
    (checks.check_layer_norm_backward,
     lambda x, g, eps: layer_norm_backward(x, g, eps, mean_term=False, std_term=False),
     "treats the mean and the std as constants"),
    (checks.check_layer_norm_backward,
     lambda x, g, eps: layer_norm_backward(x, g, eps, mean_term=False),
     "the mean depends on every x_i"),
    (checks.check_layer_norm_backward,
     lambda x, g, eps: layer_norm_backward(x, g, eps, std_term=False),
     "the std depends on every x_i"),
    (checks.check_layer_norm_backward,
     lambda x, g, eps: layer_norm_backward(x, g, eps, divide=False), "divide by the std"),
    (checks.check_layer_norm_backward, lambda x, g, eps: by_autograd(x, g, eps)[..., :-1],
     "wrong shape"),
    (checks.check_causal_batch_norm, lambda x, eps: causal_batch_norm(x, eps, seen="all"),
     "later positions' statistics"),
    (checks.check_causal_batch_norm, lambda x, eps: causal_batch_norm(x, eps, pool=1),
     "pool the B sequences too"),
    (checks.check_causal_batch_norm, lambda x, eps: causal_batch_norm(x, eps, seen="alone"),
     "position t alone"),
    (checks.check_causal_batch_norm, lambda x, eps: causal_batch_norm(x, eps, unbiased=True),
     "biased variance"),
    (checks.check_from_annotated, lambda a, b: (a.clone(), b.clone()), "divides by D - 1"),
    (checks.check_from_annotated,
     lambda a, b: from_annotated(a, b, factor=lambda d: math.sqrt(d / (d - 1))), "other way"),
    (checks.check_from_annotated, lambda a, b: from_annotated(a, b, bias_factor=True),
     "needs no correction"),
    (checks.check_from_annotated, lambda a, b: a, "expected a tuple (weight, bias)"),
    (checks.check_rms_norm,
     lambda x, w, eps: rms_norm(x, w, eps, center=True), "subtracted the mean"),
    (checks.check_rms_norm, lambda x, w, eps: rms_norm(x, w, eps, eps_outside=True),
     "eps must go inside the square root"),
    (checks.check_rms_norm,
     lambda x, w, eps: rms_norm(x, 1.0, eps), "forgot to multiply by weight"),
    (checks.check_rms_norm, lambda x, w, eps: x / (x.pow(2).sum(-1, keepdim=True) + eps).sqrt() * w,
     "not their sum"),
    (checks.check_rms_norm, lambda x, w, eps: x / (x.pow(2).mean(0, keepdim=True) + eps).sqrt() * w,
     "its own D features"),
    (checks.check_stream_rms, lambda n: stream_rms(n, norm_first=False), "stays at 1"),
    (checks.check_stream_rms, lambda n: stream_rms(n, final_norm=True), "stays at 1"),
    (checks.check_stream_rms, lambda n: torch.tensor(stream_rms(n)), "use .item()"),
    (checks.check_stream_rms, lambda n: 1.0 + n, "expected about"),
    (checks.check_layer_norm_module, norm_with(unbiased=True), "unbiased variance"),
    (checks.check_layer_norm_module, norm_with(dim=0), "batch axis"),
    (checks.check_layer_norm_module, norm_with(start=0.0), "weight all ones"),
    (checks.check_layer_norm_module, norm_with(detach=True), "cut off from autograd"),
    (checks.check_layer_norm_module, lambda d, eps: nn.Linear(d, d), "needs a parameter weight"),
    (checks.check_residual_module, lambda d, p, norm_first: Residual(d, p, norm_first, swap=True),
     "with norm_first=False: this is the pre-LN placement"),
    (checks.check_residual_module, lambda d, p, norm_first: Residual(d, p, norm_first, skip=True),
     "residual is missing"),
    (checks.check_residual_module, lambda d, p, norm_first: nn.Identity(), "named norm"),
]


def test_checks_leave_the_global_random_state_alone():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    assert checks.check_layer_norm_backward(layer_norm_backward)
    assert checks.check_causal_batch_norm(causal_batch_norm)
    assert checks.check_rms_norm(rms_norm)
    assert checks.check_stream_rms(lambda n: (1 + 0.06 * n) ** 0.5)  # variance: +0.06 a block
    assert torch.equal(torch.get_rng_state(), before)
