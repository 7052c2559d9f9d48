"""Chapter 7: the record of a training run, which ``training.fit`` fills and checkpoints keep.

See: notebooks/07_training.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["History"]


@dataclass
class History:
    """What a training run recorded: one loss and learning rate per step, and the evaluations.

    ``step`` is the number of optimizer steps done so far; ``evals`` maps a metric's name to its
    values, measured at the steps in ``eval_steps``.
    """

    step: int = 0
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    evals: dict[str, list[float]] = field(default_factory=dict)
    interrupted: bool = False

    def state_dict(self) -> dict:
        return {"step": self.step, "losses": self.losses, "lrs": self.lrs,
                "eval_steps": self.eval_steps, "evals": self.evals}

    @classmethod
    def from_state_dict(cls, state: dict) -> History:
        return cls(state["step"], list(state["losses"]), list(state["lrs"]),
                   list(state["eval_steps"]), {k: list(v) for k, v in state["evals"].items()})
