"""A line under each chapter's title that opens the chapter's exercise version.

``make exercises`` writes ``exercises/NN_name.ipynb``: the chapter with every solution replaced by
a stub (``transformer_lib.coursework``). A self-learner who wants to try the exercises before
seeing the answers opens that version in Colab or Binder, or downloads it; the build copies the
exercise versions into the site, so the download works offline too. The links use the repository
and launch settings of ``_config.yml``, like the theme's launch buttons.
"""

import html
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from docutils import nodes

FOLDER = "exercises"


def _line(app, name: str) -> str:
    options = app.config.html_theme_options
    owner_repo = urlsplit(options["repository_url"]).path.strip("/")
    branch = options.get("repository_branch", "main")
    launch = options.get("launch_buttons", {})
    colab = launch.get("colab_url", "https://colab.research.google.com").rstrip("/")
    binder = launch.get("binderhub_url", "https://mybinder.org").rstrip("/")
    path = f"{FOLDER}/{name}"
    links = {
        "Colab": f"{colab}/github/{owner_repo}/blob/{branch}/{path}",
        "Binder": f"{binder}/v2/gh/{owner_repo}/{branch}?urlpath=lab/tree/{path}",
    }
    opened = " or ".join(f'<a class="reference external" href="{html.escape(url)}">{label}</a>'
                         for label, url in links.items())
    return (f'<p class="exercise-links"><strong>Try the exercises first:</strong> the exercise '
            f"version of this chapter has no solutions, only stubs and checks. Open it in "
            f'{opened}, or <a class="reference download" href="../{path}" download>download '
            f"it</a> (<code>{path}</code> in the repository).</p>")


def _add_line(app, doctree) -> None:
    docname = app.env.docname
    name = f"{Path(docname).name}.ipynb"
    if not docname.startswith("notebooks/") or not (Path(app.srcdir) / FOLDER / name).exists():
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    section.insert(1, nodes.raw("", _line(app, name), format="html"))  # under the title


def _copy(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / FOLDER
    target.mkdir(exist_ok=True)
    for notebook in sorted((Path(app.srcdir) / FOLDER).glob("[0-9][0-9]_*.ipynb")):
        shutil.copyfile(notebook, target / notebook.name)


def setup(app):
    app.connect("doctree-read", _add_line)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
