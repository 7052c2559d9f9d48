"""transformer_lib.parts: a learner's classes saved from one notebook and built on in another.

Code is run here the way Jupyter runs a cell: compiled under a cell's file name whose lines are in
``linecache``, in a namespace called ``__main__``. One test runs real notebooks in a kernel.
"""

import linecache
import textwrap
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

import transformer_lib as tl
from transformer_lib import parts

CELLS = iter(range(10**6))


def run_cell(source: str, namespace: dict) -> dict:
    source = textwrap.dedent(source)
    filename = f"<ipython-cell-{next(CELLS)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def notebook() -> dict:
    return run_cell("""
        import math
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import transformer_lib as tl
        """, {"__name__": "__main__"})


FEED_FORWARD = """
    SCALE = 2.0

    def activation(x):
        return F.gelu(x) * SCALE / math.sqrt(4.0)

    class FeedForward(nn.Module):
        def __init__(self, d_model, d_ff):
            super().__init__()
            self.up, self.down = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            def inner(h):  # a function defined inside a method is the method's own
                return activation(h)

            return self.down(inner(self.up(x)))
    """


@pytest.fixture
def parts_file(tmp_path, monkeypatch):
    target = tmp_path / "my_transformer.py"
    monkeypatch.setenv(parts.ENVIRONMENT, str(target))
    return target


def test_a_saved_part_runs_alone_with_what_it_uses(parts_file, capsys):
    cell = run_cell(FEED_FORWARD, notebook())
    assert parts.save(cell["FeedForward"], "chapter 3") == parts_file
    text = parts_file.read_text()
    for needed in ["import math", "import torch.nn.functional as F", "from torch import nn",
                   "SCALE = 2.0", "def activation(x):", "class FeedForward(nn.Module):",
                   "# ---- FeedForward, saved from chapter 3 ----"]:
        assert needed in text, needed
    compile(text, str(parts_file), "exec")  # the file as a whole is a module too

    mine = parts.load(FeedForward=tl.FeedForward)
    assert "FeedForward: yours, saved from chapter 3" in capsys.readouterr().out
    torch.manual_seed(0)
    theirs = cell["FeedForward"](8, 16)
    torch.manual_seed(0)
    ours = mine(8, 16)
    x = torch.randn(2, 3, 8)
    torch.testing.assert_close(ours(x), theirs(x))


def test_unsaved_parts_come_from_the_library_and_say_so(parts_file, capsys):
    attention, feed_forward = parts.load(MultiHeadAttention=tl.MultiHeadAttention,
                                         FeedForward=tl.FeedForward)
    assert (attention, feed_forward) == (tl.MultiHeadAttention, tl.FeedForward)
    assert "MultiHeadAttention: the library's" in capsys.readouterr().out


def test_saving_again_replaces_a_part_and_keeps_the_others(parts_file):
    cell = run_cell(FEED_FORWARD, notebook())
    parts.save(cell["FeedForward"], "chapter 3")
    run_cell("""
        class Norm(nn.Module):
            def forward(self, x):
                return x - x.mean(-1, keepdim=True)
        """, cell)
    parts.save(cell["Norm"], "chapter 4")
    run_cell("SCALE = 3.0", cell)
    parts.save(cell["FeedForward"], "chapter 3, again")
    text = parts_file.read_text()
    assert text.count("class FeedForward") == 1 and "SCALE = 3.0" in text
    assert text.index("class FeedForward") < text.index("class Norm")  # replaced in its place
    norm = parts.load(Norm=tl.LayerNorm)
    assert norm()(torch.ones(2, 3)).abs().max() == 0


