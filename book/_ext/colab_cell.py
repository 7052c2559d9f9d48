"""The Colab set-up cell: the first code cell of every chapter notebook.

Colab opens a notebook straight from GitHub, without the book's library. This cell installs it
(from the repository named in _config.yml) and the packages the chapters use, when it runs in
Colab; anywhere else it does nothing. It is one identical cell in every notebook, written from
_config.yml (repository URL and branch) and requirements.txt, and tagged `remove-cell`, so the
website does not show it. tests/test_notebooks_colab.py checks every notebook has it, up to date.

Insert it into new notebooks, or update it everywhere after a change to the repository URL or to
requirements.txt (it replaces an existing set-up cell, and renumbers cell ids "0", "1", ...):

    python book/_ext/colab_cell.py notebooks/*.ipynb
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

ROOT = Path(__file__).resolve().parents[2]
MARKER = "# Colab only:"
TAGS = ["remove-cell"]
# Colab brings its own Jupyter front end, kernel and widgets, which it needs in its own versions.
COLAB_PROVIDES = {"ipykernel", "jupyterlab", "ipywidgets"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group()).lower()


def repository(root: Path = ROOT) -> tuple[str, str]:
    """The repository URL and branch of _config.yml."""
    repo = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def extra_requirements(root: Path = ROOT) -> list[str]:
    """requirements.txt lines that the library's own dependencies and Colab do not cover."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    covered = {_name(r) for r in project["dependencies"]} | COLAB_PROVIDES
    lines = []
    for line in (root / "requirements.txt").read_text().splitlines():
        line = line.split(" #")[0].strip()
        if line and not line.startswith(("#", "-")) and _name(line) not in covered:
            lines.append(line)
    return lines


def source(root: Path = ROOT) -> str:
    url, branch = repository(root)
    packages = "".join(f'\n        "{r}",' for r in extra_requirements(root))
    return f'''{MARKER} install the book's library and the packages its chapters use.
# Anywhere else this cell does nothing: see the book's "How to run" page.
import subprocess
import sys

if "google.colab" in sys.modules:
    BOOK_REPOSITORY = "{url}"
    subprocess.run([
        sys.executable, "-m", "pip", "install", "--quiet",
        f"transformer_lib @ git+{{BOOK_REPOSITORY}}@{branch}",{packages}
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
