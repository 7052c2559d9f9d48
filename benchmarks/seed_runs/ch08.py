"""Chapter 8's translator over seeds: the page's recipe (data split 0, seeded model and batches).

``python -m benchmarks.seeds ch08 --seeds 3 --threads 1``. Each seed trains the page's model
(D = 64, 2 + 2 layers, label smoothing 0.1, 600 steps with a copy at step 200), chooses nothing on
the test numbers, and measures what the page quotes: exact match on the 500 validation and the 1000
test numbers, the beam-search exceptions, the length penalty's effect on the early copy, the
alignment count and the early copy's error ratios.
"""

from __future__ import annotations

import copy
import functools

import sacrebleu
import torch

import transformer_lib as tl
from transformer_lib import decoding, losses, training
from transformer_lib.data import (BOS_ID, EOS_ID, PAD_ID, BatchSampler, make_seq2seq_batch,
                                  number_words, pad_sequences)

TITLE = "Chapter 8's translator, 3 seeds (model and batches; the data split stays seed 0)."
DIGITS = 1
NOTE = ("val and test: exact match (%) with greedy decoding on the 500 validation and the 1000 "
        "test numbers; beam < greedy: validation numbers whose beam output (4 beams) is less "
        "probable than the greedy one; lp changes: early copy's validation outputs that the length "
        "penalty 0.6 changes; aligned: digit and tens words written while looking at their English "
        "counterpart (%); vig. ratio and long ratio: the early copy's error rate on 70-99 groups "
        "over the plain numbers, and on 5-6 digits over 3-4 digits.")

EARLY_STEPS, STEPS, EXTRA, SMOOTHING = 200, 600, 8, 0.1
COUNTERPARTS = {"deux": {"two"}, "trois": {"three"}, "cinq": {"five"}, "six": {"six"},
                "sept": {"seven", "seventeen"}, "huit": {"eight", "eighteen"},
                "neuf": {"nine", "nineteen"}, "trente": {"thirty"}, "quarante": {"forty"},
                "cinquante": {"fifty"}, "mille": {"thousand"}}


def _translate(model, vocab, sources, beam_size=1, length_penalty=0.0, batch_size=250):
    order = sorted(range(len(sources)), key=lambda i: len(vocab.encode(sources[i])))
    french = [""] * len(sources)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        src = pad_sequences([vocab.encode(sources[i]) for i in chunk], PAD_ID)  # (B, S)
        max_len = src.shape[1] + EXTRA
        if beam_size == 1:
            outputs = decoding.greedy_decode(model, src, max_len, BOS_ID, EOS_ID)
        else:
            outputs, _ = decoding.beam_search(model, src, max_len, BOS_ID, EOS_ID, beam_size,
                                              length_penalty=length_penalty)
        for i, ids in zip(chunk, outputs):
            french[i] = vocab.decode(ids)
    return french


def _exact(hypotheses, references):
    return 100 * sum(h == r for h, r in zip(hypotheses, references)) / len(references)


def _last_layer_alignment(model, vocab, english, french):
    """(T, S) cross-attention of the last decoder layer, averaged over its heads."""
    captured = []
    attention = model.decoder.stack.layers[-1].cross_attn
    handles = [attention.register_forward_pre_hook(
                   lambda m, a, k: (a, {**k, "return_weights": True}), with_kwargs=True),
               attention.register_forward_hook(
                   lambda m, a, k, out: captured.append(out[1][0]) or out[0], with_kwargs=True)]
    try:
        with torch.no_grad():
            model(torch.tensor([vocab.encode(english)]),
                  torch.tensor([[BOS_ID, *vocab.encode(french)]]))
    finally:
        for handle in handles:
            handle.remove()
    return captured[0].mean(dim=0)


