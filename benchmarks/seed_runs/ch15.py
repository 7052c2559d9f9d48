"""Chapter 15's summarizers over seeds: the page's recipe (data seed 0, seeded model and batches).

``python -m benchmarks.seeds ch15 --seeds 3 --threads 1``. Each seed trains the page's two models
(D = 64, 2 + 2 layers, F = 128, label smoothing 0.1, 300 steps of 32 reports): one on words, one
with placeholders for the names; chooses the length penalty on the validation reports as the page
does, and scores the test reports once, with ROUGE-L F and the share of faithful headlines.
"""

from __future__ import annotations

import functools
import statistics

import transformer_lib as tl
from transformer_lib import decoding, losses, summaries, training
from transformer_lib.data import (BOS_ID, EOS_ID, PAD_ID, BatchSampler, headlines,
                                  make_seq2seq_batch, pad_sequences)

TITLE = ("Chapter 15's summarizers, 3 seeds (model and batches; the reports stay those of "
         "data seed 0).")
DIGITS = 1
NOTE = ("ROUGE-L: mean F (%) over the 300 validation (val) or test reports; words: the model on "
        "words, greedy; greedy and beam: the placeholder model, greedy or beam search (4 beams) "
        "with the alpha chosen on validation; words a=0, a=4: mean length in words of the beam "
        "headlines of the validation reports with alpha 0 and 4 (the page prints the references'); "
        "faithful: headlines whose numbers and capitalized words are all in their report (%); "
        "lead-1 is the same for every seed.")

STEPS, BATCH, WARMUP, MAX_TOKENS, ALPHAS = 300, 32, 100, 24, (0.0, 1.0, 2.0, 4.0)


def _prepare(report, text, anonymous):
    return headlines.anonymize(text, report.entities) if anonymous else text


def _summarize(model, vocab, reports, anonymous, beam_size=1, alpha=0.0):
    out = []
    for start in range(0, len(reports), 100):
        chunk = reports[start : start + 100]
        src = pad_sequences([vocab.encode(_prepare(r, r.text, anonymous)) for r in chunk],
                            PAD_ID)  # (B, S)
        if beam_size == 1:
            ids = decoding.greedy_decode(model, src, MAX_TOKENS, BOS_ID, EOS_ID)
        else:
            ids, _ = decoding.beam_search(model, src, MAX_TOKENS, BOS_ID, EOS_ID, beam_size,
                                          alpha)
        texts = [vocab.decode(row) for row in ids]
        out += [headlines.restore(t, r.entities) if anonymous else t
                for t, r in zip(texts, chunk)]
    return out


def _rouge_l(outputs, references):
    return 100 * statistics.fmean(summaries.rouge_f(outputs, references, ["rougeL"])["rougeL"])


def _faithful(outputs, reports):
    return 100 * statistics.fmean(headlines.unsupported(o, r.text) == []
                                  for o, r in zip(outputs, reports))


def _train(train, val, anonymous, seed):
    val_refs = [r.headline for r in val]
    vocab = headlines.Vocab.from_texts(_prepare(r, t, anonymous) for r in train
                                       for t in (r.text, r.headline))
    pairs = [(vocab.encode(_prepare(r, r.text, anonymous)),
              vocab.encode(_prepare(r, r.headline, anonymous))) for r in train]
    tl.seed_everything(seed)
    cfg = tl.TransformerConfig(vocab_size=len(vocab), d_model=64, n_heads=4, d_ff=128,
                               n_layers=2, dropout=0.1, max_len=128)
    model = tl.Transformer(cfg)
    sampler = BatchSampler(len(pairs), BATCH, seed=seed)

    def get_batch(step):
        return make_seq2seq_batch([pairs[i] for i in sampler.indices(step)], PAD_ID, BOS_ID,
                                  EOS_ID)

    def evaluate(model):
        return {"val ROUGE-L": _rouge_l(_summarize(model, vocab, val[::2], anonymous),
                                        val_refs[::2])}

    optimizer, scheduler = training.noam_optimizer(model, cfg.d_model, warmup=WARMUP)
    training.fit(model, optimizer, get_batch,
                 functools.partial(losses.seq2seq_loss, smoothing=0.1), STEPS,
                 scheduler=scheduler, evaluate=evaluate, eval_every=100, progress=False,
                 log=False)
    return model.eval(), vocab


def run(seed: int) -> dict[str, float]:
    splits = headlines.make_splits(n_train=4000, n_val=300, n_test=300, seed=0)
    train, val, test = splits.train, splits.val, splits.test
    val_refs, test_refs = [r.headline for r in val], [r.headline for r in test]
    word_model, word_vocab = _train(train, val, False, seed)
    model, vocab = _train(train, val, True, seed)
    outputs = {a: _summarize(model, vocab, val, True, 4, a) for a in ALPHAS}
    val_beam = {a: _rouge_l(outputs[a], val_refs) for a in ALPHAS}
    alpha = max(ALPHAS, key=val_beam.get)
    words_at = {a: statistics.fmean(len(o.split()) for o in outputs[a]) for a in (0.0, 4.0)}
    words = _summarize(word_model, word_vocab, test, False)
    greedy = _summarize(model, vocab, test, True)
    beam = _summarize(model, vocab, test, True, 4, alpha)
    return {
        "val words": _rouge_l(_summarize(word_model, word_vocab, val, False), val_refs),
        "val greedy": _rouge_l(_summarize(model, vocab, val, True), val_refs),
        "alpha": alpha,
        "words a=0": words_at[0.0],
        "words a=4": words_at[4.0],
        "test lead-1": _rouge_l([headlines.lead(r) for r in test], test_refs),
        "test words": _rouge_l(words, test_refs),
        "test greedy": _rouge_l(greedy, test_refs),
        "test beam": _rouge_l(beam, test_refs),
        "faithful words": _faithful(words, test),
        "faithful greedy": _faithful(greedy, test),
        "faithful beam": _faithful(beam, test),
    }
