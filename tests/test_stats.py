import pytest
from scipy.stats import binomtest

from transformer_lib import stats


def test_wilson_interval_known_values():
    low, high = stats.wilson_interval(14, 24)  # top-1 0.58 on 24 questions: about +-0.18
    assert (round(low, 3), round(high, 3)) == (0.388, 0.755)
    assert stats.wilson_interval(0, 10)[0] == pytest.approx(0, abs=1e-12)
    assert stats.wilson_interval(10, 10)[1] == pytest.approx(1)
    assert stats.wilson_interval(7, 10, level=0.9)[0] > stats.wilson_interval(7, 10)[0]
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        stats.wilson_interval(5, 4)
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        stats.wilson_interval(5, 10, level=95)


@pytest.mark.parametrize("successes, n", [(0, 7), (3, 7), (247, 250), (518, 1038), (36, 36)])
def test_wilson_interval_equals_scipy(successes, n):
    reference = binomtest(successes, n).proportion_ci(method="wilson")
    assert stats.wilson_interval(successes, n) == pytest.approx((reference.low, reference.high))


def test_bootstrap_interval_brackets_the_mean_and_is_seeded():
    values = [0.2, 0.4, 0.6, 0.8, 1.0, 0.3]
    low, high = stats.bootstrap_interval(values)
    assert low < sum(values) / len(values) < high
    assert stats.bootstrap_interval(values) == (low, high)
    assert stats.bootstrap_interval(values, seed=1) != (low, high)
    assert stats.bootstrap_interval([0.5, 0.5]) == (0.5, 0.5)
    with pytest.raises(ValueError, match="at least 2 numbers"):
        stats.bootstrap_interval([1.0])
