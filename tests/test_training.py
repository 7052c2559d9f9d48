"""The training library: loss, schedule, loop, checkpoints, decoding and the batching helpers."""

import math

import pytest
import torch
import torch.nn.functional as F

import transformer_lib as tl
from transformer_lib import data, decoding, losses, training
from transformer_lib.checkpoint import load_checkpoint, save_checkpoint
from transformer_lib.models import MaskedLanguageModel

TASK = data.SequenceTask("reverse", n_symbols=6, min_len=2, max_len=5)


def tiny_model(seed=0, **overrides):
    tl.seed_everything(seed)
    settings = dict(vocab_size=TASK.vocab_size, d_model=16, n_heads=2, d_ff=32, n_layers=1,
                    dropout=0.1, max_len=16) | overrides
    return tl.Transformer(tl.TransformerConfig(**settings))


def batches(pairs, batch_size=8, seed=0):
    sampler = data.BatchSampler(len(pairs), batch_size, seed=seed)

    def get_batch(step):
        chosen = [pairs[i] for i in sampler.indices(step)]
        return data.make_seq2seq_batch(chosen, data.PAD_ID, data.BOS_ID, data.EOS_ID)

    return get_batch


TRAIN, TEST = TASK.splits(200, 20, seed=0)


def loss_fn(model, batch):
    return losses.seq2seq_loss(model, batch, smoothing=0.1)


# --- loss and schedule -------------------------------------------------------------------------

@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("ignore_index", [None, 0])
def test_label_smoothing_equals_pytorch(smoothing, ignore_index):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 7, generator=generator)
    targets = torch.randint(0, 7, (12,), generator=generator)
    targets[:3] = 0
    ours = losses.label_smoothed_cross_entropy(logits, targets, smoothing, ignore_index)
    kwargs = {} if ignore_index is None else {"ignore_index": ignore_index}
    theirs = F.cross_entropy(logits, targets, label_smoothing=smoothing, **kwargs)
    torch.testing.assert_close(ours, theirs)


def test_smoothed_targets_rows_sum_to_one_and_peak_at_the_target():
    dist = losses.smoothed_targets(torch.tensor([2, 0]), 5, 0.1)
    torch.testing.assert_close(dist.sum(-1), torch.ones(2))
    assert dist[0, 2] == pytest.approx(0.9 + 0.1 / 5) and dist[0, 0] == pytest.approx(0.02)


def test_noam_schedule_peaks_at_warmup_and_matches_the_scheduler():
    rates = [training.noam_lr(s, 512, 4000) for s in range(1, 20001)]
    assert max(range(len(rates)), key=rates.__getitem__) + 1 == 4000
    assert rates[3999] == pytest.approx(512**-0.5 * 4000**-0.5)
    model = torch.nn.Linear(2, 2)
    optimizer, scheduler = training.noam_optimizer(model, d_model=64, warmup=10, factor=2.0)
    for step in range(1, 30):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(training.noam_lr(step, 64, 10, 2.0))
        optimizer.step()
        scheduler.step()


# --- the loop and checkpoints ------------------------------------------------------------------

def run(steps, history=None, model=None, checkpoint=None, checkpoint_every=None):
    model = model or tiny_model()
    optimizer, scheduler = training.noam_optimizer(model, 16, warmup=10)
    if history is not None:
        history = load_checkpoint(checkpoint, model, optimizer, scheduler)
    result = training.fit(model, optimizer, batches(TRAIN), loss_fn, steps, scheduler=scheduler,
                          checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                          history=history, progress=False, log=False)
    return model, result


def test_fit_lowers_the_loss_and_records_history():
    _, history = run(60)
    assert history.step == 60 and len(history.losses) == len(history.lrs) == 60
    assert sum(history.losses[-10:]) < sum(history.losses[:10])


def test_fit_runs_the_step_it_is_given_and_the_default_is_train_step():
    _, default = run(15)
    calls = []

    def counting_step(model, batch, loss_fn, optimizer, scheduler, clip_norm):
        calls.append(clip_norm)
        return training.train_step(model, batch, loss_fn, optimizer, scheduler, clip_norm).item()

    model = tiny_model()
    optimizer, scheduler = training.noam_optimizer(model, 16, warmup=10)
    history = training.fit(model, optimizer, batches(TRAIN), loss_fn, 15, scheduler=scheduler,
                           clip_norm=0.5, step_fn=counting_step, progress=False, log=False)
    assert calls == [0.5] * 15 and len(history.losses) == 15  # a float loss is read back too
    assert history.lrs == default.lrs


