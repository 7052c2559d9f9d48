"""The book's figure style and its drawn diagrams (transformer_lib.viz and .diagrams)."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from transformer_lib import diagrams, viz  # noqa: E402


def texts(ax):
    return {text.get_text(): text for text in ax.texts}


def test_book_style_sizes_figures_to_the_column_and_sends_svg():
    from matplotlib_inline.config import InlineBackend

    with matplotlib.rc_context():
        viz.use_book_style()
        assert plt.rcParams["figure.figsize"][0] == viz.COLUMN_INCHES <= 7.2
        assert plt.rcParams["font.size"] == viz.BOOK_STYLE["font.size"]
    assert InlineBackend.instance().figure_formats == {"svg"}


def test_the_transformer_diagram_names_every_part_of_the_paper():
    ax = diagrams.draw_transformer()
    labels = texts(ax)
    for part in ["multi-head self-attention", "masked multi-head attention",
                 "multi-head cross-attention", "feed-forward", "token embedding × √D",
                 "memory (B, S, D)", "next-token probabilities (B, T, V)", "N ×", "× N"]:
        assert part in labels, part
    # two sublayers in an encoder layer, three in a decoder layer: five "add & norm"
    assert sum(text.get_text() == "add & norm" for text in ax.texts) == 5
    assert all(text.get_alpha() in (None, 1.0) for text in ax.texts)
    plt.close(ax.figure)


@pytest.mark.parametrize("highlight, pale, bright", [
    ("encoder", "masked multi-head attention", "multi-head self-attention"),
    ("decoder", "multi-head self-attention", "masked multi-head attention"),
])
def test_highlight_draws_the_other_half_pale(highlight, pale, bright):
    labels = texts(diagrams.draw_transformer(highlight=highlight))
    assert labels[pale].get_alpha() < 0.5 and labels[bright].get_alpha() == 1.0
    plt.close("all")


def test_highlight_must_name_a_half():
    with pytest.raises(ValueError, match="highlight must be None, 'encoder' or 'decoder'"):
        diagrams.draw_transformer(highlight="decoders")


def test_the_drawing_is_the_same_svg_every_time():
    """No date and no random ids in the file: the landing page's diagram does not change on
    every build (book/_ext/drawn_figures.py)."""
    def draw():
        with matplotlib.rc_context(viz.BOOK_STYLE):
            figure = Figure(figsize=(viz.COLUMN_INCHES, viz.COLUMN_INCHES))
            diagrams.draw_transformer(figure.subplots())
            buffer = io.BytesIO()
            figure.savefig(buffer, format="svg", metadata={"Date": None})
        return buffer.getvalue()

    assert draw() == draw()


@pytest.mark.parametrize("norm_first, order", [
    (False, ["multi-head\nself-attention", "+", "LayerNorm", "feed-forward", "+", "LayerNorm"]),
    (True, ["LayerNorm", "multi-head\nself-attention", "+", "LayerNorm", "feed-forward", "+"]),
])
def test_an_encoder_layer_in_either_placement(norm_first, order):
    _, ax = plt.subplots()
    diagrams.draw_encoder_layer(ax, norm_first)
    drawn = [t.get_text() for t in sorted(ax.texts, key=lambda t: t.get_position()[1])
             if t.get_position()[0] == 0 and t.get_text()]
    assert drawn[1:-1] == order
    plt.close(ax.figure)
