"""Input checks shared by the modules: each raises a ValueError that names the argument.

Value checks that read a tensor's contents (token ids in range, lengths) run only on the CPU, where
they cost nothing: on a GPU, reading a value back makes the CPU wait for the GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return value


def positive(name: str, value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name}={value!r} must be positive")
    return value


def probability(name: str, value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r} must be a probability in [0, 1)")
    return float(value)


def tensor(name: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def rank(name: str, x: object, ranks: Sequence[int], shape_doc: str) -> torch.Tensor:
    x = tensor(name, x)
    if x.dim() not in ranks:
        raise ValueError(
            f"{name} must have shape {shape_doc} ({' or '.join(map(str, ranks))} dimensions), "
            f"got {x.dim()} dimensions with shape {tuple(x.shape)}"
        )
    return x


def last_dim(name: str, x: torch.Tensor, expected: int, what: str) -> None:
    if x.shape[-1] != expected:
        raise ValueError(
            f"{name} has last dimension {x.shape[-1]} (shape {tuple(x.shape)}); "
            f"expected {what}={expected}"
        )


def floating(name: str, x: torch.Tensor) -> None:
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def token_ids(name: str, ids: object, vocab_size: int) -> torch.Tensor:
    """Integer ids in ``[0, vocab_size)``.

    The range is checked only for ids on the CPU: on a GPU, reading ``ids.min()`` back would
    make the CPU wait for the GPU at every training step. There, an id out of range fails inside
    the embedding lookup instead; run the same batch on the CPU to get this message.
    """
    ids = tensor(name, ids)
    if ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"{name} must hold integer token ids, got dtype {ids.dtype}")
    if ids.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(ids.shape)}); expected at least one token")
    if ids.device.type != "cpu":
        return ids
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"{name} holds token id {bad}, outside the vocabulary [0, {vocab_size})")
    return ids


def min_rank(name: str, x: object, minimum: int, shape_doc: str) -> torch.Tensor:
    x = tensor(name, x)
    if x.dim() < minimum:
        raise ValueError(
            f"{name} must have shape {shape_doc} (at least {minimum} dimensions), "
            f"got shape {tuple(x.shape)}"
        )
    return x


def features(name: str, x: object, d_model: int) -> torch.Tensor:
    """A float tensor ``(..., D)`` whose last dimension is ``d_model``."""
    x = min_rank(name, x, 1, "(..., D)")
    floating(name, x)
    last_dim(name, x, d_model, "d_model")
    return x


def skip_input_checks(module: torch.nn.Module) -> None:
    """Turn off the input checks of every submodule that has them (``check_inputs``)."""
    for sub in module.modules():
        if hasattr(sub, "check_inputs"):
            sub.check_inputs = False
