"""Exercises read as exercises on the website.

A solution cell is a code cell whose nbgrader metadata says ``"solution": true`` (every chapter's
exercises are marked so; the notebooks tag them ``hide-input``, so the page folds them). On the
page its toggle says "Show solution" instead of "Show code cell source", and the nbgrader markers
``### BEGIN SOLUTION`` and ``### END SOLUTION`` are left out of the code shown (the notebooks keep
them: nbgrader and the student versions need them).
"""

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION"}


def _without_markers(code: str) -> str:
    return "\n".join(line for line in code.splitlines() if line.strip() not in MARKERS)


class SolutionCells(SphinxPostTransform):
    default_priority = 198  # before myst-nb folds the hidden cells (HideInputCells, 199)
    formats = ("html",)

    def run(self, **kwargs):
        for cell in self.document.findall(nodes.container):
            metadata = cell.get("cell_metadata") or {}
            if cell.get("nb_element") != "cell_code" or not metadata.get("nbgrader", {}).get(
                    "solution"):
                continue
            if cell.get("hide_mode"):
                cell["prompt_show"], cell["prompt_hide"] = "Show solution", "Hide solution"
            for block in cell.findall(nodes.literal_block):
                code = _without_markers(block.astext())
                block.rawsource = code
                block.children = [nodes.Text(code)]


def setup(app):
    app.add_post_transform(SolutionCells)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
