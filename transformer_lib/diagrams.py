"""Drawn diagrams of the architecture: the whole Transformer and one encoder layer.

They are drawn with matplotlib from the same names the library uses, so the book's pictures are
made by its own code, like its plots, and come out as vector graphics with the book's style.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyBboxPatch

COLORS = {
    "embedding": "#d9d2e9",
    "attention": "#f8c4a4",
    "norm": "#f6e3a1",
    "feed-forward": "#b9dcf2",
    "output": "#cfe8cf",
}
_BOX_WIDTH, _BOX_HEIGHT = 3.1, 0.5


class _Canvas:
    """An axes in data units with helpers for boxes, adders and arrows; `faded` parts are pale."""

    def __init__(self, ax, faded: set[str]):
        self.ax, self.faded = ax, faded

    def _alpha(self, part):
        return 0.25 if part in self.faded else 1.0

    def box(self, x, y, text, kind, part, width=_BOX_WIDTH):
        alpha = self._alpha(part)
        self.ax.add_patch(FancyBboxPatch(
            (x - width / 2, y - _BOX_HEIGHT / 2), width, _BOX_HEIGHT, alpha=alpha,
            boxstyle="round,pad=0.02,rounding_size=0.12", facecolor=COLORS[kind],
            edgecolor="black", linewidth=0.8))
        self.ax.text(x, y, text, ha="center", va="center", fontsize=8.5, alpha=alpha)

    def adder(self, x, y, part):
        alpha = self._alpha(part)
        self.ax.add_patch(Circle((x, y), 0.16, facecolor="white", edgecolor="black",
                                 linewidth=0.8, alpha=alpha))
        self.ax.text(x, y, "+", ha="center", va="center", fontsize=10, alpha=alpha)

    def text(self, x, y, text, part, **style):
        style = {"ha": "center", "va": "center", "fontsize": 8.5} | style
        self.ax.text(x, y, text, alpha=self._alpha(part), **style)

    def arrow(self, points, part, color="black"):
        """A polyline through `points` whose last segment ends in an arrow head."""
        alpha = self._alpha(part)
        xs, ys = zip(*points)
        self.ax.plot(xs[:-1], ys[:-1], color=color, linewidth=0.9, alpha=alpha,
                     solid_capstyle="butt")
        self.ax.annotate("", xy=points[-1], xytext=points[-2], arrowprops=dict(
            arrowstyle="-|>", color=color, linewidth=0.9, alpha=alpha, shrinkA=0, shrinkB=0))

    def frame(self, x, bottom, top, label, part, label_side):
        """The dashed box around the layer that repeats, with its "N x" label."""
        alpha = self._alpha(part)
        self.ax.add_patch(FancyBboxPatch(
            (x - 2.15, bottom), 4.3, top - bottom, boxstyle="round,pad=0.05", facecolor="none",
            edgecolor="grey", linestyle="--", linewidth=0.9, alpha=alpha))
        offset = -2.25 if label_side == "left" else 2.25
        self.ax.text(x + offset, (bottom + top) / 2, label, ha="right" if offset < 0 else "left",
                     va="center", fontsize=9, color="dimgrey", alpha=alpha)


def _sublayers(canvas, x, y, names, part, residual_side):
    """Sublayers from height y up, each followed by a residual "add & norm" (post-LN, the paper's
    order); returns the height of the last one's output."""
    side = -1 if residual_side == "left" else 1
    for name, kind in names:
        canvas.arrow([(x, y), (x, y + 0.35)], part)
        canvas.box(x, y + 0.6, name, kind, part)
        canvas.arrow([(x, y + 0.85), (x, y + 1.2)], part)
        canvas.box(x, y + 1.45, "add & norm", "norm", part)
        edge = x + side * _BOX_WIDTH / 2
        canvas.arrow([(x, y + 0.17), (x + side * 1.8, y + 0.17), (x + side * 1.8, y + 1.45),
                      (edge, y + 1.45)], part, color="C2")
        y += 1.7
    return y


