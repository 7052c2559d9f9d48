"""Chapter 16's exercise checks accept right answers and explain the typical wrong ones."""

import torch

from transformer_lib import checks, modern


def rotary_with(pairing="half", direction=1.0, exponent=2.0, offset=0):
    """A rotary embedding with one of the known mistakes (the defaults are right)."""

    def rotate(x, start=0):
        length, head_dim = x.shape[-2], x.shape[-1]
        i = torch.arange(head_dim // 2)
        positions = torch.arange(start + offset, start + offset + length)
        angles = direction * positions[:, None] * 10000.0 ** (-exponent * i / head_dim)
        cos, sin = angles.cos(), angles.sin()
        if pairing == "half":
            a, b = x.chunk(2, dim=-1)
            return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1).flatten(-2)

    return rotate


def test_rotary_accepts_the_library_and_a_right_answer():
    assert checks.check_rotary(modern.apply_rope).passed
    assert checks.check_rotary(rotary_with()).passed


def test_rotary_explains_the_known_mistakes():
    for wrong, hint in [(rotary_with(pairing="neighbours"), "(2i, 2i + 1)"),
                        (rotary_with(direction=-1.0), "wrong way"),
                        (rotary_with(exponent=1.0), "10000^(-2i / Dh)"),
                        (rotary_with(offset=1), "start + 1")]:
        result = checks.check_rotary(wrong)
        assert not result.passed and hint in result.message, result.message
    ignores_start = checks.check_rotary(lambda x, start=0: modern.apply_rope(x))
    assert not ignores_start.passed and "start + t" in ignores_start.message


def test_rotary_reports_a_crash_without_a_traceback():
    result = checks.check_rotary(lambda x, start=0: x.chunk(3)[5])
    assert not result.passed and "your code raised IndexError" in result.message
    assert "Traceback" not in result.message


def test_share_kv():
    assert checks.check_share_kv(modern.share_kv_heads).passed
    right = checks.check_share_kv(lambda kv, n: kv[:, torch.arange(n) // (n // kv.shape[1])])
    assert right.passed
    tiled = checks.check_share_kv(lambda kv, n: kv.repeat(1, n // kv.shape[1], 1, 1))
    assert not tiled.passed and "repeat_interleave" in tiled.message
    unchanged = checks.check_share_kv(lambda kv, n: kv)
    assert not unchanged.passed and "wrong shape" in unchanged.message
    wrong_axis = checks.check_share_kv(lambda kv, n: kv.repeat_interleave(n // kv.shape[1], 2))
    assert not wrong_axis.passed and "wrong shape" in wrong_axis.message
    crash = checks.check_share_kv(lambda kv, n: kv.repeat_interleave(n / kv.shape[1], 1))
    assert not crash.passed and "your code raised" in crash.message


def right_bytes(n_layers, n_kv_heads, head_dim, context, batch, bytes_per_number):
    return 2 * n_layers * n_kv_heads * head_dim * context * batch * bytes_per_number


def test_kv_cache_bytes():
    assert checks.check_kv_cache_bytes(right_bytes).passed
    for wrong, hint in [(lambda *s: right_bytes(*s) // 2, "keys AND values"),
                        (lambda *s: right_bytes(*s) // s[5], "bytes_per_number"),
                        (lambda *s: right_bytes(*s) // s[0], "n_layers"),
                        (lambda *s: right_bytes(*s) // s[4], "batch")]:
        result = checks.check_kv_cache_bytes(wrong)
        assert not result.passed and hint in result.message, result.message
    as_float = checks.check_kv_cache_bytes(lambda *s: right_bytes(*s) / 1)
    assert not as_float.passed and "float" in as_float.message
    crash = checks.check_kv_cache_bytes(lambda *s: s[9])
    assert not crash.passed and "IndexError" in crash.message


RIGHT = [
    (checks.check_rotary, modern.apply_rope),
    (checks.check_rotary, rotary_with()),
    (checks.check_share_kv, modern.share_kv_heads),
    (checks.check_share_kv, lambda kv, n: kv[:, torch.arange(n) // (n // kv.shape[1])]),
    (checks.check_kv_cache_bytes, right_bytes),
]

WRONG = [
    (checks.check_rotary, rotary_with(pairing="neighbours"), "(2i, 2i + 1)"),
    (checks.check_rotary, rotary_with(direction=-1.0), "wrong way"),
    (checks.check_rotary, rotary_with(exponent=1.0), "10000^(-2i / Dh)"),
    (checks.check_share_kv, lambda kv, n: kv.repeat(1, n // kv.shape[1], 1, 1),
     "repeat_interleave"),
    (checks.check_share_kv, lambda kv, n: kv, "wrong shape"),
    (checks.check_kv_cache_bytes, lambda *s: right_bytes(*s) // 2, "keys AND values"),
    (checks.check_kv_cache_bytes, lambda *s: right_bytes(*s) // s[0], "n_layers"),
]
