"""Exercise checks accept right answers and explain wrong ones without raising.

The same three tests run over every chapter's RIGHT and WRONG tables (tests/test_checks_chNN.py);
the others test the shared machinery and the lazy loading of the chapters.
"""

import collections
import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from transformer_lib import checks
from transformer_lib.checks._compare import Case, diagnose, matches
from transformer_lib.checks._core import Failure, call, describe


def not_implemented(*args):
    raise NotImplementedError


def crashes(*args):
    return {}["missing"]


CHAPTER_FILES = sorted(Path(__file__).parent.glob("test_checks_ch[0-9][0-9].py"))
CHAPTERS = [importlib.import_module(path.stem) for path in CHAPTER_FILES]
RIGHT = [case for chapter in CHAPTERS for case in chapter.RIGHT]
WRONG = [case for chapter in CHAPTERS for case in chapter.WRONG]
CHECKS = sorted({check for check, _ in RIGHT}, key=lambda check: check.__name__)


def case_id(check, answer):
    return f"{check.__name__}-{getattr(answer, '__name__', 'answer')}"


def test_every_exported_check_is_tested_with_two_wrong_answers():
    assert {c.__name__ for c in CHECKS} == {n for n in dir(checks) if n.startswith("check_")}
    wrong = collections.Counter(check.__name__ for check, _, _ in WRONG)
    assert all(wrong[check.__name__] >= 2 for check in CHECKS), wrong


@pytest.mark.parametrize("check, answer", RIGHT, ids=[case_id(*case) for case in RIGHT])
def test_right_answers_pass(check, answer, capsys):
    result = check(answer)
    assert result and result.passed, result.message
    result.assert_passed()
    assert capsys.readouterr().out == f"{result}\n" and repr(result).startswith("[PASSED]")


