import pytest
import torch

import transformer_lib as tl


def test_seed_everything_repeats_random_draws():
    tl.seed_everything(3)
    first = torch.randn(4)
    tl.seed_everything(3)
    assert torch.equal(first, torch.randn(4))


def test_device_can_be_forced_by_environment(monkeypatch):
    monkeypatch.setenv("TRANSFORMER_DEVICE", "cpu")
    assert tl.get_device() == torch.device("cpu")
    monkeypatch.setenv("TRANSFORMER_DEVICE", "quantum")
    with pytest.raises(ValueError, match="TRANSFORMER_DEVICE='quantum'"):
        tl.get_device()


def test_default_device_is_the_best_available(monkeypatch):
    monkeypatch.delenv("TRANSFORMER_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert tl.get_device().type == expected


def test_count_parameters_counts_shared_tensors_once():
    layer = torch.nn.Linear(3, 4)
    model = torch.nn.Sequential(layer, torch.nn.ReLU(), layer.__class__(4, 4))
    model[2].weight = torch.nn.Parameter(torch.eye(4))
    assert tl.count_parameters(model) == 3 * 4 + 4 + 4 * 4 + 4
    tied = torch.nn.Sequential(layer, layer)
    assert tl.count_parameters(tied) == 16
    layer.bias.requires_grad_(False)
    assert tl.count_parameters(tied) == 12
    assert tl.count_parameters(tied, trainable_only=False) == 16