def test_train_step_clips_steps_and_returns_the_detached_loss():
    model = tiny_model(dropout=0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.5 ** i)
    before = [p.detach().clone() for p in model.parameters()]
    batch = batches(TRAIN)(0)
    loss = training.train_step(model, batch, loss_fn, optimizer, scheduler, clip_norm=1e-3)
    assert not loss.requires_grad and torch.isclose(loss, loss_fn(tiny_model(dropout=0.0), batch))
    moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)])
    torch.testing.assert_close(moved.norm(), torch.tensor(1e-3))  # SGD, lr 1: the clipped norm
    assert scheduler.last_epoch == 1 and optimizer.param_groups[0]["lr"] == 0.5


def test_resumed_run_equals_the_uninterrupted_run(tmp_path):
    full_model, full = run(40)
    path = tmp_path / "run.pt"
    run(20, checkpoint=path)
    tl.seed_everything(123)  # disturb the global RNG: the checkpoint must restore it
    resumed_model, resumed = run(40, history=True, model=tiny_model(seed=5), checkpoint=path)
    assert resumed.losses == full.losses
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("disable, bar_shown", [(None, True), ("1", False)])
def test_progress_bar_unless_tqdm_disable_is_set(monkeypatch, capsys, disable, bar_shown):
    """The book build sets TQDM_DISABLE=1: a static page would show an empty widget."""
    if disable is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", disable)
    model = tiny_model()
    optimizer, scheduler = training.noam_optimizer(model, 16, warmup=10)
    training.fit(model, optimizer, batches(TRAIN), loss_fn, 3, scheduler=scheduler, log=False)
    assert ("training" in capsys.readouterr().err) == bar_shown


def test_keyboard_interrupt_keeps_the_last_complete_checkpoint(tmp_path, capsys):
    path = tmp_path / "run.pt"
    model = tiny_model()
    optimizer, scheduler = training.noam_optimizer(model, 16, warmup=10)
    get_batch = batches(TRAIN)

    def interrupting(step):
        if step == 13:
            raise KeyboardInterrupt
        return get_batch(step)

    history = training.fit(model, optimizer, interrupting, loss_fn, 40, scheduler=scheduler,
                           checkpoint=path, checkpoint_every=5, progress=False, log=False)
    assert history.interrupted and history.step == 13
    assert "interrupted after step 13" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # no temporary file left
    restored = load_checkpoint(path, tiny_model(), restore_rng=False)
    assert restored.step == 10


def test_checkpoint_from_another_configuration_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    save_checkpoint(path, tiny_model(d_model=16))
    with pytest.raises(ValueError, match=r"another configuration: d_model=16 \(this model: 32\)"):
        load_checkpoint(path, tiny_model(d_model=32))


def test_checkpoint_with_wrong_shapes_or_garbage_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"model": {"weight": torch.zeros(3, 3)}}, path)
    with pytest.raises(ValueError, match="does not fit this model"):
        load_checkpoint(path, tiny_model())
    path.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="is not a checkpoint"):
        load_checkpoint(path, tiny_model())
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt", tiny_model())


def test_fit_rejects_bad_arguments():
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="steps=0 must be a positive integer"):
        training.fit(model, optimizer, batches(TRAIN), loss_fn, 0)
    with pytest.raises(ValueError, match="checkpoint_every is set but checkpoint"):
        training.fit(model, optimizer, batches(TRAIN), loss_fn, 5, checkpoint_every=2)


def test_fit_stops_on_a_non_finite_loss():
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(FloatingPointError, match="the loss became nan at step 0"):
        training.fit(model, optimizer, batches(TRAIN), lambda m, b: loss_fn(m, b) * float("nan"),
                     3, progress=False)


