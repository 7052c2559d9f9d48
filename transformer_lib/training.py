"""Chapter 7: the learning-rate schedule and one training loop for every model.

The loop knows nothing about the model: it asks ``get_batch(step)`` for a batch and
``loss_fn(model, batch)`` for a scalar loss (one of :mod:`transformer_lib.losses`, say). The same
loop trains the translator, the language model, the classifier and the tagger of the later
chapters. It records the run in a :class:`transformer_lib.history.History` and writes checkpoints
with :mod:`transformer_lib.checkpoint`.

See: notebooks/07_training.ipynb
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import torch
from torch import nn

from transformer_lib import _validate
from transformer_lib.checkpoint import save_checkpoint
from transformer_lib.history import History

__all__ = ["fit", "noam_lr", "noam_optimizer", "train_step"]

READ_EVERY = 50  # fit reads the losses back from the device once per this many steps


def noam_lr(step: int, d_model: int, warmup: int, factor: float = 1.0) -> float:
    """The paper's learning rate (section 5.3): ``D^-0.5 * min(step^-0.5, step * warmup^-1.5)``.

    It grows linearly for ``warmup`` steps, then decays as ``1 / sqrt(step)``. ``step`` starts at 1.
    """
    _validate.positive_int("step", step)
    _validate.positive_int("d_model", d_model)
    _validate.positive_int("warmup", warmup)
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def noam_optimizer(
    model: nn.Module, d_model: int, warmup: int = 4000, factor: float = 1.0
) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam with the paper's settings (beta1 0.9, beta2 0.98, eps 1e-9) and its warmup schedule.

    Call ``scheduler.step()`` after each ``optimizer.step()``; optimizer step k (from 1) then uses
    ``noam_lr(k, d_model, warmup, factor)``.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: noam_lr(i + 1, d_model, warmup, factor)
    )
    return optimizer, scheduler


def train_step(
    model: nn.Module,
    batch,
    loss_fn: Callable[[nn.Module, object], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler=None,
    clip_norm: float | None = 1.0,
) -> torch.Tensor:
    """One optimizer step on ``batch``; returns the loss, detached (still on the device).

    Forget the last step's gradients, compute ``loss_fn(model, batch)``, backpropagate, clip the
    gradient to the norm ``clip_norm`` (None: no clipping), step the optimizer, then the schedule.
    """
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model, batch)
    loss.backward()
    if clip_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.detach()


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch.to(device) if hasattr(batch, "to") else batch


def _read_losses(pending: list[torch.Tensor], history: History) -> None:
    """Move the losses of the last steps into ``history``, in one read from the device.

    Reading a loss (``loss.item()``) makes the CPU wait for the GPU, so the loop keeps the losses
    on the device and reads them every ``READ_EVERY`` steps. A loss that is not finite stops the
    run then, naming the step where it first appeared.
    """
    if not pending:
        return
    first = history.step - len(pending)  # the step count before the first pending loss
    values = torch.stack(pending).tolist()
    pending.clear()
    for offset, value in enumerate(values):
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss became {value} at step {first + offset}")
    history.losses.extend(values)


def _run_eval(model, evaluate, history, log) -> None:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        metrics = evaluate(model)
    model.train(was_training)
    history.eval_steps.append(history.step)
    for name, value in metrics.items():
        history.evals.setdefault(name, []).append(float(value))
    if log:
        shown = "  ".join(f"{k} {float(v):.4f}" for k, v in metrics.items())
        print(f"step {history.step:5d}  train loss {history.losses[-1]:.4f}  {shown}")


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    get_batch: Callable[[int], object],
    loss_fn: Callable[[nn.Module, object], torch.Tensor],
    steps: int,
    *,
    scheduler=None,
    clip_norm: float | None = 1.0,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    eval_every: int | None = None,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    history: History | None = None,
    progress: bool = True,
    log: bool = True,
    step_fn: Callable = train_step,
) -> History:
    """Train ``model`` until ``steps`` optimizer steps are done in total, and return the history.

    Each step: ``batch = get_batch(step)`` (moved to the model's device), then
    ``step_fn(model, batch, loss_fn, optimizer, scheduler, clip_norm)``, by default
    :func:`train_step`: the loss, backward, gradient clipping to ``clip_norm`` (None: no
    clipping), optimizer step, scheduler step. Chapter 7 passes the learner's own step.
    ``evaluate(model)`` (run under ``model.eval()`` and ``torch.no_grad()``) returns named
    metrics every ``eval_every`` steps and at the end. A checkpoint is written to
    ``checkpoint`` every ``checkpoint_every`` steps and at the end.

    ``progress`` shows a tqdm bar (a widget in Jupyter) unless the environment sets
    ``TQDM_DISABLE=1``, as the book build does. ``log`` prints the evaluations.

    The losses stay on the device and are read back into ``history.losses`` every
    ``READ_EVERY`` steps (and before each evaluation, checkpoint and the end): reading one at every
    step would make the CPU wait for the GPU. A loss that is not finite then stops the run with a
    ``FloatingPointError`` naming its step.

    Pass the ``history`` of an earlier run (e.g. from ``load_checkpoint``) to continue it.
    Interrupting the loop (KeyboardInterrupt) stops it cleanly: the last complete checkpoint
    stays on disk, and the history returned has ``interrupted=True``.
    """
    _validate.positive_int("steps", steps)
    for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
        if value is not None:
            _validate.positive_int(name, value)
    if checkpoint_every is not None and checkpoint is None:
        raise ValueError("checkpoint_every is set but checkpoint (the file to write) is None")
    history = History() if history is None else history
    if history.step > steps:
        raise ValueError(f"steps={steps} is fewer than the {history.step} steps already done")
    history.interrupted = False
    device = next(model.parameters()).device
    from tqdm.auto import tqdm

    # TQDM_DISABLE=1 (tqdm's own switch; the book build sets it) hides the bar: on a static web
    # page the notebook bar would be an empty widget.
    show_bar = progress and os.environ.get("TQDM_DISABLE", "").lower() not in ("1", "true", "yes")
    bar = tqdm(total=steps, initial=history.step, disable=not show_bar, leave=False,
               desc="training")
    model.train()
    pending: list[torch.Tensor] = []  # losses still on the device, read back every READ_EVERY steps
    try:
        while history.step < steps:
            batch = _to_device(get_batch(history.step), device)
            history.lrs.append(optimizer.param_groups[0]["lr"])  # the rate this step uses
            loss = step_fn(model, batch, loss_fn, optimizer, scheduler, clip_norm)
            pending.append(torch.as_tensor(loss, device=device).detach().reshape(()))
            history.step += 1
            bar.update(1)
            evaluating = evaluate is not None and eval_every and history.step % eval_every == 0
            saving = checkpoint_every and history.step % checkpoint_every == 0
            if evaluating or saving or len(pending) == READ_EVERY:
                _read_losses(pending, history)
            if evaluating and history.step < steps:
                _run_eval(model, evaluate, history, log)
            if saving:
                save_checkpoint(checkpoint, model, optimizer, scheduler, history.state_dict())
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"interrupted after step {history.step}; the last complete checkpoint is kept")
        _read_losses(pending, history)
        return history
    finally:
        bar.close()
    _read_losses(pending, history)
    if evaluate is not None:
        _run_eval(model, evaluate, history, log)
    if checkpoint is not None:
        save_checkpoint(checkpoint, model, optimizer, scheduler, history.state_dict())
    return history
