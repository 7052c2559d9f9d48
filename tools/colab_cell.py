"""The Colab set-up cell: the first code cell of every chapter notebook.

Colab opens a notebook straight from GitHub, without the book's library. This cell installs it
(from the repository named in _config.yml) and the packages the chapters use, when it runs in
Colab; anywhere else it does nothing. It is one identical cell in every notebook, written from
_config.yml (repository URL and branch), requirements.txt and pyproject.toml, and tagged
`remove-cell`, so the website does not show it. tests/test_notebooks_colab.py checks every notebook
has it, up to date.

The library is installed with the extras requirements.txt asks for (`-e .[book]`), less those
that Colab provides itself (widgets); then whatever else requirements.txt lists, less what Colab
provides and what the library brings.

Insert it into new notebooks, or update it everywhere after a change to the repository URL, to
requirements.txt or to the library's dependencies in pyproject.toml (it replaces an existing
set-up cell, and renumbers cell ids "0", "1", ...):

    python tools/colab_cell.py notebooks/*.ipynb
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
MARKER = "# Colab only:"
TAGS = ["remove-cell"]
# Colab brings its own Jupyter front end, kernel and widgets, which it needs in its own versions.
COLAB_PROVIDES = {"ipykernel", "jupyterlab", "ipywidgets"}


def _name(requirement: str) -> str:
    """The normalized name of a requirement: "Foo_bar[x]>=1" -> "foo-bar"."""
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group()
    return re.sub(r"[-_.]+", "-", name).lower()


def _extras(requirement: str) -> list[str]:
    """The extras of a requirement: "foo[a, b]>=1" -> ["a", "b"]."""
    found = re.match(r"[^\[;<>=!~ ]*\[([^\]]*)\]", requirement)
    return [e.strip() for e in found.group(1).split(",") if e.strip()] if found else []


def repository(root: Path = ROOT) -> tuple[str, str]:
    """The repository URL and branch of _config.yml."""
    repo = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def requirement_lines(root: Path = ROOT) -> list[str]:
    """requirements.txt without comments and blank lines (options such as `-e .[book]` kept)."""
    lines = [line.split(" #")[0].strip() for line in
             (root / "requirements.txt").read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _project(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]


def _expand(extras: list[str], project: dict) -> dict[str, list[str]]:
    """Each extra, its references to the library's own extras followed: extra -> requirements."""
    own, found = _name(project["name"]), {}
    todo = list(extras)
    while todo:
        extra = todo.pop()
        if extra in found:
            continue
        if extra not in project.get("optional-dependencies", {}):
            raise SystemExit(f"requirements.txt asks for the extra [{extra}], which pyproject.toml "
                             "does not declare")
        found[extra] = []
        for requirement in project["optional-dependencies"][extra]:
            if _name(requirement) == own:
                todo += _extras(requirement)
            else:
                found[extra].append(requirement)
    return found


def requested_extras(root: Path = ROOT) -> dict[str, list[str]]:
    """The library's extras that requirements.txt installs (`-e .[book]`), with their packages."""
    extras = [e for line in requirement_lines(root) if re.match(r"-e\s+\.(\[|$)", line)
              for e in _extras(line[line.index("."):])]
    return _expand(extras, _project(root))


def library_extras(root: Path = ROOT) -> list[str]:
    """The extras to install the library with in Colab: those with a package Colab lacks."""
    return sorted(extra for extra, requirements in requested_extras(root).items()
                  if requirements and {_name(r) for r in requirements} - COLAB_PROVIDES)


def library_brings(root: Path = ROOT) -> set[str]:
    """The names of the packages that installing the library, with its extras, brings."""
    project = _project(root)
    requirements = project["dependencies"] + [r for rs in requested_extras(root).values()
                                              for r in rs]
    return {_name(r) for r in requirements}


def extra_requirements(root: Path = ROOT) -> list[str]:
    """requirements.txt lines that the library (with its extras) and Colab do not cover."""
    covered = library_brings(root) | COLAB_PROVIDES
    return [line for line in requirement_lines(root)
            if not line.startswith("-") and _name(line) not in covered]


def source(root: Path = ROOT) -> str:
    url, branch = repository(root)
    extras = library_extras(root)
    library = "transformer_lib" + (f"[{','.join(extras)}]" if extras else "")
    packages = "".join(f'\n        "{r}",' for r in extra_requirements(root))
    return f'''{MARKER} install the book's library and the packages its chapters use.
# Anywhere else this cell does nothing: see the book's "How to run" page.
import subprocess
import sys

if "google.colab" in sys.modules:
    BOOK_REPOSITORY = "{url}"
    subprocess.run([
        sys.executable, "-m", "pip", "install", "--quiet",
        f"{library} @ git+{{BOOK_REPOSITORY}}@{branch}",{packages}
    ], check=True)'''


def is_setup_cell(cell) -> bool:
    return cell["cell_type"] == "code" and "".join(cell["source"]).startswith(MARKER)


def add_to(path: Path, root: Path = ROOT) -> bool:
    """Insert (or update) the set-up cell before the notebook's first code cell.
    Returns True when the file changed."""
    notebook = nbformat.read(path, as_version=4)
    cells = notebook.cells
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    numbered = [c.get("id") for c in cells] == [str(i) for i in range(len(cells))]
    cell = nbformat.v4.new_code_cell(source(root), metadata={"tags": list(TAGS)})
    if first_code < len(cells) and is_setup_cell(cells[first_code]):
        old = cells[first_code]
        if old.source == cell.source and old.metadata.get("tags") == TAGS:
            return False
        cell.id = old.get("id", cell.id)
        cells[first_code] = cell
    else:
        cell.id = "colab-setup"
        cells.insert(first_code, cell)
        if numbered:
            for i, c in enumerate(cells):
                c.id = str(i)
    nbformat.write(notebook, path)
    return True


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    for path in paths:
        changed = add_to(Path(path))
        print(f"{path}: {'set-up cell written' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
