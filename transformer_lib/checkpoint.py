"""Checkpoints that are safe to write, safe to read, and refuse to load into the wrong model.

A checkpoint holds the model's and optimizer's state, the scheduler's, the random number
generators' and the training history, so a resumed run continues exactly where it stopped.
It is written to a temporary file and then renamed, so an interruption never leaves a half-written
file; it is read with ``weights_only=True``, so loading a file never runs code from it.

See: notebooks/07_training.ipynb
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from transformer_lib.history import History

__all__ = ["load_checkpoint", "save_checkpoint"]


def _config_of(model: nn.Module) -> dict | None:
    cfg = getattr(model, "cfg", None)
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else None


def save_checkpoint(
    path, model: nn.Module, optimizer=None, scheduler=None, history: dict | None = None
) -> Path:
    """Write everything needed to resume training to ``path``, atomically. Returns the path."""
    path = Path(path)
    state = {
        "model": model.state_dict(),
        "config": _config_of(model),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "history": history,
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_checkpoint(
    path, model: nn.Module, optimizer=None, scheduler=None, restore_rng: bool = True
):
    """Load a checkpoint written by ``save_checkpoint`` into ``model`` (and optimizer, scheduler).

    Returns the training ``History`` stored in it (or None). Raises ``ValueError`` naming the
    difference when the checkpoint comes from a model with another configuration or other
    parameter shapes, and ``FileNotFoundError`` when there is no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint={str(path)!r}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"checkpoint={str(path)!r} is not a checkpoint written by save_checkpoint "
                         f"({type(error).__name__})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"checkpoint={str(path)!r} is not a checkpoint written by save_checkpoint")
    ours, theirs = _config_of(model), state.get("config")
    if ours is not None and theirs is not None and ours != theirs:
        diffs = [f"{k}={theirs.get(k)!r} (this model: {ours.get(k)!r})"
                 for k in ours if ours.get(k) != theirs.get(k)]
        raise ValueError(f"checkpoint={str(path)!r} comes from another configuration: "
                         + ", ".join(diffs))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state["model"]))
    unexpected = sorted(set(state["model"]) - set(expected))
    if missing or unexpected:
        raise ValueError(f"checkpoint={str(path)!r} does not fit this model: missing tensors "
                         f"{missing[:5]}, unexpected tensors {unexpected[:5]}")
    for name, tensor in state["model"].items():
        if tensor.shape != expected[name].shape:
            raise ValueError(f"checkpoint={str(path)!r}: tensor {name!r} has shape "
                             f"{tuple(tensor.shape)}, this model expects "
                             f"{tuple(expected[name].shape)}")
    model.load_state_dict(state["model"])
    if optimizer is not None and state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    if restore_rng:
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
    return None if state["history"] is None else History.from_state_dict(state["history"])
