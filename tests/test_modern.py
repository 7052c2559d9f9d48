"""Chapter 16: the parts (transformer_lib.modern) and the switchable decoder (modern_lm)."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import transformer_lib as tl
from transformer_lib import kv_cache, modern
from transformer_lib.modern_lm import GPT2, LLAMA, DecoderSwitches, ModernLM


def small_config(**overrides) -> tl.TransformerConfig:
    sizes = dict(vocab_size=50, d_model=32, n_heads=4, d_ff=96, n_layers=2, dropout=0.0,
                 max_len=16, norm_first=True, activation="gelu", positional="learned",
                 pad_id=None)
    return tl.TransformerConfig(**{**sizes, **overrides})


def test_rms_norm_equals_pytorch():
    torch.manual_seed(0)
    norm = modern.RMSNorm(8, eps=1e-5)
    with torch.no_grad():
        norm.weight.normal_()
    reference = nn.RMSNorm(8, eps=1e-5)
    reference.weight.data.copy_(norm.weight.data)
    x = torch.randn(3, 5, 8) * 4 + 1
    assert torch.allclose(norm(x), reference(x), atol=1e-6)
    assert torch.allclose(norm(x), F.rms_norm(x, (8,), norm.weight, 1e-5), atol=1e-6)


def test_rope_keeps_norms_and_depends_only_on_the_offset():
    torch.manual_seed(0)
    q, k = torch.randn(16), torch.randn(16)
    rotated_q = modern.apply_rope(q.expand(40, 16))  # (T, Dh): the same vector at positions 0..39
    rotated_k = modern.apply_rope(k.expand(40, 16))
    assert torch.allclose(rotated_q.norm(dim=-1), q.norm().expand(40), atol=1e-5)
    scores = rotated_q @ rotated_k.T  # (T, T): q at m, k at n
    for offset in (-7, 0, 3, 12):
        diagonal = scores.diagonal(offset)  # all pairs with n - m = offset
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-4)
    assert torch.allclose(modern.apply_rope(q.expand(5, 16), start=10), rotated_q[10:15],
                          atol=1e-6)


def test_rope_at_position_zero_is_the_identity_and_rejects_odd_widths():
    x = torch.randn(2, 3, 1, 8)
    assert torch.equal(modern.apply_rope(x), x)
    with pytest.raises(ValueError, match="head_dim=7 must be even"):
        modern.apply_rope(torch.randn(4, 7))
    with pytest.raises(ValueError, match="start"):
        modern.apply_rope(torch.randn(4, 8), start=-1)


def test_swiglu_width_matches_the_gelu_parameters():
    assert modern.swiglu_width(384) == 256 and modern.swiglu_width(100) == 80
    ffn = modern.SwiGLU(96, modern.swiglu_width(384))
    gelu = tl.FeedForward(96, 384, activation="gelu")
    assert ffn(torch.randn(2, 3, 96)).shape == (2, 3, 96)
    assert tl.count_parameters(ffn) == 3 * 96 * 256 == 96 * 384 * 2
    assert tl.count_parameters(gelu) - tl.count_parameters(ffn) == 384 + 96  # GELU's biases


def copy_attention(gqa: modern.GroupedQueryAttention, mha: tl.MultiHeadAttention) -> None:
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        getattr(gqa, name).load_state_dict(getattr(mha, name).state_dict())


def test_gqa_with_as_many_kv_heads_as_heads_is_multi_head_attention():
    torch.manual_seed(0)
    mha, gqa = tl.MultiHeadAttention(32, 4), modern.GroupedQueryAttention(32, 4, n_kv_heads=4)
    copy_attention(gqa, mha)
    x, mask = torch.randn(2, 7, 32), tl.causal_mask(7)
    assert torch.allclose(gqa(x, mask), mha(x, mask=mask), atol=1e-5)


def test_gqa_with_one_kv_head_is_multi_query_attention():
    torch.manual_seed(0)
    mqa = modern.GroupedQueryAttention(32, 4, n_kv_heads=1)
    x = torch.randn(2, 6, 32)
    q = mqa.q_proj(x).view(2, 6, 4, 8).transpose(1, 2)  # (B, H, T, Dh)
    k, v = mqa.k_proj(x)[:, None], mqa.v_proj(x)[:, None]  # (B, 1, T, Dh): one head for all
    out = F.scaled_dot_product_attention(q, k.expand(-1, 4, -1, -1), v.expand(-1, 4, -1, -1))
    expected = mqa.out_proj(out.transpose(1, 2).reshape(2, 6, 32))
    assert torch.allclose(mqa(x), expected, atol=1e-5)
    assert mqa.k_proj.weight.shape == (8, 32)


def gpt2_weights_into(model: ModernLM, gpt: tl.DecoderOnlyLM) -> None:
    renames = [("embedding.token", "token"), ("embedding.position", "position"),
               ("stack.final_norm", "final_norm"), ("stack.layers", "layers"),
               ("self_attn", "attn"), ("attn_block.norm", "norm1"), ("ffn_block.norm", "norm2")]
    state = {}
    for name, value in gpt.state_dict().items():
        for old, new in renames:
            name = name.replace(old, new)
        state[name] = value
    model.load_state_dict(state, strict=True)


def test_the_gpt2_switches_give_chapter_nines_model():
    cfg = small_config()
    torch.manual_seed(1)
    gpt = tl.DecoderOnlyLM(cfg).eval()
    torch.manual_seed(2)
    ours = ModernLM(cfg, GPT2).eval()
    assert tl.count_parameters(ours) == tl.count_parameters(gpt)
    gpt2_weights_into(ours, gpt)
    ids = torch.randint(0, 50, (3, 16))
    assert torch.allclose(ours(ids), gpt(ids), atol=1e-5)
    torch.manual_seed(3)  # the same seed draws the same initial weights
    first = ModernLM(cfg).eval()
    torch.manual_seed(3)
    assert torch.allclose(first(ids), tl.DecoderOnlyLM(cfg).eval()(ids), atol=1e-5)


@pytest.mark.parametrize("switches", [GPT2, LLAMA, DecoderSwitches(positions="sinusoidal")])
def test_cached_decoding_gives_the_full_forward_pass(switches):
    torch.manual_seed(0)
    model = ModernLM(small_config(), switches).eval()
    ids = torch.randint(0, 50, (2, 12))
    cache = kv_cache.KVCache()
    with torch.no_grad():
        pieces = [model(ids[:, :5], cache=cache)]
        pieces += [model(ids[:, t : t + 1], cache=cache) for t in range(5, 12)]
        assert torch.allclose(torch.cat(pieces, dim=1), model(ids), atol=1e-5)
    n_kv = switches.n_kv_heads or 4
    assert cache.keys[0].shape == (2, n_kv, 12, 8)


def test_rope_and_sinusoidal_run_past_max_len_learned_positions_do_not():
    ids = torch.randint(0, 50, (1, 40))  # max_len is 16
    assert ModernLM(small_config(), LLAMA)(ids).shape == (1, 40, 50)
    assert ModernLM(small_config(), DecoderSwitches(positions="sinusoidal"))(ids).shape[1] == 40
    with pytest.raises(ValueError, match="max_len=16"):
        ModernLM(small_config())(ids)


def test_each_switch_changes_the_parameter_count_as_documented():
    cfg = small_config()
    base = tl.count_parameters(ModernLM(cfg))
    rms = tl.count_parameters(ModernLM(cfg, dataclasses.replace(GPT2, norm="rms")))
    assert base - rms == (2 * cfg.n_layers + 1) * cfg.d_model  # the norms' biases
    no_bias = tl.count_parameters(ModernLM(cfg, dataclasses.replace(GPT2, bias=False)))
    assert base - no_bias == cfg.n_layers * (4 * cfg.d_model + cfg.d_ff + cfg.d_model)
    gqa = tl.count_parameters(ModernLM(cfg, dataclasses.replace(GPT2, n_kv_heads=1)))
    assert base - gqa == cfg.n_layers * 2 * (cfg.d_model + 1) * (cfg.d_model - cfg.head_dim)
    rope = tl.count_parameters(ModernLM(cfg, dataclasses.replace(GPT2, positions="rope")))
    assert base - rope == cfg.max_len * cfg.d_model


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="norm='batch'"):
        DecoderSwitches(norm="batch")
    with pytest.raises(ValueError, match="n_kv_heads"):
        DecoderSwitches(n_kv_heads=0)
    with pytest.raises(ValueError, match="n_kv_heads=3 must divide"):
        ModernLM(small_config(), DecoderSwitches(n_kv_heads=3))
    with pytest.raises(ValueError, match="n_kv_heads=3 must divide n_heads=4"):
        modern.GroupedQueryAttention(32, 4, n_kv_heads=3)
    with pytest.raises(ValueError, match="dropout"):
        ModernLM(small_config(dropout=0.1))
    with pytest.raises(TypeError, match="switches"):
        ModernLM(small_config(), "llama")
    with pytest.raises(ValueError, match="d_model"):
        modern.RMSNorm(8)(torch.randn(2, 7))
    with pytest.raises(ValueError, match="d_model"):
        modern.GroupedQueryAttention(32, 4)(torch.randn(2, 3, 16))


def test_a_model_checks_its_ids_once_not_in_every_layer():
    """Its layers' own input checks are off; the same modules alone keep theirs."""
    model = ModernLM(small_config(), LLAMA)
    checked = [m for m in model.modules() if getattr(m, "check_inputs", False)]
    assert checked == []
    with pytest.raises(ValueError, match="ids"):
        model(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="d_model"):
        modern.SwiGLU(8, 16)(torch.randn(2, 7))