def test_a_part_built_from_saved_parts_copies_them_in(parts_file):
    cell = run_cell(FEED_FORWARD, notebook())
    parts.save(cell["FeedForward"], "chapter 3")
    later = notebook()  # another notebook: it loads the part, builds on it and saves the result
    later["FeedForward"] = parts.load(FeedForward=tl.FeedForward)
    run_cell("""
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.ffn = FeedForward(4, 8)

            def forward(self, x):
                return x + self.ffn(x)
        """, later)
    parts.save(later["Block"], "chapter 5")
    parts_file.write_text(parts_file.read_text().replace("SCALE = 2.0", "SCALE = oops", 1))
    with pytest.raises(parts.PartsError, match="your FeedForward in .* does not run"):
        parts.load(FeedForward=tl.FeedForward)
    block = parts.load(Block=nn_module())  # its own copy of FeedForward still runs
    assert block()(torch.ones(1, 4)).shape == (1, 4)


def nn_module():
    return torch.nn.Module


@pytest.mark.parametrize("cell, message", [
    ("SIZE = torch.ones(3)\nclass P(nn.Module):\n    def f(self):\n        return SIZE",
     "P uses 'SIZE', a Tensor: save only code"),
    ("class P(nn.Module):\n    def f(self):\n        return missing_name",
     "P uses 'missing_name', which is not defined here"),
])
def test_what_cannot_be_saved_is_refused_with_the_reason(parts_file, cell, message):
    namespace = run_cell(cell, notebook())
    with pytest.raises(parts.PartsError, match=message):
        parts.save(namespace["P"])
    assert not parts_file.exists()


def test_an_instance_is_refused(parts_file):
    with pytest.raises(parts.PartsError, match="save takes your class or function itself"):
        parts.save(tl.FeedForward(4, 8))


