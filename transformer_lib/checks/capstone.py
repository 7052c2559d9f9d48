"""The check of chapter 7's capstone: the learner's own Transformer, trained by their own step,
must reverse the chapter's held-out sequences; when it does not, the check finds the part of theirs
that is wrong by running each part's chapter check again."""

import torch
from torch import nn

from transformer_lib.checks._core import Failure, call, check, describe
from transformer_lib.data.batching import make_seq2seq_batch
from transformer_lib.data.tasks import BOS_ID, EOS_ID, PAD_ID, SequenceTask
from transformer_lib.decoding import exact_match, greedy_decode

# The parts a learner builds and saves, and the check of the chapter that built each one.
_PART_CHECKS = {
    "MultiHeadAttention": ("check_multi_head_attention", "chapter 2"),
    "FeedForward": ("check_feed_forward_module", "chapter 3"),
    "LayerNorm": ("check_layer_norm_module", "chapter 4"),
    "ResidualConnection": ("check_residual_module", "chapter 4"),
    "EncoderLayer": ("check_encoder_layer_module", "chapter 5"),
    "DecoderLayer": ("check_decoder_layer_module", "chapter 6"),
}
_LEARNERS_MODULES = ("my_transformer", "__main__")  # parts.load's classes, a notebook's own


def _failing_parts(model: nn.Module) -> list[str]:
    """Each of the learner's own part classes in ``model`` that fails its chapter's check."""
    from transformer_lib import checks

    classes = {type(m) for m in model.modules() if type(m).__module__ in _LEARNERS_MODULES}
    failing = []
    for cls in sorted(classes, key=lambda c: c.__name__):
        if cls.__name__ in _PART_CHECKS:
            name, chapter = _PART_CHECKS[cls.__name__]
            result = getattr(checks, name)(cls)
            if not result:
                failing.append(f"your {cls.__name__} fails {chapter}'s check: {result.message}")
    return failing


@check("your trained Transformer")
def check_trained_transformer(student_fn: nn.Module):
    """``student_fn`` is the trained model of chapter 7's reversal task (``model(src, tgt_in)`` ->
    logits, with ``encode`` and ``decode`` as ``tl.Transformer``'s). Greedy decoding must reverse
    at least 99 % of the chapter's 1000 test sequences, which no training step saw. Below that,
    the learner's own parts in the model are checked again, and the first that fails is named."""
    task = SequenceTask("reverse", n_symbols=5, min_len=3, max_len=8)
    _, held_out = task.splits(n_train=10_000, n_test=1_300, seed=0)  # as the chapter splits
    test_pairs = held_out[:1_000]
    parameters = list(student_fn.parameters()) if isinstance(student_fn, nn.Module) else []
    device = parameters[0].device if parameters else torch.device("cpu")
    batch = make_seq2seq_batch(test_pairs, PAD_ID, BOS_ID, EOS_ID).to(device)
    was_training = getattr(student_fn, "training", False)
    if isinstance(student_fn, nn.Module):
        student_fn.eval()
    try:
        with torch.no_grad():
            logits = call(student_fn, batch.src[:4], batch.tgt_in[:4])
            expected = (4, batch.tgt_in.shape[1], task.vocab_size)
            if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
                raise Failure(f"model(src, tgt_in) returned {describe(logits)}; expected logits "
                              f"of shape {expected}")
            if not all(hasattr(student_fn, name) for name in ("source_mask", "encode", "decode")):
                raise Failure("greedy decoding needs the model's source_mask, encode and decode, "
                              "as tl.Transformer has them: build the model as "
                              "tl.Transformer(cfg, encoder=..., decoder=...)")
            outputs = greedy_decode(student_fn, batch.src, task.max_len + 2, BOS_ID, EOS_ID)
    finally:
        if isinstance(student_fn, nn.Module):
            student_fn.train(was_training)
    score = exact_match(outputs, [target for _, target in test_pairs])
    if score >= 0.99:
        return
    failing = _failing_parts(student_fn) if isinstance(student_fn, nn.Module) else []
    said = f"it reverses {score:.1%} of the 1000 test sequences, and needs 99 %"
    if failing:
        raise Failure(f"{said}. {failing[0]} Fix that part, save it again, and rerun this chapter")
    raise Failure(f"{said}. Every part of yours in it passes its chapter's check, so look at the "
                  "training: does check_train_step pass, and does the loss fall below 1? With "
                  "this chapter's settings (500 steps, peak rate 3e-3) the library's parts reach "
                  "100 %")
