"""What the built website carries: no file it never loads, and a root page with the favicon.

- ``sphinx-mathjax-offline`` copies all of MathJax (24 MB); every page loads ``tex-chtml.js``,
  which loads its TeX extensions, CommonHTML fonts, menu and accessibility parts from the folders
  kept here. The other combined builds (SVG output, MathML input, the "full" bundles) and the
  source maps of the theme's scripts are never requested: they are deleted after the build. The
  browser test opens every page and fails on any request that fails.
- The site's root ``index.html`` only redirects to the landing page; written here (before
  sphinx-external-toc would write its bare one) it also names the favicon and a title.
"""

import html
import shutil
from pathlib import Path

UNUSED_MATHJAX = [
    "mml-chtml.js", "mml-svg.js", "node-main.js", "tex-chtml-full-speech.js", "tex-chtml-full.js",
    "tex-mml-chtml.js", "tex-mml-svg.js", "tex-svg-full.js", "tex-svg.js", "latest.js",
    "output/svg", "output/svg.js", "input/mml", "input/mml.js", "input/asciimath.js",
    "adaptors",
]


def _slim(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for name in UNUSED_MATHJAX:
        path = out / "_static" / "mathjax" / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for source_map in (out / "_static").rglob("*.map"):
        source_map.unlink()


def _root_page(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    first_page = f"{app.config.root_doc}.html"
    title = html.escape(app.config.html_title or app.config.project)
    (out / "index.html").write_text(
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        f'<link rel="icon" href="_static/{Path(app.config.html_favicon or "").name}">\n'
        f'<meta http-equiv="Refresh" content="0; url={first_page}">\n</head>\n'
        f'<body><p><a href="{first_page}">{title}</a></p></body>\n</html>\n', encoding="utf8")


def setup(app):
    app.connect("build-finished", _root_page, priority=400)  # before sphinx-external-toc's
    app.connect("build-finished", _slim, priority=900)  # after sphinx-mathjax-offline's copy
    return {"parallel_read_safe": True, "parallel_write_safe": True}
