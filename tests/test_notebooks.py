"""The chapters' hygiene: committed clean, in the table of contents, exercises well formed."""

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

import transformer_lib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 2


def test_toc_lists_every_chapter_and_only_existing_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for file in files:
        assert any((ROOT / f"{file}{ext}").exists() for ext in (".md", ".ipynb")), file
    listed = {f for f in files if f.startswith("notebooks/")}
    assert listed == {f"notebooks/{p.stem}" for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for cell in cells(path):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, source(cell)[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_redefines_a_library_name(path):
    """A bare name from the library means the library's thing everywhere, except for the learner's
    own version of it: a build exercise's solution (chapter 2's MultiHeadAttention) and the parts
    that parts.load brings back (the learner's where saved, else the library's)."""
    exported = set(transformer_lib.__all__)
    for cell in cells(path):
        if cell["cell_type"] != "code" or cell["metadata"].get("nbgrader", {}).get("solution"):
            continue
        code = "\n".join(line for line in source(cell).splitlines()
                         if line.lstrip()[:1] not in "%!")
        for node in ast.parse(code).body:
            names = set()
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = {node.name}
            elif isinstance(node, ast.Assign) and not is_parts_load(node.value):
                names = {n.id for t in node.targets for n in ast.walk(t)
                         if isinstance(n, ast.Name)}
            assert not names & exported, f"{path.name} redefines {names & exported}"


def is_parts_load(value) -> bool:
    """``parts.load(...)``: the learner's parts where saved, the library's otherwise."""
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
            and value.func.attr == "load" and getattr(value.func.value, "id", "") == "parts")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_are_marked_and_checked(path):
    all_cells = cells(path)
    solutions = [i for i, c in enumerate(all_cells) if BEGIN in source(c)]
    assert len(solutions) >= 3, "each chapter has at least three exercises"
    grade_ids = [all_cells[i]["metadata"].get("nbgrader", {}).get("grade_id") for i in solutions]
    assert len(set(grade_ids)) == len(grade_ids), f"nbgrader ids must be unique: {grade_ids}"
    for i in solutions:
        text = source(all_cells[i])
        assert text.count(BEGIN) == text.count(END) == 1, text[:80]
        assert text.index(BEGIN) < text.index(END)
        assert "hide-input" in all_cells[i]["metadata"].get("tags", []), text[:80]
        nbgrader = all_cells[i]["metadata"].get("nbgrader", {})  # what nbgrader needs to grade it
        assert nbgrader.get("solution") is True and nbgrader.get("grade") is False, text[:80]
        assert nbgrader.get("grade_id", "").startswith(f"ch{path.name[:2]}-exercise-"), text[:80]
        check = all_cells[i + 1]  # a locked nbgrader test worth a point, raising with the reason
        assert re.fullmatch(r"checks\.check_\w+\(\w+\)\.assert_passed\(\)", source(check)), \
            source(check)[:80]
        assert check["metadata"].get("nbgrader") == {
            "grade": True, "grade_id": f"{nbgrader['grade_id']}-check", "locked": True,
            "points": 1, "schema_version": 3, "solution": False, "task": False}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_has_the_standard_sections(path):
    headings = [line for c in cells(path) if c["cell_type"] == "markdown"
                for line in source(c).splitlines() if line.startswith("#")]
    text = " ".join(headings).lower()
    for section in ("common mistakes", "exercises", "summary"):
        assert section in text, f"{path.name} has no '{section}' section"


def test_every_citation_is_in_the_bibliography():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book/references.bib").read_text(), re.M))
    pages = NOTEBOOKS + sorted((ROOT / "book").glob("*.md"))
    cited = {key for page in pages
             for group in re.findall(r"\{cite:\w+\}`([^`]+)`", page.read_text())
             for key in group.split(",")}
    assert cited, "no citations found"
    assert cited <= keys, f"unknown keys: {cited - keys}"


FIGURE_NAMES = re.compile(r"fig-[a-z0-9-]+")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_is_styled_captioned_and_described(path):
    """Each figure cell carries myst-nb's metadata: a caption (numbered on the website), a name to
    refer to it by, and alt text in words, not the file's path; and the set-up cell sets the
    book's figure style, so the figure is an SVG that fits the column."""
    all_cells = cells(path)
    assert "viz.use_book_style()" in source(all_cells[2]), "the set-up cell sets the figure style"
    names = set()
    for cell in all_cells:
        text = source(cell)
        if cell["cell_type"] != "code" or "plt.show()" not in text:
            continue
        assert text.count("plt.show()") == 1, f"one figure per cell: {text[:80]}"
        meta = cell["metadata"].get("mystnb", {})
        figure, image = meta.get("figure", {}), meta.get("image", {})
        assert len(figure.get("caption", "")) > 40, f"no caption: {text[:80]}"
        assert FIGURE_NAMES.fullmatch(figure.get("name", "")), f"no fig- name: {text[:80]}"
        assert figure["name"] not in names, f"the name {figure['name']} is used twice"
        names.add(figure["name"])
        alt = image.get("alt", "")
        assert len(alt) > 40 and "/" not in alt and not alt.endswith((".png", ".svg")), alt
        for width in re.findall(r"figsize=\(([\d.]+),", text):
            assert float(width) <= 7.0, f"wider than the column (viz.COLUMN_INCHES): {text[:80]}"


def test_figure_names_are_unique_in_the_book():
    names = [cell["metadata"]["mystnb"]["figure"]["name"] for path in NOTEBOOKS
             for cell in cells(path) if "figure" in cell["metadata"].get("mystnb", {})]
    for page in (ROOT / "book").glob("*.md"):
        names += re.findall(r"^name: (fig-[a-z0-9-]+)$", page.read_text(), re.MULTILINE)
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


# --- Part I as a course (issue 18): the learner builds, pages read as lessons ---------------------

PART_ONE = [path for path in NOTEBOOKS if int(path.name[:2]) <= 7]
HIDDEN = {"remove-input", "remove-cell", "hide-input", "hide-cell"}  # code not shown on the page
MAX_VISIBLE_ASSERTS = 15


def shown_on_the_page(cell) -> bool:
    return (cell["cell_type"] == "code"
            and not HIDDEN & set(cell["metadata"].get("tags", [])))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_chapter_reads_as_a_lesson_not_a_test_report(path):
    """At most 15 assert statements in the code a reader sees; the other checks run in cells
    whose code the website leaves out (remove-input), and the prose does not say "(asserted"."""
    all_cells = cells(path)
    shown = sum(len(re.findall(r"^\s*assert\b", source(c), re.M))
                for c in all_cells if shown_on_the_page(c))
    assert shown <= MAX_VISIBLE_ASSERTS, f"{path.name}: {shown} visible asserts"
    prose = " ".join(source(c) for c in all_cells if c["cell_type"] == "markdown")
    assert "(asserted" not in prose


def code_shape(code: str) -> list[str]:
    """The code's tokens, with local names as N, strings, comments and the solution markers
    dropped, and def lines left out: renaming a function does not hide a copy."""
    import io
    import keyword
    import tokenize

    kept = "\n".join(line for line in code.splitlines() if "SOLUTION" not in line
                     and not line.strip().startswith(("def ", "@")))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.STRING}
    out, previous = [], None
    try:
        for token in tokenize.generate_tokens(io.StringIO(kept).readline):
            if token.type in skip:
                continue
            value = token.string
            if token.type == tokenize.NAME and not keyword.iskeyword(value) and previous != ".":
                value = "N"
            out.append(value)
            previous = token.string
    except (tokenize.TokenError, IndentationError, SyntaxError):  # def lines gone: words then
        out = kept.split()
    return out


