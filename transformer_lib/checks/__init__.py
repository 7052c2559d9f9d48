"""Automatic checks for the exercises, one module per chapter, imported when first used.

Each ``check_*`` runs the student's function on several inputs, compares the results with a
reference and returns a ``CheckResult``, truthy when all matched, shown in a notebook as one line.
A wrong answer, an unreadable result, a changed input or an exception in the student's code is
feedback, never a traceback; ``checks.check_xxx(f).assert_passed()`` raises ``CheckFailed`` with
that feedback (a graded test cell).
"""

import importlib

from transformer_lib.checks._core import CheckFailed, CheckResult

_CHECKS = {  # chapter module -> the checks it defines, without their "check_" prefix
    "ch01": "learn_bpe bpe_encode sinusoidal_encoding pad_batch relative_position_matrix "
            "whole_word_fraction",
    "ch02": "attention_entropy causal_mask prefix_mean cross_attention_parameters "
            "softmax_saturation multi_head_attention",
    "ch03": "swiglu_ffn ffn_parameter_count position_wise gelu_tanh inactive_units "
            "feed_forward_module",
    "ch04": "layer_norm_module residual_module layer_norm_backward from_annotated "
            "causal_batch_norm rms_norm stream_rms",
    "ch05": "encoder_layer_module own_symbol_share share_for_count encoder_parameter_count "
            "masked_mean_pooling",
    "ch06": "cross_attention decoder_layer_module gpt_module greedy_generate",
    "ch07": "seq2seq_loss train_step token_batches mask_tokens",
    "capstone": "trained_transformer",  # chapter 7's, which reruns the checks of chapters 2-6
    "ch08": "split_by_number corpus_bleu length_sweep diagonal_alignment",
    "ch09": "next_token_probs generate_loop cached_attention_step distinct_n",
    "ch10": "masked_max_pool attention_pool confusion_matrix validation_scores",
    "ch11": "bio_spans template_bootstrap valid_tags",
    "ch12": "bm25_scores mmr_summary negation_lexicon",
    "ch13": "collate param_groups threshold_for_precision",
    "ch14": "best_span token_f1 blank_question",
    "ch15": "rouge_by_hand lead_k unsupported_numbers oracle_sentence",
    "ch16": "rotary share_kv kv_cache_bytes",
    "ch17": "previous_token_scores induction_scores repeat_loss_increase attention_by_offset",
    "ch18": "lstm_cell_step lstm_parameter_count layer_multiply_adds loss_by_position",
}
_CHAPTER_OF = {f"check_{name}": chapter
               for chapter, names in _CHECKS.items() for name in names.split()}

__all__ = ["CheckFailed", "CheckResult", *_CHAPTER_OF]


def __getattr__(name: str):
    """Import the chapter that defines the check ``name`` (PEP 562)."""
    if name not in _CHAPTER_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    check = getattr(importlib.import_module(f"{__name__}.{_CHAPTER_OF[name]}"), name)
    globals()[name] = check  # later look-ups find it without coming here
    return check


def __dir__() -> list[str]:
    return sorted({*globals(), *_CHAPTER_OF})
