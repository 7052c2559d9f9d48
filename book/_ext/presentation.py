"""How cells appear on the website: teaching visible, plumbing folded (book/writing.md).

- A solution cell (nbgrader metadata ``"solution": true``; the notebooks tag it ``hide-input``) is
  folded behind "Show solution", and the nbgrader markers ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` are left out of the code shown (the notebooks keep them: nbgrader and the
  student versions need them).
- A cell tagged ``check`` (asserts that prove the text's claim) is folded behind "Show the check",
  one tagged ``plot`` (the code that draws a figure) behind "Show the plotting code"; their
  outputs stay in view. Both still run, in nbval and in the build.
- The library's code is shown with ``viz.show_source``, folded in Jupyter and on the page alike.
"""

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION"}
FOLDS = {"check": "the check", "plot": "the plotting code"}  # tag -> what its toggle shows


def _without_markers(code: str) -> str:
    return "\n".join(line for line in code.splitlines() if line.strip() not in MARKERS)


class FoldCells(SphinxPostTransform):
    default_priority = 198  # before myst-nb folds the hidden cells (HideInputCells, 199)
    formats = ("html",)

    def run(self, **kwargs):
        for cell in self.document.findall(nodes.container):
            if cell.get("nb_element") != "cell_code":
                continue
            metadata = cell.get("cell_metadata") or {}
            if metadata.get("nbgrader", {}).get("solution"):
                if cell.get("hide_mode"):
                    cell["prompt_show"], cell["prompt_hide"] = "Show solution", "Hide solution"
                for block in cell.findall(nodes.literal_block):
                    code = _without_markers(block.astext())
                    block.rawsource = code
                    block.children = [nodes.Text(code)]
                continue
            folded = [FOLDS[tag] for tag in metadata.get("tags", []) if tag in FOLDS]
            if folded:  # also with hide-input, which folds the cell under a generic label
                cell["hide_mode"] = cell.get("hide_mode") or "input"
                cell["prompt_show"], cell["prompt_hide"] = (f"Show {folded[0]}",
                                                            f"Hide {folded[0]}")


def setup(app):
    app.add_post_transform(FoldCells)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