def share_shown_before(solution: list[str], shown: list[str]) -> float:
    """The share of the solution's tokens found, in runs of at least 5, in the code shown."""
    import difflib

    matcher = difflib.SequenceMatcher(None, solution, shown, autojunk=False)
    return sum(b.size for b in matcher.get_matching_blocks() if b.size >= 5) / len(solution)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_exercise_asks_to_retype_code_the_page_showed(path):
    """No solution is 80 % or more made of code the page displayed before it."""
    shown: list[str] = []
    for cell in cells(path):
        if BEGIN in source(cell):
            solution = code_shape(source(cell))
            if len(solution) >= 6:
                share = share_shown_before(solution, shown)
                assert share < 0.8, f"{share:.0%} shown before: {source(cell)[:120]}"
        elif shown_on_the_page(cell):
            shown += code_shape(source(cell)) + ["<cell>"]


def test_the_transcription_measure_sees_a_copy_under_new_names():
    shown = code_shape("def f(x, y):\n    z = x @ y.T / math.sqrt(y.shape[-1])\n    return z")
    copy = code_shape("def g(a, b):\n    ### BEGIN SOLUTION\n    c = a @ b.T / math.sqrt("
                      "b.shape[-1])\n    return c\n    ### END SOLUTION")
    other = code_shape("def g(a, b):\n    return torch.where(a > 0, a, b).sum(dim=0).mean()")
    assert share_shown_before(copy, shown) == 1.0 and share_shown_before(other, shown) < 0.5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_chapter_asks_for_a_prediction_before_it_measures(path):
    prompts = [source(c) for c in cells(path) if c["cell_type"] == "markdown"
               and ":::{admonition} Predict, then run" in source(c)]
    assert prompts, f"{path.name} has no 'Predict, then run' prompt"


