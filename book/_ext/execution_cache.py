"""Keep Jupyter Book's execution cache honest, and fill it in parallel.

With ``execute_notebooks: cache``, myst-nb reuses a notebook's stored outputs while the
notebook's code cells are unchanged (jupyter-cache hashes only those). It does not notice a change
to the library the notebooks import, so a rebuild after editing ``transformer_lib`` would show
stale outputs. This extension, before Sphinx reads any document:

1. fingerprints what the executed notebooks depend on besides their own code: the files and
   folders listed in the ``execution_cache_dependencies`` config value (paths relative to the
   book's folder), the Python version and every installed package's version. The fingerprint is
   stored beside the cache (``dependencies.json``); when it differs, or when a cache has none, the
   whole cache is emptied and the log says what changed;
2. executes, in parallel, the notebooks about to be read that have no cached outputs yet
   (``execution_cache_jobs`` or the ``BOOK_JOBS`` environment variable at a time; 0 means one
   per core, at most 4), each kernel with one
   torch/OpenMP thread as in ``make test``, and stores them in the cache. myst-nb then finds every
   notebook cached. A failing notebook fails the build (with ``raise_on_error``) and its
   traceback is printed.

After reading, it writes the executed notebooks, with their outputs, to ``_build/jupyter_execute``
(myst-nb's cache mode writes them without). It also resolves a relative ``execute: cache:`` path
against the book's folder, so every build of this book, whatever its output folder, shares one
cache.

Nothing happens unless ``execute_notebooks`` is ``cache``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import time
from pathlib import Path, PurePosixPath

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
STAMP = "dependencies.json"
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


# Fingerprint ------------------------------------------------------------------------------------


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(root: Path, dependencies: list[str]) -> dict[str, str]:
    """One digest per dependency file (folders are walked), plus the interpreter and packages."""
    digests: dict[str, str] = {}
    for entry in dependencies:
        path = (root / entry).resolve()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and not SKIP_PARTS & set(p.parts) and p.suffix not in (".pyc", ".pyo"))
        elif path.is_file():
            files = [path]
        else:
            raise ExtensionError(f"execution_cache_dependencies: {entry!r} does not exist")
        for file in files:
            name = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file)
            digests[name] = _file_digest(file)
    packages = sorted(f"{d.metadata['Name']}=={d.version}"
                      for d in importlib.metadata.distributions() if d.metadata["Name"])
    digests["(python)"] = sys.version
    digests["(installed packages)"] = hashlib.sha256("\n".join(packages).encode()).hexdigest()
    return digests


def _changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    changed = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
    return (changed + [f"{k} (new)" for k in sorted(new.keys() - old.keys())]
            + [f"{k} (removed)" for k in sorted(old.keys() - new.keys())])


def invalidate_if_stale(cache_path: Path, digests: dict[str, str]) -> list[str]:
    """Empty the cache unless it was made with these dependencies. Returns what changed."""
    stamp = cache_path / STAMP
    changed: list[str] = []
    if cache_path.exists():
        try:
            old = json.loads(stamp.read_text())
        except (OSError, ValueError):
            old = None
        if old != digests:
            changed = (_changes(old, digests) if old
                       else ["(no record of what the cache was built with)"])
            shutil.rmtree(cache_path)
    cache_path.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(digests, indent=1, sort_keys=True))
    return changed


# Parallel execution -----------------------------------------------------------------------------


def _execute(path: str, cwd: str, timeout: int | None, allow_errors: bool):
    """Run one notebook in a worker process; return the executed notebook as JSON text."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # a static page cannot show a progress-bar widget
    notebook = nbformat.read(path, as_version=4)
    result = single_nb_execution(notebook, cwd=cwd, timeout=timeout, allow_errors=allow_errors,
                                 meta_override=True)
    return nbformat.writes(result.nb), result.time, result.exc_string if result.err else None


def _notebooks_to_execute(app: Sphinx, env, docnames, cache):
    import nbformat

    nb_config = env.mystnb_config
    todo = []
    for docname in sorted(docnames):
        path = Path(env.doc2path(docname))
        if path.suffix != ".ipynb":
            continue
        posix = PurePosixPath(path.as_posix())
        if any(posix.match(pattern) for pattern in nb_config.execution_excludepatterns):
            continue
        notebook = nbformat.read(path, as_version=4)
        if notebook.metadata.get("mystnb", {}).get("execution_mode", "cache") != "cache":
            continue
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            todo.append(path)
    return todo