def test_the_chapters_seed_figure_shows_the_committed_seed_runs():
    """Chapter 16 draws the validation losses of benchmarks/results/seeds_ch16.json; the page
    cannot read that file (it runs on Colab too), so it holds a copy, which must be current."""
    import ast
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    runs = json.loads((root / "benchmarks/results/seeds_ch16.json").read_text())["rows"]
    notebook = json.loads((root / "notebooks/16_modern_decoders.ipynb").read_text())
    code = next("".join(c["source"]) for c in notebook["cells"]
                if "SEED_RUNS = {" in "".join(c["source"]))
    literal = code[code.index("SEED_RUNS = ") + len("SEED_RUNS = "):]
    shown = ast.literal_eval(literal[: literal.index("}") + 1])
    for name, values in shown.items():
        assert values == pytest.approx([row[f"{name}: val"] for row in runs], abs=1e-4), name


def test_the_seed_runs_support_what_chapter_16_says():
    """The GPT-2 column is chapter 9's model after half of chapter 9's steps, so chapter 9's table
    is lower on every seed; at 500 steps every position scheme that can run past T = 64 does worse
    there than inside it, RoPE less badly than the sinusoids; RoPE beats learned positions on
    every seed, validation and test."""
    import json
    from pathlib import Path

    results = Path(__file__).resolve().parents[1] / "benchmarks/results"
    ours = json.loads((results / "seeds_ch16.json").read_text())["rows"]
    chapter_9 = json.loads((results / "seeds_ch09.json").read_text())["rows"]
    for row, row_9 in zip(ours, chapter_9, strict=True):
        assert row_9["ours: validation"] < row["GPT-2: val"] - 0.1
        for name in ("RoPE", "sinusoidal", "Llama-style"):
            assert row[f"{name}: past 64"] > row[f"{name}: val"] + 0.1
        assert row["RoPE: past 64"] < row["sinusoidal: past 64"]
        assert row["RoPE: val"] < row["GPT-2: val"] - 0.1
        assert row["RoPE: test"] < row["GPT-2: test"] - 0.1
