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
