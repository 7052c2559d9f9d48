"""Draws the book's architecture diagram for the pages that are not notebooks.

The landing page shows the Transformer drawn by ``transformer_lib.diagrams``, the same function the
chapters call, so there is one drawing and no image file to keep in step with the code: it is made
into ``book/_generated/`` when the build starts (that folder is not committed).
"""

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from transformer_lib import diagrams, viz


def _draw(app) -> None:
    folder = Path(app.srcdir) / "book" / "_generated"
    folder.mkdir(exist_ok=True)
    with matplotlib.rc_context(viz.BOOK_STYLE):
        figure = Figure(figsize=(viz.COLUMN_INCHES, viz.COLUMN_INCHES), layout="constrained")
        diagrams.draw_transformer(figure.subplots())
        # No date in the file: the same drawing gives the same bytes, so the build stays cached.
        figure.savefig(folder / "transformer.svg", bbox_inches="tight", metadata={"Date": None})


def setup(app):
    app.connect("builder-inited", _draw)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
