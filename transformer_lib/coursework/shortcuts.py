"""What the library (or PyTorch) already offers for an exercise's work, by check: a solution
that calls one of these names passes without doing the exercise. The bulk check marks it, and the
instructors' page lists these exercises as formative only."""

SHORTCUTS = {
    "check_sinusoidal_encoding": ("sinusoidal_positional_encoding", "SinusoidalPositionalEncoding"),
    "check_pad_batch": ("pad_sequences", "pad_sequence"),
    "check_causal_mask": ("causal_mask",),
    "check_multi_head_attention": ("MultiHeadAttention", "MultiheadAttention",
                                   "multi_head_attention_forward"),
    "check_feed_forward_module": ("FeedForward", "TransformerEncoderLayer"),
    "check_gelu_tanh": ("gelu", "GELU"),
    "check_rms_norm": ("rms_norm", "RMSNorm"),
    "check_layer_norm_backward": ("layer_norm", "LayerNorm", "backward"),
    "check_layer_norm_module": ("layer_norm", "LayerNorm"),
    "check_residual_module": ("ResidualConnection",),
    "check_encoder_layer_module": ("EncoderLayer", "TransformerEncoderLayer"),
    "check_masked_mean_pooling": ("mean_pool",),
    "check_decoder_layer_module": ("DecoderLayer", "TransformerDecoderLayer"),
    "check_gpt_module": ("DecoderOnlyLM", "TransformerEncoder"),
    "check_seq2seq_loss": ("seq2seq_loss", "label_smoothed_cross_entropy"),
    "check_train_step": ("train_step",),
    "check_mask_tokens": ("mask_tokens",),
    "check_corpus_bleu": ("corpus_bleu", "BLEU"),
    "check_next_token_probs": ("top_p_filter", "sample_next_token"),
    "check_generate_loop": ("generate", "generate_with_cache"),
    "check_cached_attention_step": ("forward_with_cache",),
    "check_confusion_matrix": ("confusion_matrix",),
    "check_bio_spans": ("bio_spans",),
    "check_template_bootstrap": ("bootstrap_f1", "bootstrap_f1_samples"),
    "check_bm25_scores": ("bm25_scores",),
}