def test_saving_can_be_switched_off(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(parts.ENVIRONMENT, "none")
    monkeypatch.chdir(tmp_path)
    cell = run_cell(FEED_FORWARD, notebook())
    assert parts.save(cell["FeedForward"]) is None
    assert "not saved" in capsys.readouterr().out and not list(tmp_path.iterdir())
    assert parts.load(FeedForward=tl.FeedForward) is tl.FeedForward


@pytest.mark.notebooks
def test_from_one_notebook_to_another_in_a_jupyter_kernel(tmp_path, monkeypatch):
    """In a real kernel the class is defined in a cell, where inspect.getsource cannot find it."""
    monkeypatch.delenv(parts.ENVIRONMENT, raising=False)
    def notebook_of(*sources):
        return nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(textwrap.dedent(s)) for s in sources])

    first = notebook_of(*[
        "import math, torch\nimport torch.nn as nn\nimport torch.nn.functional as F",
        FEED_FORWARD,
        "from transformer_lib import parts\nparts.save(FeedForward, 'the first notebook')",
    ])
    second = notebook_of(*[
        """
        import torch
        import transformer_lib as tl
        from transformer_lib import parts
        FeedForward = parts.load(FeedForward=tl.FeedForward)
        assert FeedForward is not tl.FeedForward and FeedForward.__module__ == "my_transformer"
        assert FeedForward(4, 8)(torch.ones(2, 4)).shape == (2, 4)
        """,
    ])
    for book in (first, second):
        NotebookClient(book, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert "saved your FeedForward in my_transformer.py" in first.cells[2].outputs[0]["text"]
    assert "yours, saved from the first notebook" in second.cells[0].outputs[0]["text"]


ROOT = Path(__file__).resolve().parents[1]
SAVED = {  # what the build exercises of chapters 2 to 6 save, and the check each passes
    "MultiHeadAttention": "multi_head_attention", "FeedForward": "feed_forward_module",
    "LayerNorm": "layer_norm_module", "ResidualConnection": "residual_module",
    "EncoderLayer": "encoder_layer_module", "DecoderLayer": "decoder_layer_module",
}


def run_as_learner(chapter: str, folder: Path):
    """The exercise version of ``chapter`` with only its build exercises solved (the book's
    solutions), run in ``folder`` as a learner runs it; returns the executed notebook."""
    book = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
    learner = nbformat.read(ROOT / "exercises" / f"{chapter}.ipynb", as_version=4)
    solutions = {c.metadata.nbgrader.grade_id: c.source for c in book.cells
                 if "build" in c.metadata.get("nbgrader", {}).get("grade_id", "")}
    for cell in learner.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell.source = solutions[grade_id]
    NotebookClient(learner, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    return learner


@pytest.mark.notebooks
def test_a_learner_carries_their_parts_from_chapter_2_to_7_and_trains_them(tmp_path,
                                                                           monkeypatch):
    """Chapters 2 to 7 in one folder, every build exercise solved, no TRANSFORMER_LIB_PARTS:
    every part lands in my_transformer.py and loads back, on its own, as a module that passes its
    chapter's check; the encoder and decoder layers of chapters 5 and 6 are made of the learner's
    attention, feed-forward network and residual blocks, copied in, not the library's; and
    chapter 7's capstone trains a Transformer of those layers, with the learner's own loss and
    step, to at least 99 % exact match on the held-out sequences."""
    from transformer_lib import checks

    monkeypatch.delenv(parts.ENVIRONMENT, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for chapter in ("02_attention", "03_feed_forward", "04_layer_norm", "05_encoder",
                    "06_decoder", "07_training"):
        learner = run_as_learner(chapter, tmp_path)
        if chapter == "06_decoder":
            loaded = "".join(output.get("text", "") for cell in learner.cells
                             for output in cell.get("outputs", []))
    for part in ("MultiHeadAttention", "FeedForward", "ResidualConnection"):
        assert f"{part}: yours, saved from chapter" in loaded, part
    capstone = "".join(output.get("text", "") for cell in learner.cells
                       for output in cell.get("outputs", []))
    assert "EncoderLayer: yours, saved from chapter 5" in capstone
    assert "DecoderLayer: yours, saved from chapter 6" in capstone
    assert "[PASSED] your trained Transformer" in capstone
    written = tmp_path / "my_transformer.py"
    monkeypatch.setenv(parts.ENVIRONMENT, str(written))
    for name, check in SAVED.items():
        assert f"class {name}(nn.Module):" in written.read_text()
        theirs = parts.load(**{name: getattr(tl, name)})
        assert theirs is not getattr(tl, name)
        assert getattr(checks, f"check_{check}")(theirs).passed, name
    encoder_layer = parts.load(EncoderLayer=tl.EncoderLayer)(8, 2, 16, 0.0, False)
    assert type(encoder_layer.self_attn).__module__ == "my_transformer"  # theirs, copied in
    assert type(encoder_layer.attn_block.norm).__name__ == "LayerNorm"
    decoder_layer = parts.load(DecoderLayer=tl.DecoderLayer)(8, 2, 16, 0.0, False)
    assert type(decoder_layer.cross_attn).__module__ == "my_transformer"


def test_the_gpt_of_chapter_6_is_saved_with_its_fallback_layers_and_loads_back(parts_file):
    """Chapter 6's GPT, built on the library's layers (no chapter 5 part saved): saving it writes
    the fallback ``tl.EncoderLayer.sized`` as an import, and the loaded class passes its check."""
    from transformer_lib import checks

    book = nbformat.read(ROOT / "notebooks" / "06_decoder.ipynb", as_version=4)
    (solution,) = [c.source for c in book.cells if c.metadata.get("nbgrader", {}).get(
        "grade_id") == "ch06-exercise-build-gpt"]
    cell = run_cell("""
        from transformer_lib import parts
        EncoderLayer, LayerNorm = parts.load(EncoderLayer=tl.EncoderLayer.sized,
                                             LayerNorm=tl.LayerNorm)
        """, notebook())
    run_cell(solution, cell)
    parts.save(cell["GPT"], "chapter 6")
    assert "EncoderLayer = transformer_lib.encoder.EncoderLayer.sized" in parts_file.read_text()
    gpt = parts.load(GPT=torch.nn.Module)
    assert gpt.__module__ == "my_transformer" and checks.check_gpt_module(gpt).passed
    logits = gpt(11, 8, 2, 16, 2, 12).eval()(torch.randint(0, 11, (2, 5)))
    assert logits.shape == (2, 5, 11)