@pytest.mark.parametrize("check, answer, hint", WRONG,
                         ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_wrong_answers_get_a_hint(check, answer, hint):
    result = check(answer)
    assert not result
    assert hint in result.message, result.message
    with pytest.raises(checks.CheckFailed, match=re.escape(f"[NOT YET] {result.name}: ")):
        result.assert_passed()


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_stubs_and_crashes_are_feedback_not_tracebacks(check):
    assert "not implemented yet" in check(not_implemented).message
    assert "your code raised KeyError" in check(crashes).message
    assert '{}["missing"]' in check(crashes).message
    assert "expected" in check(lambda *args: "a string").message


def returns(value):
    def answer(*args, **kwargs):
        return value
    answer.__name__ = f"returns {describe(value)}"
    return answer


def mutates(*args, **kwargs):
    """Changes the first tensor (or list) it is given in place, then returns nonsense."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            value.mul_(2)
            return value
        if isinstance(value, torch.Tensor):
            value.zero_()
            return value
        if isinstance(value, list):
            value.append(value[-1] if value else 0)
            return value
    return None


UNEXPECTED = [returns(None), returns(torch.tensor(3.0)), returns([[1, 2], [3, None]]),
              returns(np.ones((2, 3))), returns(np.int64(2)), returns([None, ("PER", None)])]


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
@pytest.mark.parametrize("answer", UNEXPECTED, ids=[a.__name__ for a in UNEXPECTED])
def test_unexpected_answers_fail_with_a_message_and_never_raise(check, answer):
    result = check(answer)
    assert not result and len(result.message) > 20, result.message
    assert "Traceback" not in result.message


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_an_answer_that_changes_its_input_fails(check):
    result = check(mutates)
    assert not result, result.message


def test_a_changed_input_is_named_and_a_right_answer_that_copies_passes():
    def double_in_place(x):
        x *= 2
        return x

    with pytest.raises(Failure, match="changed its input x in place"):
        call(double_in_place, torch.ones(3))
    assert torch.equal(call(lambda x: x * 2, torch.ones(3)), torch.full((3,), 2.0))


def test_the_line_quoted_as_yours_is_never_the_standard_library():
    import json

    with pytest.raises(Failure) as failure:
        call(lambda text: json.loads(text), "{")
    assert "json.loads(text)" in str(failure.value)  # the student's lambda, not json/decoder.py


def test_every_check_of_every_chapter_is_a_lazy_attribute_of_checks():
    folder = Path(checks.__file__).parent
    for path in [*sorted(folder.glob("ch[0-9][0-9].py")), folder / "capstone.py"]:
        module = importlib.import_module(f"transformer_lib.checks.{path.stem}")
        defined = {name for name in vars(module) if name.startswith("check_")}
        assert defined == {name for name in checks.__all__
                           if name.startswith("check_") and checks._CHAPTER_OF[name] == path.stem}
        for name in defined:
            assert getattr(checks, name) is getattr(module, name)
            assert name in dir(checks)
            signature = inspect.signature(getattr(checks, name))
            assert list(signature.parameters) in (["student_fn"], ["student_cls"])  # a class: ch02+
            assert signature.return_annotation == "CheckResult"


LAZY_IMPORTS = """
import json, sys
def loaded():
    heavy = ("transformer_lib.checks.ch", "transformer_lib.pretrained", "sacrebleu", "tokenizers")
    return sorted(m for m in sys.modules if m.startswith(heavy))
import transformer_lib.checks as checks
after_import = loaded()
checks.check_sinusoidal_encoding
after_chapter_1 = loaded()
from transformer_lib.checks import check_distinct_n
print(json.dumps([after_import, after_chapter_1, loaded(), check_distinct_n.__module__]))
"""


def test_importing_checks_imports_no_chapter_until_one_of_its_checks_is_used():
    """In a fresh interpreter: the other tests have imported every chapter here."""
    out = subprocess.run([sys.executable, "-c", LAZY_IMPORTS], capture_output=True, text=True,
                         check=True).stdout
    after_import, after_chapter_1, after_chapter_9, module = json.loads(out)
    assert after_import == []
    assert after_chapter_1 == ["transformer_lib.checks.ch01"]
    assert after_chapter_9 == ["transformer_lib.checks.ch01", "transformer_lib.checks.ch09"]
    assert module == "transformer_lib.checks.ch09"


def test_an_unknown_attribute_of_checks_is_an_attribute_error():
    with pytest.raises(AttributeError, match="check_nothing"):
        checks.check_nothing


def test_matches_compares_tensors_numbers_and_sequences():
    inf = float("-inf")
    assert matches(torch.tensor([1.0, inf]), torch.tensor([1.0 + 1e-7, inf]))
    assert not matches(torch.tensor([1.0, inf]), torch.tensor([1.0, 0.0]))
    assert not matches(torch.tensor([1.0]), torch.tensor([[1.0]]))  # another shape
    assert matches(torch.tensor([2, 3]), torch.tensor([2.0, 3.0]))  # any dtype
    assert not matches([1.0], torch.tensor([1.0]))
    assert matches((0.5, 2), (0.5, 2.0)) and not matches((0.5, 2), (0.5, 2.1))
    assert not matches(True, 1) and matches({("PER", 0, 1)}, {("PER", 0, 1)})


def test_diagnose_names_a_mistake_only_when_it_explains_every_wrong_case():
    double = "you doubled it"
    cases = [Case(2.0, 1.0, {double: 2.0}, "case 1"), Case(3.0, 3.0, {double: 6.0}, "case 3"),
             Case(10.0, 5.0, {double: 10.0}, "case 5")]
    with pytest.raises(Failure, match="^you doubled it. For example, case 1$"):
        diagnose(cases)
    cases[2].got = 11.0
    with pytest.raises(Failure, match="^case 1$"):
        diagnose(cases)
    diagnose([Case(1.0, 1.0, {double: 1.0}, "right")])  # right: no Failure
    diagnose([Case(2.0, 1.0, {double: 3.0})])  # no hint, nothing shown: left to compare
    with pytest.raises(Failure, match="^you doubled it$"):
        diagnose([Case(2.0, 1.0, {double: 2.0})])
    with pytest.raises(Failure, match="^expected 1, got 2: you doubled it$"):
        diagnose([Case(2.0, 1.0, {double: 2.0}, "expected 1, got 2")])