def _groups(n):
    return [n // 1000, n % 1000] if n >= 1000 else [n]


def _error_rate(numbers, outputs, references, select):
    picked = [i for i, n in enumerate(numbers) if select(n, references[i])]
    return 100 * sum(outputs[i] != references[i] for i in picked) / max(len(picked), 1)


def run(seed: int) -> dict[str, float]:
    splits = number_words.split_numbers(n_train=5000, n_val=500, n_test=1000, seed=0)
    train_pairs = number_words.number_pairs(splits.train)
    val_pairs = number_words.number_pairs(splits.val)
    test_pairs = number_words.number_pairs(splits.test)
    vocab = number_words.WordVocab.from_texts(text for pair in train_pairs for text in pair)
    train_ids = number_words.encode_pairs(train_pairs, vocab)
    cfg = tl.TransformerConfig(vocab_size=len(vocab), d_model=64, n_heads=4, d_ff=256,
                               n_layers=2, dropout=0.1, max_len=64)
    tl.seed_everything(seed)
    model = tl.Transformer(cfg)
    sampler = BatchSampler(len(train_ids), batch_size=64, seed=seed)

    def get_batch(step):
        return make_seq2seq_batch([train_ids[i] for i in sampler.indices(step)], PAD_ID, BOS_ID,
                                  EOS_ID)

    val_en, val_fr = [en for en, _ in val_pairs], [fr for _, fr in val_pairs]

    def evaluate(model):
        return {"val exact match": _exact(_translate(model, vocab, val_en[::2]), val_fr[::2])}

    loss_fn = functools.partial(losses.seq2seq_loss, smoothing=SMOOTHING)
    optimizer, scheduler = training.noam_optimizer(model, cfg.d_model, warmup=200)
    history = training.fit(model, optimizer, get_batch, loss_fn, EARLY_STEPS,
                           scheduler=scheduler, evaluate=evaluate, eval_every=100, progress=False)
    early_model = copy.deepcopy(model).eval()
    training.fit(model, optimizer, get_batch, loss_fn, STEPS, scheduler=scheduler,
                 evaluate=evaluate, eval_every=100, history=history, progress=False)
    model.eval()

    greedy = _translate(model, vocab, val_en)
    beam = _translate(model, vocab, val_en, beam_size=4)
    src = pad_sequences([vocab.encode(text) for text in val_en], PAD_ID)  # (B, S)
    greedy_lp = decoding.sequence_log_prob(model, src, [vocab.encode(t) for t in greedy],
                                           BOS_ID, EOS_ID)
    beam_lp = decoding.sequence_log_prob(model, src, [vocab.encode(t) for t in beam],
                                         BOS_ID, EOS_ID)
    early = _translate(early_model, vocab, val_en)
    early_beam = _translate(early_model, vocab, val_en, beam_size=4)
    early_lp = _translate(early_model, vocab, val_en, beam_size=4, length_penalty=0.6)

    found = total = 0
    for english, french in val_pairs:
        source, target = number_words.tokenize(english), number_words.tokenize(french)
        top = _last_layer_alignment(model, vocab, english, french).argmax(dim=-1).tolist()
        for token, position in zip(target, top):
            if token in COUNTERPARTS:
                total += 1
                found += source[position] in COUNTERPARTS[token]

    def vigesimal(n, fr):
        return any(70 <= g % 100 <= 99 for g in _groups(n))

    def plain(n, fr):
        return not (vigesimal(n, fr) or " et " in fr or "vingts" in fr or "cents" in fr)

    def rate(select):
        return _error_rate(splits.val, early, val_fr, select)

    test_en, test_fr = [en for en, _ in test_pairs], [fr for _, fr in test_pairs]
    test_greedy = _translate(model, vocab, test_en)
    return {
        "early val": _exact(early, val_fr),
        "val": _exact(greedy, val_fr),
        "test": _exact(test_greedy, test_fr),
        "test BLEU": sacrebleu.corpus_bleu(test_greedy, [test_fr]).score,
        "beam < greedy": float((beam_lp < greedy_lp - 1e-4).sum()),
        "lp changes": float(sum(a != b for a, b in zip(early_beam, early_lp))),
        "aligned": 100 * found / total,
        "vig. ratio": rate(vigesimal) / max(rate(plain), 1e-9),
        "long ratio": rate(lambda n, fr: n >= 10_000) / max(rate(lambda n, fr: 100 <= n < 10_000),
                                                            1e-9),
    }
