"""Chapter 12 over seeds: the few-shot linear probe on frozen MiniLM sentence vectors, trained on
k labelled development reviews drawn with the seed, and the random-sentences summary baseline.

The recipe, constants and library calls are those of ``notebooks/12_pretrained_encoder.ipynb``
(seed 0 is the page's own run). Only the draw changes with the seed: which k development reviews
the probe learns from, and which random sentences the baseline summary takes. The encoder, the
reviews and the references are the same in every row. The probe's column is test accuracy, the
number the page quotes; nothing is chosen from this table.
"""

from __future__ import annotations

import random

import torch
from rouge_score import rouge_scorer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from transformer_lib import pretrained
from transformer_lib.data import doc_questions, reviews

TITLE = ("Chapter 12: test accuracy of the few-shot linear probe on k development reviews drawn "
         "with the seed, and ROUGE-L of the random 3-sentence summaries.")
NOTE = ("Columns: the probe's test accuracy (244 reviews) with k = 8, 16 and 32 labelled "
        "development reviews (k = 60 uses them all, the same in every row); the mean ROUGE-L F1 "
        "of random 3-sentence summaries over the 14 topics (20 draws per topic).")
KS = (8, 16, 32)
_CACHE: dict = {}


def _setup():
    if not _CACHE:
        model = pretrained.load_minilm()
        dev, test = reviews.development_and_test()
        _CACHE.update(
            dev=dev, dev_vectors=model.encode([r.text for r in dev]).numpy(),
            test_vectors=model.encode([r.text for r in test]).numpy(),
            dev_labels=[r.positive for r in dev], test_labels=[r.positive for r in test],
            documents=[(doc_questions.topic_sentences(key, doc_questions.SUMMARY_SENTENCES), pieces)
                       for key, pieces in doc_questions.REFERENCE_SUMMARIES.items()])
    return _CACHE


def run(seed: int) -> dict[str, float]:
    c = _setup()
    row = {}
    labels = torch.tensor(c["dev_labels"])
    for k in KS:
        few = reviews.few_shot_indices(c["dev"], k, seed=seed)
        probe = GridSearchCV(LogisticRegression(), {"C": [0.1, 1, 10, 100]}, cv=4)
        probe.fit(c["dev_vectors"][few], labels[few].numpy())
        right = probe.predict(c["test_vectors"]) == torch.tensor(c["test_labels"]).numpy()
        row[f"probe k={k}"] = float(right.mean())
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rng = random.Random(seed)
    per_topic = []
    for sentences, pieces in c["documents"]:
        reference = " ".join(sentences[i] for i in sorted(
            doc_questions.find_sentences(sentences, pieces)))
        draws = [sorted(rng.sample(range(len(sentences)), 3)) for _ in range(20)]
        per_topic.append(sum(scorer.score(reference, " ".join(sentences[i] for i in d))[
            "rougeL"].fmeasure for d in draws) / 20)
    row["random summary ROUGE-L"] = sum(per_topic) / len(per_topic)
    return row
