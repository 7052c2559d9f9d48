"""Helpers every chapter uses: device selection, seeding, parameter counting."""

from __future__ import annotations

import os
import random

import torch
from torch import nn

DEVICE_ENV_VAR = "TRANSFORMER_DEVICE"
_KNOWN_DEVICES = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def get_device(prefer: str | None = None) -> torch.device:
    """Pick the device to run on: CUDA, then Apple MPS, then the CPU.

    Args:
        prefer: force one of ``"cuda"``, ``"mps"`` or ``"cpu"``. When ``None``, the environment
            variable ``TRANSFORMER_DEVICE`` is read, and when that is unset the best available
            device is picked.

    Returns:
        the chosen ``torch.device``.
    """
    choice = prefer if prefer is not None else os.environ.get(DEVICE_ENV_VAR) or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    name = choice.split(":")[0]
    source = "prefer" if prefer is not None else DEVICE_ENV_VAR
    if name not in _KNOWN_DEVICES:
        raise ValueError(f"{source}={choice!r} is not a device; expected one of {_KNOWN_DEVICES}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{source}={choice!r} but CUDA is not available on this machine")
    if name == "mps" and not _mps_available():
        raise ValueError(f"{source}={choice!r} but Apple MPS is not available on this machine")
    return torch.device(choice)


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy (if installed) and torch, on every device, so runs repeat.

    Args:
        seed: a non-negative integer.

    Returns:
        a CPU ``torch.Generator`` seeded with ``seed``, for code that wants its own stream.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # NumPy is optional for the library itself
        pass
    torch.manual_seed(seed)  # also seeds CUDA and MPS generators
    return torch.Generator().manual_seed(seed)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters in ``module`` (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for p in module.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total
