"""Figures the chapters draw, the interactive explorers built on them, and folded source listings.

Every explorer is a thin ipywidgets wrapper around a plotting function, so a chapter can draw the
same figure statically (what the website shows) and offer the live version to notebook readers.
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch

from transformer_lib.embeddings import sinusoidal_positional_encoding

COLUMN_INCHES = 7.0  # the book's text column (688 px) is about 7.2 inches: figures fit it unscaled
BOOK_STYLE = {
    "figure.figsize": (COLUMN_INCHES, 3.6),
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "figure.titlesize": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "transformers-from-scratch",  # the same SVG on every run: no random ids
}


def use_book_style() -> None:
    """The book's figure style: sized to the column, small type, and, in Jupyter, figures sent as
    SVG, so they stay sharp at any zoom and in print. Call it once, after importing pyplot."""
    plt.rcParams.update(BOOK_STYLE)
    try:
        from matplotlib_inline.config import InlineBackend
    except ImportError:  # not in Jupyter: nothing to configure
        return
    InlineBackend.instance().figure_formats = {"svg"}


def show_source(obj) -> None:
    """Show the library's code of ``obj`` folded: one line that opens on a click, in Jupyter and on
    the website alike, so that a chapter can point at the code without it filling the page."""
    from IPython.display import display
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    source = inspect.getsource(obj)
    name = f"{obj.__module__}.{obj.__qualname__}"
    summary = (f"The library's <code>{html.escape(name)}</code> "
               f"({source.count(chr(10))} lines): show the code")
    listing = highlight(source, PythonLexer(), HtmlFormatter())  # styled by the page's theme
    display({"text/html": f'<details class="source-listing"><summary>{summary}</summary>'
                          f"{listing}</details>",
             "text/plain": f"# {name}\n{source}"}, raw=True)


def _axes(ax, figsize=(5.5, 3.6)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_positional_encoding(
    pe: torch.Tensor, ax=None, title: str = "Sinusoidal positional encoding"
):
    """Heatmap of a ``(positions, D)`` encoding table: one row per position."""
    ax = _axes(ax, (7, 3.5))
    image = ax.imshow(pe.detach().cpu(), aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
    ax.set_xlabel("dimension")
    ax.set_ylabel("position")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    return ax


def plot_attention(
    weights: torch.Tensor,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    annotate: bool | None = None,
):
    """Heatmap of ``(T, S)`` attention weights: row t shows where query t looks."""
    weights = weights.detach().float().cpu()
    ax = _axes(ax, (4.5, 4))
    ax.imshow(weights, cmap="Blues", vmin=0, vmax=1)
    n_rows, n_cols = weights.shape
    if query_labels is not None:
        ax.set_yticks(range(n_rows), query_labels)
    if key_labels is not None:
        ax.set_xticks(range(n_cols), key_labels, rotation=45, ha="right")
    if annotate if annotate is not None else n_rows * n_cols <= 64:
        for (row, col), value in zip(
            ((r, c) for r in range(n_rows) for c in range(n_cols)), weights.flatten().tolist()
        ):
            color = "white" if value > 0.6 else "black"
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=8, color=color)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    if title:
        ax.set_title(title)
    return ax


def plot_attention_heads(weights: torch.Tensor, labels: Sequence[str] | None = None, title=None):
    """One heatmap per head for ``(H, T, S)`` weights; returns the figure."""
    n_heads = weights.shape[0]
    width = min(3 * n_heads, COLUMN_INCHES)
    fig, axes = plt.subplots(1, n_heads, figsize=(width, width / n_heads + 0.6),
                             layout="constrained")
    for head, ax in enumerate([axes] if n_heads == 1 else axes):
        plot_attention(weights[head], labels, labels, ax=ax, title=f"head {head}", annotate=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_scaling_effect(d_k: int, scaled: bool, ax=None, n_tokens: int = 8, seed: int = 0):
    """Attention weights of random unit-variance queries and keys of width ``d_k``.

    Without the 1/sqrt(d_k) scale the scores grow like sqrt(d_k), and the softmax saturates
    into near one-hot rows as d_k grows.
    """
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(n_tokens, d_k, generator=generator)  # (T, Dh)
    k = torch.randn(n_tokens, d_k, generator=generator)  # (S, Dh)
    scores = q @ k.T / (d_k**0.5 if scaled else 1.0)  # (T, S)
    weights = scores.softmax(-1)
    label = "scaled by 1/sqrt(d_k)" if scaled else "not scaled"
    title = (f"d_k={d_k}, {label}\n"
             f"largest weight per row: {weights.max(-1).values.mean():.2f} (mean)")
    return plot_attention(weights, ax=ax, title=title, annotate=False)


def scaling_explorer():
    """Slider over d_k and a scale toggle, redrawing ``plot_scaling_effect`` (needs a kernel)."""
    import ipywidgets as widgets

    def draw(d_k, scaled):
        plot_scaling_effect(d_k, scaled)
        plt.show()

    return widgets.interactive(
        draw,
        d_k=widgets.SelectionSlider(
            options=[2**i for i in range(1, 11)], value=64, description="d_k"
        ),
        scaled=widgets.Checkbox(value=True, description="scale by 1/sqrt(d_k)"),
    )


def plot_position_similarity(d_model: int, max_len: int = 100, anchors=(0, 25, 50), ax=None):
    """Dot product of PE(anchor) with PE(p) for every p: it peaks at the anchor and falls off."""
    pe = sinusoidal_positional_encoding(max_len, d_model)
    ax = _axes(ax, (7, 3))
    for anchor in anchors:
        ax.plot((pe @ pe[anchor]).numpy(), label=f"PE({anchor}) · PE(p)")
    ax.set_xlabel("position p")
    ax.set_ylabel("dot product")
    ax.set_title(f"Similarity of position encodings, d_model={d_model}")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def positional_encoding_explorer(max_len: int = 100):
    """Sliders over d_model and an anchor position, redrawing the similarity curve
    (needs a kernel)."""
    import ipywidgets as widgets

    def draw(d_model, anchor):
        plot_position_similarity(d_model, max_len, anchors=(anchor,))
        plt.show()

    return widgets.interactive(
        draw,
        d_model=widgets.IntSlider(value=64, min=8, max=512, step=8, description="d_model"),
        anchor=widgets.IntSlider(value=50, min=0, max=max_len - 1, description="position"),
    )