BUILDS = {  # chapter -> what its central build exercise's solution defines
    "01": r"def (learn_bpe|bpe_\w+)\(|class BPE\w*\(",
    "02": r"class MultiHeadAttention\(nn\.Module\)",
    "03": r"class FeedForward\(nn\.Module\)", "04": r"class LayerNorm\(nn\.Module\)",
    "05": r"class EncoderLayer\(nn\.Module\)", "06": r"class DecoderLayer\(nn\.Module\)",
    "07": r"def train_step\(",
}


@pytest.mark.parametrize("path", PART_ONE, ids=lambda p: p.name)
def test_each_chapter_of_part_one_has_its_build_exercise(path):
    """The learner builds the chapter's component before the page shows the library's."""
    builds = [source(c) for c in cells(path) if BEGIN in source(c)
              and "-build" in c["metadata"].get("nbgrader", {}).get("grade_id", "")]
    assert any(re.search(BUILDS[path.name[:2]], text) for text in builds), path.name


# --- Part II measured honestly (issue 19) ------------------------------------------------------

PART_TWO = [path for path in NOTEBOOKS if int(path.name[:2]) >= 8]  # and part III


def watched_during_training(code: str) -> list[str]:
    """The code of every ``evaluate=`` callback a ``fit(...)`` call receives: a lambda's body, or
    the whole definition of the function it names (``def name(...)`` in the same notebook)."""
    watched = []
    for value in re.findall(r"evaluate=(lambda[^\n]*|\w+)", code):
        if value.startswith("lambda"):
            watched.append(value)
        else:
            watched.append(definition(code, value) or value)
    return watched


def definition(code: str, name: str) -> str:
    """The lines of ``def name(...)`` in ``code``, at any indentation, up to the end of its body."""
    lines = code.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"\s*def {name}\(", line):
            indent = len(line) - len(line.lstrip())
            end = i + 1
            while end < len(lines) and (not lines[end].strip() or
                                        len(lines[end]) - len(lines[end].lstrip()) > indent):
                end += 1
            return "\n".join(lines[i:end])
    return ""


@pytest.mark.parametrize("path", PART_TWO, ids=lambda p: p.name)
def test_no_test_set_is_watched_during_training(path):
    """What training looks at (the evaluate= callbacks of fit) reads validation data, never test
    data: the test set is used once, at the end."""
    code = "\n".join(source(c) for c in cells(path) if c["cell_type"] == "code")
    for watched in watched_during_training(code):
        assert not re.search(r"test", watched, re.I), f"{path.name} watches: {watched[:200]}"


def test_the_rule_sees_a_test_set_behind_a_named_callback():
    code = ("def train():\n"
            "    def evaluate(model):\n"
            "        return {'acc': accuracy(model, test_ids)}\n"
            "\n"
            "    return 1\n"
            "history = fit(model, evaluate=evaluate)\n"
            "fit(m, evaluate=lambda m: loss(m, val))")
    watched = watched_during_training(code)
    assert len(watched) == 2 and "test_ids" in watched[0] and "val" in watched[1]