def test_held_out_lm_loss_is_the_mean_over_all_windows_and_keeps_the_mode():
    cfg = tl.TransformerConfig(vocab_size=20, d_model=16, n_heads=2, d_ff=32, n_layers=1,
                               dropout=0.1, max_len=8, norm_first=True, pad_id=None)
    tl.seed_everything(0)
    model = tl.DecoderOnlyLM(cfg)  # training mode, with dropout
    ids = torch.randint(0, 20, (10, 9))
    inputs, targets = ids[:, :-1], ids[:, 1:]  # (W, T) each
    model.eval()
    with torch.no_grad():
        whole = losses.lm_loss(model, (inputs, targets)).item()
    model.train()
    for batch_size in (1, 3, 10, 64):  # 3 leaves a last batch of one window
        value = losses.held_out_lm_loss(model, inputs, targets, batch_size=batch_size)
        assert value == pytest.approx(whole, rel=1e-6)
        assert model.training  # back in the mode it was in
    model.eval()
    losses.held_out_lm_loss(model, inputs, targets)
    assert not model.training
    with pytest.raises(ValueError, match="batch_size"):
        losses.held_out_lm_loss(model, inputs, targets, batch_size=0)
    for wrong in (inputs[:0], inputs[:, :-1]):  # no windows; windows that do not match targets
        with pytest.raises(ValueError, match="inputs and targets"):
            losses.held_out_lm_loss(model, wrong, targets[: len(wrong)])


def test_mask_tokens_follows_bert_proportions():
    ids = torch.randint(3, 50, (200, 100), generator=torch.Generator().manual_seed(0))
    ids[:, -10:] = 0
    inputs, labels = losses.mask_tokens(ids, mask_id=1, vocab_size=50,
                                          generator=torch.Generator().manual_seed(1))
    chosen = labels != -100
    assert not chosen[:, -10:].any()
    assert chosen.float().sum() / (ids != 0).sum() == pytest.approx(0.15, abs=0.01)
    assert (inputs[chosen] == 1).float().mean() == pytest.approx(0.8, abs=0.02)
    assert (inputs[chosen] == ids[chosen]).float().mean() == pytest.approx(0.1 + 0.1 / 50, abs=0.02)
    assert torch.equal(labels[chosen], ids[chosen])


def test_mask_tokens_never_draws_a_special_token_or_the_mask_as_a_random_one():
    ids = torch.randint(3, 10, (400, 50), generator=torch.Generator().manual_seed(0))
    inputs, labels = losses.mask_tokens(ids, mask_id=10, vocab_size=10, special_ids=(0, 1, 2),
                                          generator=torch.Generator().manual_seed(1))
    replaced = (labels != -100) & (inputs != ids) & (inputs != 10)  # the random replacements
    assert replaced.sum() > 100 and not torch.isin(inputs[replaced], torch.tensor([0, 1, 2])).any()
    with pytest.raises(ValueError, match="no ordinary token to draw"):
        losses.mask_tokens(ids, mask_id=2, vocab_size=3, special_ids=(0, 1))


def test_masked_language_model_trains():
    tl.seed_everything(0)
    cfg = tl.TransformerConfig(vocab_size=20, d_model=16, n_heads=2, d_ff=32, n_layers=1,
                               dropout=0.0)
    model = MaskedLanguageModel(cfg)
    seqs = torch.arange(3, 19).repeat(64, 1)  # always the same sequence: easy to learn

    def get_batch(step):
        return losses.mask_tokens(seqs, 1, 20, generator=torch.Generator().manual_seed(step))

    history = training.fit(model, torch.optim.Adam(model.parameters(), 3e-3), get_batch,
                           losses.mlm_loss, 80, progress=False)
    assert history.losses[-1] < 0.5 * math.log(20)


# --- decoding ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained():
    model = tiny_model(dropout=0.0, d_model=32, d_ff=64, n_layers=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    training.fit(model, optimizer, batches(TRAIN, 16), loss_fn, 500, progress=False, log=False)
    return model.eval()


def test_beam_of_one_is_greedy_and_scores_are_log_probs(trained):
    src = data.pad_sequences([s for s, _ in TEST])
    greedy = decoding.greedy_decode(trained, src, 8, data.BOS_ID, data.EOS_ID)
    beam1, scores1 = decoding.beam_search(trained, src, 8, data.BOS_ID, data.EOS_ID, beam_size=1)
    assert beam1 == greedy
    assert all(len(y) < 8 for y in greedy), "every output ended with <eos>: its score includes it"
    torch.testing.assert_close(scores1, decoding.sequence_log_prob(trained, src, greedy, 1, 2))
    beam4, scores4 = decoding.beam_search(trained, src, 8, data.BOS_ID, data.EOS_ID, beam_size=4)
    torch.testing.assert_close(scores4, decoding.sequence_log_prob(trained, src, beam4, 1, 2))
    assert (scores4 >= scores1 - 1e-5).all()


def test_trained_model_reverses_most_held_out_sequences(trained):
    src = data.pad_sequences([s for s, _ in TEST])
    predictions = decoding.greedy_decode(trained, src, 8, data.BOS_ID, data.EOS_ID)
    assert decoding.exact_match(predictions, [t for _, t in TEST]) >= 0.5


def test_sampling_filters():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]]).repeat(2000, 1)
    generator = torch.Generator().manual_seed(0)
    top2 = decoding.sample_next_token(logits, top_k=2, generator=generator)
    assert set(top2.tolist()) == {0, 1}
    probs = logits[0].softmax(-1)  # 0.64, 0.24, 0.09, ...: top_p=0.8 keeps the first two
    nucleus = decoding.sample_next_token(logits, top_p=0.8, generator=generator)
    assert set(nucleus.tolist()) == {0, 1} and probs[:1].sum() < 0.8 <= probs[:2].sum()
    cold = decoding.sample_next_token(logits, temperature=0.05, generator=generator)
    assert set(cold.tolist()) == {0}
    with pytest.raises(ValueError, match="temperature=0 must be > 0"):
        decoding.sample_next_token(logits, temperature=0)
    with pytest.raises(ValueError, match="top_p=1.5 must be in"):
        decoding.sample_next_token(logits, top_p=1.5)


