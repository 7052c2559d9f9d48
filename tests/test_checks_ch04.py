"""Chapter 4's exercise checks accept right answers and explain the typical wrong ones."""

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


def layer_norm_by_hand(x, weight, bias, eps=1e-5):  # chapter 4's, variance of x - mean
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), biased
    return (x - mean) / torch.sqrt(var + eps) * weight + bias  # (..., D)


def centre_first(x, weight, bias, eps):
    centred = x - x.mean(-1, keepdim=True)
    return centred / (centred.var(-1, keepdim=True, unbiased=False) + eps).sqrt() * weight + bias


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
    (checks.check_layer_norm, layer_norm),
    (checks.check_layer_norm, lambda x, w, b, eps: F.layer_norm(x, (x.shape[-1],), w, b, eps)),
    (checks.check_layer_norm, layer_norm_by_hand),
    (checks.check_layer_norm, centre_first),
    (checks.check_layer_norm,
     lambda x, w, b, eps: layer_norm(x.double(), w.double(), b.double(), eps)),
    (checks.check_layer_norm,
     lambda x, w, b, eps: layer_norm(x.double(), w.double(), b.double(), eps).float()),
    (checks.check_post_ln, lambda x, sub, norm: norm(x + sub(x))),
    (checks.check_pre_ln, lambda x, sub, norm: x + sub(norm(x))),
    (checks.check_rms_norm, rms_norm),
    (checks.check_rms_norm, lambda x, w, eps: rms_norm(x.double(), w.double(), eps)),
    (checks.check_rms_norm, lambda x, w, eps: F.rms_norm(x, (x.shape[-1],), w, eps)),
    (checks.check_stream_rms, stream_rms),
]

WRONG = [
    (checks.check_layer_norm, lambda x, w, b, eps: layer_norm(x, w, b, eps, unbiased=True),
     "unbiased variance"),
    (checks.check_layer_norm, lambda x, w, b, eps: layer_norm(x, w, b, eps, eps_outside=True),
     "eps must go inside the square root"),
    (checks.check_layer_norm, lambda x, w, b, eps: layer_norm(x, w, b, eps, dim=0), "batch axis"),
    (checks.check_layer_norm,
     lambda x, w, b, eps: layer_norm(x, w, b, eps, dim=-2 if x.dim() >= 3 else -1),
     "sequence axis"),
    (checks.check_layer_norm, lambda x, w, b, eps: layer_norm(x, 1.0, 0.0, eps),
     "forgot the gain and bias"),
    (checks.check_layer_norm, lambda x, w, b, eps: layer_norm(x, b, w, eps), "swapped"),
    (checks.check_layer_norm, lambda x, w, b, eps: layer_norm(x, w, b, eps).detach(),
     "cut off from autograd"),
    (checks.check_layer_norm, lambda x, w, b, eps: layer_norm(x, w.detach(), b, eps),
     "no gradient reaches weight"),
    (checks.check_layer_norm,
     lambda x, w, b, eps: layer_norm(x, w, b, eps)[..., :-1], "wrong shape"),
    (checks.check_layer_norm,
     lambda x, w, b, eps: x / (x.var(-1, keepdim=True, unbiased=False) + eps).sqrt() * w + b,
     "subtract the mean from x"),
    (checks.check_layer_norm,
     lambda x, w, b, eps: (x - x.mean()) / (x.var(unbiased=False) + eps).sqrt() * w + b,
     "all axes at once"),
    (checks.check_post_ln, lambda x, sub, norm: x + sub(norm(x)), "this is the pre-LN placement"),
    (checks.check_post_ln, lambda x, sub, norm: norm(sub(x)), "the residual is missing"),
    (checks.check_post_ln, lambda x, sub, norm: x + norm(sub(x)), "normalize the sum"),
    (checks.check_post_ln, lambda x, sub, norm: x + sub(x), "forgot the layer norm"),
    (checks.check_pre_ln, lambda x, sub, norm: norm(x + sub(x)), "this is the post-LN placement"),
    (checks.check_pre_ln, lambda x, sub, norm: sub(norm(x)), "the residual is missing"),
    (checks.check_pre_ln, lambda x, sub, norm: norm(x) + sub(norm(x)), "original x, not norm(x)"),
    (checks.check_pre_ln,
     lambda x, sub, norm: x + norm(sub(x)), "the norm goes before the sublayer"),
    (checks.check_pre_ln, lambda x, sub, norm: x * 2, "wrong values"),
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
    assert checks.check_layer_norm(layer_norm)
    assert checks.check_post_ln(lambda x, sub, norm: norm(x + sub(x)))
    assert checks.check_rms_norm(rms_norm)
    assert checks.check_stream_rms(lambda n: (1 + 0.06 * n) ** 0.5)  # variance: +0.06 a block
    assert torch.equal(torch.get_rng_state(), before)
