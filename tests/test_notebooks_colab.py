"""Every chapter runs in Colab, Binder and on the website; the repository is named in one place.

- Colab: every notebook's first code cell is the one set-up cell that tools/colab_cell.py writes
  from _config.yml, requirements.txt and pyproject.toml. In Colab it pip-installs the library from
  the repository and the chapters' packages; anywhere else it does nothing. Insert or update it
  with `python tools/colab_cell.py notebooks/*.ipynb`.
- Binder: .binder/ installs the CPU build of torch, in the version the Makefile (and so CI) reads
  from there, and the repository's requirements (the library included).
- Widgets: an explorer needs a kernel, so its output is left off the website (tag `remove-output`)
  and the text beside it says where to run it live.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import colab_cell  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO, BRANCH = CONFIG["repository"]["url"].rstrip("/"), CONFIG["repository"]["branch"]
SETUP_CELL = colab_cell.source()


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def run_setup_cell(monkeypatch, in_colab):
    """Execute the set-up cell with subprocess.run replaced; return the commands it ran."""
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: commands.append((args, kw)))
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(SETUP_CELL, "<colab set-up cell>", "exec"), {})
    return commands


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_colab_setup_cell(path):
    first = next(c for c in cells(path) if c["cell_type"] == "code")
    assert source(first) == SETUP_CELL and first["metadata"].get("tags") == colab_cell.TAGS, (
        f"{path.name}: the first code cell is not the current Colab set-up cell; "
        f"run `python tools/colab_cell.py {path.relative_to(ROOT)}`")
    assert [c for c in cells(path) if colab_cell.is_setup_cell(c)] == [first], "set-up cell twice"


def test_setup_cell_is_plain_python():
    ast.parse(SETUP_CELL)
    assert not re.search(r"^\s*[%!]", SETUP_CELL, re.M), "no IPython magics: the cell runs anywhere"


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    assert run_setup_cell(monkeypatch, in_colab=False) == []


def test_setup_cell_installs_the_library_and_the_chapters_packages_in_colab(monkeypatch):
    [(args, kwargs)] = run_setup_cell(monkeypatch, in_colab=True)
    assert args[:4] == [sys.executable, "-m", "pip", "install"] and kwargs.get("check") is True
    [library] = [a for a in args if a.startswith("transformer_lib")]
    assert library.endswith(f" @ git+{REPO}@{BRANCH}"), library
    project = colab_cell.tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    brings = {colab_cell._name(r) for r in project["dependencies"]}
    for extra in colab_cell._extras(library):
        brings |= {colab_cell._name(r) for r in project["optional-dependencies"][extra]}
    installed = {colab_cell._name(a) for a in args[4:] if not a.startswith("-")}
    for line in colab_cell.requirement_lines(ROOT):
        if line.startswith("-e"):  # the library, with the extras the chapters use
            needed = [r for extra in colab_cell.requested_extras(ROOT).values() for r in extra]
        elif line.startswith("-"):
            continue
        else:
            needed = [line]
        for requirement in needed:
            name = colab_cell._name(requirement)
            assert name in installed | brings | colab_cell.COLAB_PROVIDES, (
                f"{name} (requirements.txt) is not installed in Colab: "
                "run `python tools/colab_cell.py notebooks/*.ipynb`")


def test_the_repository_is_named_consistently():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO)
    texts = {p.relative_to(ROOT): p.read_text() for p in
             [ROOT / "README.md", *sorted((ROOT / "book").glob("*.md")), *NOTEBOOKS,
              *sorted((ROOT / ".github").rglob("*.yml"))]}
    for name, text in texts.items():
        for url in re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", text):
            if "/actions/" in url or url.startswith("https://github.com/actions"):
                continue
            assert url.removesuffix(".git") == REPO, f"{name} names another repository: {url}"
    assert REPO in texts[Path("README.md")], "README.md should link the repository"
    assert "_config.yml" in texts[Path("book/how_to_run.md")], (
        "how_to_run should say where forks change it")


def test_binder_installs_cpu_torch_and_the_library():
    binder = ROOT / ".binder"
    requirements = (binder / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert re.search(r"^torch==\d+\.\d+\.\d+$", requirements, re.M), "pin one torch release"
    assert re.search(r"^-r \.\./requirements\.txt$", requirements, re.M)
    assert re.search(r"^-e \.(\[|$)", (ROOT / "requirements.txt").read_text(), re.M), (
        "the library comes with requirements.txt")
    assert re.fullmatch(r"python-3\.1[0-9]\s*", (binder / "runtime.txt").read_text())


def test_the_torch_version_is_named_once():
    """.binder/requirements.txt pins the tested torch; the Makefile (so CI too) reads it there."""
    pinned = re.search(r"^torch==(\S+)$", (ROOT / ".binder" / "requirements.txt").read_text(),
                       re.M).group(1)
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    read = subprocess.run(["make", "-s", "--no-print-directory", "--eval",
                           "print-torch-version: ; @echo $(TORCH_VERSION)", "print-torch-version"],
                          cwd=ROOT, capture_output=True, text=True, env=make_environment())
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == pinned
    for path in [ROOT / "Makefile", ROOT / "pyproject.toml", ROOT / "requirements.txt",
                 ROOT / "requirements-dev.txt", *sorted((ROOT / ".github").rglob("*.yml")),
                 ROOT / ".ci" / "run"]:
        assert pinned not in path.read_text(), f"{path.relative_to(ROOT)} repeats torch {pinned}"


def make_environment():
    """The environment without make's own variables, for a make started from inside make."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}


def explorer_cells(path):
    all_cells = cells(path)
    return [(i, all_cells) for i, c in enumerate(all_cells)
            if c["cell_type"] == "code"
            and re.search(r"\bviz\.\w*explorer\(|\binteract(ive)?\(", source(c))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_widget_explorers_have_no_blank_box_on_the_website(path):
    for i, all_cells in explorer_cells(path):
        assert "remove-output" in all_cells[i]["metadata"].get("tags", []), (
            f"{path.name}: tag the explorer cell {i} `remove-output`: without a kernel the website "
            "would show a blank box")
        nearby = " ".join(source(c) for c in all_cells[max(0, i - 2):i + 2]
                          if c["cell_type"] == "markdown")
        assert "Binder" in nearby and "Colab" in nearby, (
            f"{path.name}: say beside the explorer (cell {i}) how to get it live "
            "(Binder, Colab, locally)")
