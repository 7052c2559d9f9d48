"""Automatic checks for the exercises, one module per chapter.

Each ``check_*`` calls the student's function on several inputs, compares the result with the
reference (PyTorch's own where one exists), prints what differs in plain words, and returns a
``CheckResult`` that is truthy only when everything matched. A check never raises because of a
wrong answer: an exception from the student's code is reported as feedback, not as a traceback.
Use them as ``assert checks.check_xxx(my_function)``.
"""

from transformer_lib.checks._core import CheckResult
from transformer_lib.checks.ch01 import *  # noqa: F403
from transformer_lib.checks.ch02 import *  # noqa: F403
from transformer_lib.checks.ch03 import *  # noqa: F403
from transformer_lib.checks.ch04 import *  # noqa: F403
from transformer_lib.checks.ch05 import *  # noqa: F403
from transformer_lib.checks.ch06 import *  # noqa: F403
from transformer_lib.checks.ch07 import *  # noqa: F403
from transformer_lib.checks.ch08 import *  # noqa: F403
from transformer_lib.checks.ch09 import *  # noqa: F403
from transformer_lib.checks.ch10 import *  # noqa: F403
from transformer_lib.checks.ch11 import *  # noqa: F403
from transformer_lib.checks.ch12 import *  # noqa: F403