def test_generate_greedy_extends_the_prompt():
    tl.seed_everything(0)
    model = tl.DecoderOnlyLM(tl.TransformerConfig(vocab_size=11, d_model=16, n_heads=2, d_ff=32,
                                                  n_layers=1, max_len=8)).eval()
    prompt = torch.tensor([[1, 2, 3]])
    out = decoding.generate(model, prompt, 10, greedy=True)
    assert out.shape == (1, 13) and torch.equal(out[:, :3], prompt)
    assert torch.equal(out, decoding.generate(model, prompt, 10, greedy=True))


# --- data helpers ------------------------------------------------------------------------------

def test_batch_is_shifted_for_teacher_forcing():
    batch = data.make_seq2seq_batch([([3, 4], [5, 6, 7]), ([3], [8])], data.PAD_ID, data.BOS_ID,
                                    data.EOS_ID)
    assert batch.src.tolist() == [[3, 4], [3, 0]]
    assert batch.tgt_in.tolist() == [[1, 5, 6, 7], [1, 8, 0, 0]]
    assert batch.tgt_out.tolist() == [[5, 6, 7, 2], [8, 2, 0, 0]]


def test_batch_sampler_is_a_function_of_the_step():
    sampler = data.BatchSampler(10, 3, seed=4)
    epoch = [i for step in range(3) for i in sampler.indices(step)]
    assert len(set(epoch)) == 9  # drop_last: 3 batches of 3 per epoch
    again = data.BatchSampler(10, 3, seed=4)
    assert [again.indices(s) for s in (5, 0, 5)] == [sampler.indices(s) for s in (5, 0, 5)]


def test_task_splits_are_disjoint_and_correct():
    train, test = data.SequenceTask("sort", 5, 2, 6).splits(300, 50, seed=1)
    assert not {tuple(s) for s, _ in train} & {tuple(s) for s, _ in test}
    assert all(t == sorted(s) for s, t in train + test)
    assert data.SequenceTask("sort", 5, 2, 6).splits(300, 50, seed=1) == (train, test)
    assert TASK.decode(TASK.encode("a b c") + [data.EOS_ID, 4]) == "a b c"


@pytest.mark.parametrize("call, message", [
    (lambda: data.SequenceTask("shuffle"), "kind='shuffle'; expected one of"),
    (lambda: data.SequenceTask(min_len=5, max_len=3), "min_len=5 is larger than max_len=3"),
    (lambda: data.SequenceTask("copy", 2, 1, 2).splits(10, 10), "too many"),
    (lambda: data.pad_sequences([]), "seqs is empty"),
    (lambda: data.pad_sequences([[1, 2, 3]], length=2), "more than length=2"),
    (lambda: data.BatchSampler(3, 5), "batch_size=5 is larger than n_examples=3"),
    (lambda: data.make_seq2seq_batch([], 0, 1, 2), "pairs is empty"),
    (lambda: training.noam_lr(0, 512, 4000), "step=0 must be a positive integer"),
    (lambda: losses.label_smoothed_cross_entropy(torch.zeros(2, 3, 4), torch.zeros(2)),
     "logits must have shape"),
    (lambda: decoding.exact_match([[1]], []), "1 predictions but 0 references"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
