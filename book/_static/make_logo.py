"""Draw the book's logo and favicon: a small causal attention matrix.

Each row is one query token's softmax weights over the tokens it may see (itself and the ones
before it), so the darker squares are where it attends most; the empty upper triangle is the
causal mask. Run it after changing the drawing and commit the outputs beside it:

    python book/_static/make_logo.py   # logo.svg, logo-dark.svg and favicon.png, in book/_static/

The dark variant keeps the same reading on a dark page: strong attention brightest, the masked
triangle barely there.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent
N = 5  # tokens
INK = "#1f4e79"  # deep blue: strong attention
MASKED = "#e3e8ef"  # light grey: positions the causal mask hides
INK_DARK, MASKED_DARK = "#8cc4ff", "#2a3340"  # the same on a dark page


def attention_weights(n: int = N) -> np.ndarray:
    """Causal softmax weights with a fixed, readable pattern: each token looks mostly at itself
    and at the first token, a little at the others."""
    scores = np.full((n, n), -np.inf)
    for i in range(n):
        scores[i, : i + 1] = 0.4
        scores[i, i] = 1.6
        scores[i, 0] = 1.2 if i else 1.6
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def draw(size_inches: float, ink: str = INK, masked: str = MASKED) -> plt.Figure:
    fig = plt.figure(figsize=(size_inches, size_inches))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, N)
    ax.set_ylim(N, 0)
    ax.axis("off")
    weights = attention_weights()
    gap = 0.12
    for i in range(N):
        for j in range(N):
            if j > i:
                color, alpha = masked, 1.0
            else:
                color, alpha = ink, 0.2 + 0.8 * weights[i, j] / weights[i].max()
            ax.add_patch(FancyBboxPatch(
                (j + gap, i + gap), 1 - 2 * gap, 1 - 2 * gap,
                boxstyle="round,pad=0,rounding_size=0.14", linewidth=0,
                facecolor=color, alpha=alpha))
    return fig


def main() -> None:
    plt.rcParams["svg.hashsalt"] = "transformers-from-scratch"  # stable ids: same file every run
    plt.rcParams["svg.fonttype"] = "none"
    fig = draw(1.6)
    fig.savefig(HERE / "logo.svg", transparent=True, metadata={"Date": None, "Creator": None})
    plt.close(fig)
    fig = draw(1.6, INK_DARK, MASKED_DARK)
    fig.savefig(HERE / "logo-dark.svg", transparent=True, metadata={"Date": None, "Creator": None})
    plt.close(fig)
    fig = draw(0.64)
    fig.savefig(HERE / "favicon.png", dpi=100, transparent=True, metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    main()
