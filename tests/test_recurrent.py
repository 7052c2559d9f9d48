"""The LSTM language model of chapter 18: shapes, PyTorch's own LSTM, sizing, clear errors."""

import json
import statistics
from pathlib import Path

import pytest
import torch

import transformer_lib as tl
from transformer_lib import losses, training
from transformer_lib.recurrent import LSTMLanguageModel, lstm_hidden_for, lstm_layer_parameters


def test_shapes_and_interface():
    model = LSTMLanguageModel(vocab_size=50, d_model=8, hidden_size=12, n_layers=2)
    ids = torch.randint(0, 50, (3, 7))
    assert model(ids).shape == (3, 7, 50)
    logits, (h, c) = model.forward_with_state(ids)
    assert h.shape == c.shape == (2, 3, 12)
    # the state carries over: two halves with the state passed on give the whole window's logits
    first, state = model.forward_with_state(ids[:, :4])
    second, _ = model.forward_with_state(ids[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), logits)


def test_matches_torch_lstm_step_by_step():
    model = LSTMLanguageModel(vocab_size=20, d_model=6, hidden_size=6, tie=True).eval()
    assert model.output.weight is model.embedding.weight and isinstance(
        model.projection, torch.nn.Identity)
    cell = torch.nn.LSTMCell(6, 6)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data.copy_(getattr(model.lstm, f"{name}_l0"))
    ids = torch.randint(0, 20, (2, 5))
    h = c = torch.zeros(2, 6)
    outs = []
    for t in range(5):
        h, c = cell(model.embedding(ids[:, t]), (h, c))
        outs.append(model.output(h))
    torch.testing.assert_close(torch.stack(outs, 1), model(ids))


def test_parameter_formula_and_sizing():
    assert lstm_layer_parameters(7, 5) == sum(p.numel() for p in torch.nn.LSTM(7, 5).parameters())
    for target, layers, tie in [(458_592, 1, True), (458_592, 2, True), (300_000, 1, False)]:
        hidden = lstm_hidden_for(target, vocab_size=1024, d_model=96, n_layers=layers, tie=tie)
        count = tl.count_parameters(LSTMLanguageModel(1024, 96, hidden, layers, tie))
        assert abs(count - target) / target < 0.01
        for other in (hidden - 1, hidden + 1):  # the nearest size
            assert abs(tl.count_parameters(LSTMLanguageModel(1024, 96, other, layers, tie))
                       - target) >= abs(count - target)


def test_trains_with_fit_and_lm_loss():
    tl.seed_everything(0)
    model = LSTMLanguageModel(vocab_size=5, d_model=8, hidden_size=16)
    ids = torch.arange(5).repeat(40)  # 0 1 2 3 4 0 1 ...: each token predicts the next
    batches = lambda step: (ids[None, :-1].repeat(4, 1), ids[None, 1:].repeat(4, 1))  # noqa: E731
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    history = training.fit(model, optimizer, batches, losses.lm_loss, 60, progress=False,
                           log=False)
    assert history.losses[-1] < 0.1 < history.losses[0]


def test_clear_errors():
    with pytest.raises(ValueError, match="hidden_size"):
        LSTMLanguageModel(10, 8, 0)
    model = LSTMLanguageModel(10, 8, 8)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        model(torch.tensor([[3, 10]]))
    with pytest.raises(TypeError, match="integer"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="target"):
        lstm_hidden_for(1000, vocab_size=1024, d_model=96)


def test_chapter_18_reads_its_seeds_table_as_the_table_says():
    """The page's reading of benchmarks/results/seeds_ch18.json, claim by claim."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "seeds_ch18.json"
    rows = json.loads(path.read_text())["rows"]

    def column(name):
        return [row[name] for row in rows]

    for when in ("val 300", "val 1000", "test 1000"):  # the LSTM lower, beyond either spread
        lstm, tf = column(f"LSTM {when}"), column(f"TF {when}")
        assert all(a < b for a, b in zip(lstm, tf)), when
        gap = statistics.fmean(tf) - statistics.fmean(lstm)
        assert gap > 2 * max(statistics.stdev(lstm), statistics.stdev(tf)), when
    assert (statistics.fmean(column("TF val 1000")) - statistics.fmean(column("LSTM val 1000"))
            < statistics.fmean(column("TF val 300")) - statistics.fmean(column("LSTM val 300")))
    assert all(a < b for a, b in zip(column("LSTM val eq. time"), column("TF val eq. time")))
    for name in ("LSTM ms T=64", "TF ms T=64", "LSTM ms T=256", "TF ms T=256"):  # a few percent
        assert statistics.stdev(column(name)) < 0.05 * statistics.fmean(column(name)), name
    for row in rows:
        assert row["LSTM ms T=64"] < row["TF ms T=64"]
        assert abs(row["LSTM ms T=256"] / row["LSTM ms T=64"] - 1) < 0.05
        assert row["TF ms T=256"] / row["TF ms T=64"] > 1.2
        assert row["TF probe k=4"] == row["TF probe k=8"] == 1.0
        assert row["LSTM probe k=4"] < 0.5 and row["LSTM probe k=8"] < 0.15  # chance: 1/16
