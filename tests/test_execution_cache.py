"""The website's execution cache is reused only while nothing an output depends on has changed.

Jupyter Book's `cache` mode notices a change to a notebook's code, but not to the library the
notebook imports; book/_ext/execution_cache.py empties the cache when a listed dependency (the
library, the requirements) or the installed packages change. Proved on a tiny throwaway book: one
notebook that imports a one-line module, built with the same command and extension as `make book`
(that test executes the notebook, so it is marked `notebooks`: `make test-lib` leaves it out).
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import execution_cache  # noqa: E402

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def test_the_real_book_uses_the_guarded_cache():
    assert CONFIG["execute"]["execute_notebooks"] == "cache"
    assert CONFIG["execute"]["raise_on_error"] is True
    assert "execution_cache" in CONFIG["sphinx"]["local_extensions"]
    dependencies = CONFIG["sphinx"]["config"]["execution_cache_dependencies"]
    assert {"transformer_lib", "requirements.txt", "pyproject.toml"} <= set(dependencies)


def test_fingerprint_sees_every_library_file_but_not_bytecode(tmp_path):
    (tmp_path / "lib" / "sub").mkdir(parents=True)
    (tmp_path / "lib" / "a.py").write_text("A = 1\n")
    (tmp_path / "lib" / "sub" / "b.txt").write_text("data\n")
    before = execution_cache.fingerprint(tmp_path, ["lib"])
    assert {"lib/a.py", "lib/sub/b.txt", "(python)", "(installed packages)"} <= set(before)
    (tmp_path / "lib" / "__pycache__").mkdir()
    (tmp_path / "lib" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert execution_cache.fingerprint(tmp_path, ["lib"]) == before
    (tmp_path / "lib" / "sub" / "b.txt").write_text("other data\n")
    after = execution_cache.fingerprint(tmp_path, ["lib"])
    assert execution_cache._changes(before, after) == ["lib/sub/b.txt"]


def test_stale_cache_is_emptied_and_fresh_one_kept(tmp_path):
    cache = tmp_path / "cache"
    assert execution_cache.invalidate_if_stale(cache, {"x": "1"}) == []
    (cache / "executed").mkdir()
    assert execution_cache.invalidate_if_stale(cache, {"x": "1"}) == []
    assert (cache / "executed").exists()
    assert execution_cache.invalidate_if_stale(cache, {"x": "2"}) == ["x"]
    assert not (cache / "executed").exists()
    assert json.loads((cache / "dependencies.json").read_text()) == {"x": "2"}


# The tiny book ----------------------------------------------------------------------------------


@pytest.fixture
def tiny_book(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text(yaml.safe_dump({
        "title": "Tiny",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "cache", "cache": "_build/.jupyter_cache",
                    "raise_on_error": True, "timeout": 120},
        "sphinx": {"local_extensions": {"execution_cache": str(ROOT / "book" / "_ext")},
                   "config": {"execution_cache_dependencies": ["tinylib.py"]}},
    }))
    (book / "_toc.yml").write_text("format: jb-book\nroot: chapter\n")
    (book / "tinylib.py").write_text('WORD = "alpha"\n')
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = nbformat.v4.new_notebook(
        metadata={"kernelspec": kernel},
        cells=[nbformat.v4.new_markdown_cell("# Tiny chapter"),
               nbformat.v4.new_code_cell("import uuid\nimport tinylib\n"
                                         "print('word:', tinylib.WORD)\n"
                                         "print('run:', uuid.uuid4().hex)")])
    nbformat.write(notebook, book / "chapter.ipynb")
    return book


def build(book):
    """Build the way `make book` does; return the word and the run id the page shows."""
    shutil.rmtree(book / "_build" / "html", ignore_errors=True)
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book),
               "--all", "-W", "-n", "--keep-going"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=book)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    page = (book / "_build" / "html" / "chapter.html").read_text()
    return re.search(r"word: (\w+)", page).group(1), re.search(r"run: (\w+)", page).group(1)


@pytest.mark.notebooks
def test_library_change_invalidates_the_cache_and_nothing_else_does(tiny_book):
    word, first_run = build(tiny_book)
    assert word == "alpha"

    # nothing changed: the outputs come from the cache (the same run)
    assert build(tiny_book) == ("alpha", first_run)

    # the imported module changed, the notebook did not: jupyter-cache alone would serve "alpha"
    (tiny_book / "tinylib.py").write_text('WORD = "beta"\n')
    word, second_run = build(tiny_book)
    assert (word, second_run != first_run) == ("beta", True)
    executed = nbformat.read(tiny_book / "_build" / "jupyter_execute" / "chapter.ipynb",
                             as_version=4)
    assert "word: beta" in executed.cells[1].outputs[0]["text"], (
        "executed notebook kept with outputs")

    # the notebook's code changed: a new execution, as jupyter-cache itself promises
    notebook = nbformat.read(tiny_book / "chapter.ipynb", as_version=4)
    notebook.cells[1].source += "\nprint('more')"
    nbformat.write(notebook, tiny_book / "chapter.ipynb")
    word, third_run = build(tiny_book)
    assert word == "beta" and third_run not in (first_run, second_run)