def draw_transformer(ax=None, highlight: str | None = None):
    """The encoder-decoder Transformer of the paper, drawn bottom-up: the encoder on the left, the
    decoder on the right, residual connections in green.

    `highlight` ("encoder" or "decoder") draws the other side pale, for a chapter that builds one
    of them. Returns the axes.
    """
    if highlight not in (None, "encoder", "decoder"):
        raise ValueError(f"highlight must be None, 'encoder' or 'decoder', got {highlight!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 7.0), layout="constrained")
    faded = {"encoder": {"decoder"}, "decoder": {"encoder"}}.get(highlight, set())
    canvas = _Canvas(ax, faded)
    enc, dec = 2.7, 8.0

    for x, part, ids in ((enc, "encoder", "source token ids (B, S)"),
                         (dec, "decoder", "target ids, shifted right (B, T)")):
        canvas.text(x, 0.0, ids, part, style="italic")
        canvas.arrow([(x, 0.2), (x, 0.45)], part)
        canvas.box(x, 0.7, "token embedding × √D", "embedding", part)
        canvas.arrow([(x, 0.95), (x, 1.19)], part)
        canvas.adder(x, 1.35, part)
        side = -1 if part == "encoder" else 1
        canvas.text(x + side * 1.0, 1.35, "positional\nencoding", part, fontsize=8,
                    ha="right" if side < 0 else "left")
        canvas.arrow([(x + side * 0.95, 1.35), (x + side * 0.16, 1.35)], part)

    encoder_top = _sublayers(canvas, enc, 1.51, [("multi-head self-attention", "attention"),
                                                 ("feed-forward", "feed-forward")],
                             "encoder", "left")
    canvas.frame(enc, 1.6, encoder_top - 0.05, "N ×", "encoder", "left")
    decoder_top = _sublayers(canvas, dec, 1.51, [("masked multi-head attention", "attention"),
                                                 ("multi-head cross-attention", "attention"),
                                                 ("feed-forward", "feed-forward")],
                             "decoder", "right")
    canvas.frame(dec, 1.6, decoder_top - 0.05, "× N", "decoder", "right")

    # The encoder's output, the memory, is the keys and values of every cross-attention.
    memory_y = encoder_top + 0.55
    canvas.arrow([(enc, encoder_top), (enc, memory_y - 0.2)], "encoder")
    canvas.text(enc, memory_y, "memory (B, S, D)", "encoder", style="italic")
    cross_y = 1.51 + 1.7 + 0.6
    canvas.arrow([(enc + 0.9, memory_y), (5.35, memory_y), (5.35, cross_y),
                  (dec - _BOX_WIDTH / 2, cross_y)], "encoder")
    canvas.text(5.45, (memory_y + cross_y) / 2, "keys and values", "encoder", fontsize=7.5,
                ha="left", rotation=90)

    canvas.arrow([(dec, decoder_top), (dec, decoder_top + 0.35)], "decoder")
    canvas.box(dec, decoder_top + 0.6, "linear (Eᵀ) and softmax", "output", "decoder")
    canvas.arrow([(dec, decoder_top + 0.85), (dec, decoder_top + 1.15)], "decoder")
    canvas.text(dec, decoder_top + 1.35, "next-token probabilities (B, T, V)", "decoder",
                style="italic")

    ax.set(xlim=(-0.2, 10.9), ylim=(-0.3, decoder_top + 1.6), aspect="equal")
    ax.set_axis_off()
    return ax


def draw_encoder_layer(ax, norm_first: bool):
    """One encoder layer, input at the bottom: post-LN (the paper) or pre-LN, residuals in green."""
    if norm_first:
        steps = ["input x  (B, S, D)", "LayerNorm", "multi-head\nself-attention", "+",
                 "LayerNorm", "feed-forward", "+", "output  (B, S, D)"]
        skips = [(0, 3), (3, 6)]  # each residual starts before the norm and ends at the "+"
    else:
        steps = ["input x  (B, S, D)", "multi-head\nself-attention", "+", "LayerNorm",
                 "feed-forward", "+", "LayerNorm", "output  (B, S, D)"]
        skips = [(0, 2), (3, 5)]
    kinds = {"LayerNorm": "norm", "multi-head\nself-attention": "attention",
             "feed-forward": "feed-forward"}
    for y, label in enumerate(steps):
        if label == "+":
            ax.text(0, y, "+", ha="center", va="center", fontsize=11,
                    bbox=dict(boxstyle="circle,pad=0.2", facecolor="white", edgecolor="black"))
        elif label in kinds:
            ax.add_patch(FancyBboxPatch((-0.9, y - 0.3), 1.8, 0.6, boxstyle="round,pad=0.02",
                                        facecolor=COLORS[kinds[label]], edgecolor="black"))
            ax.text(0, y, label, ha="center", va="center", fontsize=8.5)
        else:
            ax.text(0, y, label, ha="center", va="center", fontsize=8.5, style="italic")
    for y in range(len(steps) - 1):  # the main path
        ax.annotate("", xy=(0, y + 0.7), xytext=(0, y + 0.3),
                    arrowprops=dict(arrowstyle="->", color="black"))
    for start, end in skips:  # the residual paths, around the sublayer
        ax.plot([0, 1.3, 1.3], [start + 0.5, start + 0.5, end], color="C2", lw=1.5)
        ax.annotate("", xy=(0.2, end), xytext=(1.3, end),
                    arrowprops=dict(arrowstyle="->", color="C2", lw=1.5))
    ax.text(1.38, (skips[0][0] + skips[0][1]) / 2 + 0.25, "residual", color="C2", fontsize=8,
            rotation=90, va="center")
    ax.set(xlim=(-1.6, 1.8), ylim=(-0.6, len(steps) - 0.4))
    ax.set_axis_off()
    return ax