def prepare_cache(app: Sphinx, env, docnames) -> None:
    nb_config = getattr(env, "mystnb_config", None)
    if nb_config is None or nb_config.execution_mode != "cache":
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    import nbformat

    app._execution_cache_docnames = list(docnames)
    cache_path = Path(nb_config.execution_cache_path)
    digests = fingerprint(Path(app.confdir), list(app.config.execution_cache_dependencies))
    changed = invalidate_if_stale(cache_path, digests)
    if changed:
        more = len(changed) - 8
        shown = ", ".join(changed[:8]) + (f" and {more} more" if more > 0 else "")
        LOGGER.info(f"execution cache emptied, its dependencies changed: {shown}")

    cache = get_cache(str(cache_path))
    todo = _notebooks_to_execute(app, env, docnames, cache)
    if not todo:
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # also for any kernel myst-nb starts itself
    os.environ.setdefault("TQDM_DISABLE", "1")  # training.fit then draws no widget on the pages
    jobs = (int(os.environ.get("BOOK_JOBS") or 0) or app.config.execution_cache_jobs
            or min(4, os.cpu_count() or 1))
    jobs = max(1, min(jobs, len(todo)))
    LOGGER.info(f"executing {len(todo)} notebook(s) not in the cache, {jobs} at a time")
    failures = []
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(_execute, str(path), str(path.parent),
                        nb_config.execution_timeout, nb_config.execution_allow_errors): path
            for path in todo
        }
        for future in concurrent.futures.as_completed(futures):
            path = futures[future]
            name = path.relative_to(app.srcdir) if path.is_relative_to(app.srcdir) else path
            try:
                text, seconds, error = future.result()
            except Exception as exc:  # the kernel died, or the notebook could not be read
                text, seconds, error = None, 0.0, f"{type(exc).__name__}: {exc}"
            if error:
                failures.append((name, error))
                LOGGER.info(f"  {name}: failed")
                continue
            record = cache.add_nb_to_project(str(path))
            cache.cache_notebook_bundle(
                CacheBundleIn(nbformat.reads(text, as_version=4), record.uri,
                              data={"execution_seconds": seconds}),
                check_validity=False, overwrite=True)
            LOGGER.info(f"  {name}: executed in {seconds:.1f} s")
    LOGGER.info(f"executed {len(todo) - len(failures)} notebook(s) in "
                f"{time.perf_counter() - start:.1f} s")
    if failures and nb_config.execution_raise_on_error:
        details = "\n\n".join(
            f"{name}:\n{error if nb_config.execution_show_tb else error.splitlines()[-1]}"
            for name, error in failures)
        raise ExtensionError(f"executing notebooks failed:\n\n{details}")


def write_executed_notebooks(app: Sphinx, env) -> None:
    """Write each executed notebook, with its outputs, to myst-nb's output folder.

    In cache mode myst-nb 1.4 writes the notebook there *without* outputs (it saves the notebook
    it read, not the one merged from the cache); force mode writes it with them. This restores
    what force mode gives, so `_build/jupyter_execute/` holds what the pages show.
    """
    nb_config = getattr(env, "mystnb_config", None)
    if nb_config is None or nb_config.execution_mode != "cache":
        return
    from jupyter_cache import get_cache
    import nbformat

    cache = get_cache(nb_config.execution_cache_path)
    for docname in getattr(app, "_execution_cache_docnames", []):
        path = Path(env.doc2path(docname))
        if path.suffix != ".ipynb":
            continue
        try:
            _, merged = cache.merge_match_into_notebook(nbformat.read(path, as_version=4))
        except KeyError:  # not executed (excluded from execution)
            continue
        target = Path(nb_config.output_folder, *docname.split("/")).with_suffix(".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(nbformat.writes(merged), encoding="utf-8")


def resolve_cache_path(app: Sphinx, config) -> None:
    path = config.nb_execution_cache_path
    if path and not Path(path).is_absolute():
        config.nb_execution_cache_path = str((Path(app.confdir) / path).resolve())


def setup(app: Sphinx):
    app.add_config_value("execution_cache_dependencies", [], "env", [list])
    app.add_config_value("execution_cache_jobs", 0, "env", [int])
    app.connect("config-inited", resolve_cache_path)
    app.connect("env-before-read-docs", prepare_cache)
    app.connect("env-updated", write_executed_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
