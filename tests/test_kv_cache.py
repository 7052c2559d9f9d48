"""The key-value cache generates exactly what recomputing the whole sequence generates."""

import pytest
import torch

import transformer_lib as tl
from transformer_lib import decoding
from transformer_lib.kv_cache import KVCache, forward_with_cache, generate_with_cache

CONFIGS = [(norm_first, positional) for norm_first in (False, True)
           for positional in ("sinusoidal", "learned")]


def small_model(norm_first, positional, max_len=40, dropout=0.1):
    torch.manual_seed(0)
    cfg = tl.TransformerConfig(vocab_size=30, d_model=32, n_heads=4, d_ff=64, n_layers=2,
                               dropout=dropout, max_len=max_len, norm_first=norm_first,
                               positional=positional, pad_id=None, activation="gelu")
    return tl.DecoderOnlyLM(cfg).eval()


@pytest.mark.parametrize("norm_first, positional", CONFIGS)
def test_logits_equal_a_full_forward_pass(norm_first, positional):
    model = small_model(norm_first, positional)
    ids = torch.randint(0, 30, (3, 40), generator=torch.Generator().manual_seed(1))
    cache = KVCache()
    with torch.no_grad():
        pieces = [forward_with_cache(model, ids[:, :7], cache)]  # the prompt, in one pass
        pieces += [forward_with_cache(model, ids[:, t : t + 1], cache) for t in range(7, 40)]
        full = model(ids)  # (B, T, V)
    assert cache.length == 40 and len(cache.keys) == 2
    assert cache.keys[0].shape == (3, 4, 40, 8)  # (B, H, S, Dh)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first, positional", CONFIGS)
def test_tokens_equal_decoding_generate(norm_first, positional):
    model = small_model(norm_first, positional)
    prompt = torch.randint(0, 30, (2, 5), generator=torch.Generator().manual_seed(2))
    greedy = decoding.generate(model, prompt, 36, greedy=True)
    assert torch.equal(generate_with_cache(model, prompt, 36, greedy=True), greedy)
    for options in (dict(temperature=0.8), dict(top_k=5), dict(top_p=0.9, temperature=1.3)):
        expected = decoding.generate(model, prompt, 36, generator=torch.Generator().manual_seed(3),
                                     **options)
        got = generate_with_cache(model, prompt, 36, generator=torch.Generator().manual_seed(3),
                                  **options)
        assert torch.equal(got, expected), options


def test_a_prompt_of_one_token_and_a_single_step():
    model = small_model(True, "learned")
    prompt = torch.tensor([[4]])
    for n in (1, 2, 40):
        assert torch.equal(generate_with_cache(model, prompt, n, greedy=True),
                           decoding.generate(model, prompt, n, greedy=True))


def test_longer_than_max_len_is_a_clear_error():
    model = small_model(False, "sinusoidal", max_len=16)
    prompt = torch.zeros(1, 10, dtype=torch.long)
    assert generate_with_cache(model, prompt, 7).shape == (1, 17)  # 16 positions are fed
    with pytest.raises(ValueError, match=r"needs 17 positions, more than cfg.max_len=16"):
        generate_with_cache(model, prompt, 8)
    cache = KVCache()
    forward_with_cache(model, prompt, cache)
    with pytest.raises(ValueError, match="cfg.max_len=16"):
        forward_with_cache(model, prompt, cache)


def test_bad_arguments():
    model = small_model(False, "sinusoidal")
    with pytest.raises(TypeError, match="DecoderOnlyLM"):
        generate_with_cache(torch.nn.Linear(2, 2), torch.zeros(1, 2, dtype=torch.long), 3)
    with pytest.raises(ValueError, match=r"ids must have shape \(B, T\)"):
        generate_with_cache(model, torch.zeros(5, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_with_cache(model, torch.zeros(1, 2, dtype=torch.long), 0)
    with pytest.raises(ValueError, match="temperature"):
        generate_with_cache(model, torch.zeros(1, 2, dtype=torch.long), 3, temperature=0)


def test_the_cache_does_not_change_the_model():
    model = small_model(True, "learned")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    generate_with_cache(model, torch.zeros(1, 3, dtype=torch.long), 10)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.training
