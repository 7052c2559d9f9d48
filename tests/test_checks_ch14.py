"""Chapter 14's exercise checks accept right answers and explain the typical wrong ones."""

import re
import string
from collections import Counter

import torch

from transformer_lib import checks, qa
from transformer_lib.checks import ch14

# --- exercise 1: the best span


def right_span(start_scores, end_scores, context, max_len):
    best, pair = -float("inf"), None
    for i in range(len(start_scores)):
        for j in range(i, min(i + max_len, len(start_scores))):
            if context[i] and context[j] and start_scores[i] + end_scores[j] > best:
                best, pair = start_scores[i] + end_scores[j], (i, j)
    return pair


def span_with_the_library(start_scores, end_scores, context, max_len):
    s, e, _ = qa.best_span(start_scores[None], end_scores[None], context[None], max_len)
    return s[0], e[0]  # 0-dim tensors are accepted


def independent(start_scores, end_scores, context, max_len):
    return (int(start_scores.masked_fill(~context, -1e9).argmax()),
            int(end_scores.masked_fill(~context, -1e9).argmax()))


def anywhere(start_scores, end_scores, context, max_len):
    return right_span(start_scores, end_scores, torch.ones_like(context), max_len)


def one_too_long(start_scores, end_scores, context, max_len):
    return right_span(start_scores, end_scores, context, max_len + 1)


def greedy(start_scores, end_scores, context, max_len):
    return ch14._greedy(start_scores, end_scores, context, max_len)


# --- exercise 2: token F1


def right_f1(prediction, truth):
    def norm(text):
        text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
        return re.sub(r"\b(a|an|the)\b", " ", text).split()

    p, t = norm(prediction), norm(truth)
    same = sum((Counter(p) & Counter(t)).values())
    return 0 if same == 0 else 2 * same / (len(p) + len(t))  # the same F1, written otherwise


def f1_without_lower(prediction, truth):
    return ch14._f1(prediction, truth, lower=False)


def f1_with_sets(prediction, truth):
    return ch14._f1(prediction, truth, multiset=False)


def f1_keeping_articles(prediction, truth):
    return ch14._f1(prediction, truth, articles=False)


def f1_precision(prediction, truth):
    return ch14._f1(prediction, truth, measure="precision")


# --- exercise 3: a blank question


def right_blank(ids, token_type_ids, sep_id, blank_id):
    out = ids.clone()
    for row in out:
        sep = row.tolist().index(sep_id)
        row[1:sep] = blank_id
    return out


def blank_type_zero(ids, token_type_ids, sep_id, blank_id):
    keep = (ids == 101) | (ids == sep_id)
    return torch.where((token_type_ids == 0) & ~keep, blank_id, ids)


def blank_in_place(ids, token_type_ids, sep_id, blank_id):
    ids[:, 1:3] = blank_id
    return ids


RIGHT = [
    (checks.check_best_span, right_span),
    (checks.check_best_span, span_with_the_library),
    (checks.check_token_f1, qa.token_f1),
    (checks.check_token_f1, right_f1),
    (checks.check_blank_question, right_blank),
    (checks.check_blank_question, ch14.blank_question_reference),
]

WRONG = [
    (checks.check_best_span, independent, "chosen independently"),
    (checks.check_best_span, anywhere, "outside the context"),
    (checks.check_best_span, one_too_long, "max_len + 1 tokens long"),
    (checks.check_best_span, lambda s, e, c, m: right_span(s, e, c, 10_000), "max_len is ignored"),
    (checks.check_best_span, greedy, "the best start first"),
    (checks.check_best_span, lambda s, e, c, m: [3], "expected a tuple (start, end)"),
    (checks.check_best_span, lambda s, e, c, m: (1.5, 2), "as two ints"),
    (checks.check_token_f1, f1_without_lower, "lower-case both strings"),
    (checks.check_token_f1, f1_with_sets, "multiset"),
    (checks.check_token_f1, f1_keeping_articles, "drop the articles"),
    (checks.check_token_f1, lambda p, t: ch14._f1(p, t, punct=False), "remove the punctuation"),
    (checks.check_token_f1, lambda p, t: ch14._f1(p, t, articles_first=True),
     "before the articles"),
    (checks.check_token_f1, f1_precision, "that is the precision"),
    (checks.check_token_f1, lambda p, t: "0.5", "expected a number"),
    (checks.check_blank_question, blank_type_zero, "padding has token type 0 too"),
    (checks.check_blank_question,
     lambda ids, tt, sep, blank: ids.masked_fill((tt == 0) & (ids != 0), blank),
     "[CLS] and the first [SEP] must stay"),
    (checks.check_blank_question, lambda ids, tt, sep, blank: ids.masked_fill(tt == 1, blank),
     "you blanked the context"),
    (checks.check_blank_question, blank_in_place, "changed its input ids in place"),
    (checks.check_blank_question, lambda ids, tt, sep, blank: ids.float(), "torch.long"),
]
