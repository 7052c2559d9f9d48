"""What every part of the benchmarks shares: the repository's root, a unit, a child's environment.

The rest lives by subject: ``machine`` (the machine and how busy it was), ``timing`` (alternating
rounds), ``profiling`` (profiles and what their ops are in the library), ``report`` (markdown).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20


def python_with_repo_on_path() -> dict:
    """The environment for a child Python that must import ``benchmarks`` and the library."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env
