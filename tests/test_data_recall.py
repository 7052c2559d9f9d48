"""The recall probe of chapter 18: answers k positions back, seeded, clear errors."""

import pytest
import torch

from transformer_lib.data import recall


def test_answer_is_k_positions_before_the_query():
    inputs, targets, k = recall.recall_batch(200, 12, [1, 3, 10], n_symbols=5,
                                             generator=torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (200, 12)
    assert (targets[:, :-1] == -100).all()
    assert set(k.tolist()) == {1, 3, 10}
    for row in range(200):
        assert inputs[row, -1] == 5 + [1, 3, 10].index(k[row])  # the query names k
        assert targets[row, -1] == inputs[row, 11 - k[row]]
    assert inputs[:, :-1].max() < 5  # only symbols before the query


def test_fixed_k_and_seeding():
    one = recall.RecallBatches(4, 10, [2, 8], seed=3)
    assert torch.equal(one(7)[0], recall.RecallBatches(4, 10, [2, 8], seed=3)(7)[0])
    assert not torch.equal(one(7)[0], one(8)[0])
    _, _, k = recall.recall_batch(6, 10, [2, 8], k=8)
    assert (k == 8).all()


def test_accuracy_of_a_perfect_and_a_constant_model():
    class Oracle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, ids):  # reads the query, looks k back
            k = torch.tensor([1, 4])[ids[:, -1] - 16]
            answer = ids[torch.arange(len(ids)), ids.shape[1] - 1 - k]
            return torch.nn.functional.one_hot(answer, 18)[:, None].float().repeat(1, 9, 1)

    assert recall.recall_accuracy(Oracle(), 9, [1, 4], 4, n=50, seed=1) == 50
    constant = lambda ids: torch.zeros(*ids.shape, 18)  # noqa: E731
    constant.parameters = lambda: iter([torch.zeros(1)])
    assert recall.recall_accuracy(Oracle(), 9, [1, 4], 1, n=50, seed=1) == 50


def test_clear_errors():
    with pytest.raises(ValueError, match="distances"):
        recall.recall_batch(2, 5, [5])
    with pytest.raises(ValueError, match="k=3"):
        recall.recall_batch(2, 5, [1, 2], k=3)
    with pytest.raises(ValueError, match="batch_size"):
        recall.RecallBatches(0, 5, [1])
    with pytest.raises(ValueError, match="step"):
        recall.RecallBatches(2, 5, [1])(-1)
