"""The seeds' statistics and the decision rule every "held" in the reports comes from (rot90.lab.stats)."""

import pytest

from rot90.lab.stats import paired, spread, verdict


def test_paired_differences_and_their_t_interval():
    d = paired([14.0, 13.0, 15.0], [12.0, 12.5, 12.5])  # differences 2.0, 0.5, 2.5: mean 5/3, sd 1.0408
    assert d["differences"] == [2.0, 0.5, 2.5] and d["mean"] == pytest.approx(5 / 3)
    half = 4.303 * 1.0408330 / 3 ** 0.5
    assert (d["low"], d["high"]) == pytest.approx((5 / 3 - half, 5 / 3 + half), abs=1e-5)
    assert paired([1.0], [0.5]) == {"n": 1, "mean": 0.5, "low": 0.5, "high": 0.5, "kind": "one pair",
                                    "differences": [0.5]}
    with pytest.raises(ValueError, match="one per seed"):
        paired([1.0, 2.0], [1.0])


@pytest.mark.parametrize("a,b,margin,expected", [
    ([3.0, 3.2, 2.9], [1.0, 1.1, 1.0], 1.0, "held"),              # 3 pairs, the interval above the margin
    ([3.0, 3.2], [1.0, 1.1], 1.0, "leans"),                       # 2 pairs: never held, however far apart
    ([3.0, 0.0, 3.2], [1.0, 1.1, 1.0], 0.0, "leans"),             # the mean ahead, the interval across 0
    ([1.0, 1.1, 1.0], [3.0, 3.2, 2.9], 1.0, "reversed"),
    ([1.0, 1.1, 1.0], [3.0, 3.2, 0.0], 0.0, "leans against"),
    ([1.0, 1.2, 1.0], [1.1, 1.0, 1.1], 0.5, "inconclusive"),      # within the margin
])
def test_the_decision_rule(a, b, margin, expected):
    assert verdict(paired(a, b), margin) == expected


def test_spread_min_max_up_to_three_seeds_then_a_t_interval():
    assert spread([1.0, 3.0, 2.0])["kind"] == "min–max" and spread([1.0, 3.0, 2.0])["low"] == 1.0
    s = spread([1.0, 2.0, 3.0, 4.0])
    assert s["kind"] == "95 % t-interval" and s["mean"] == 2.5 and s["high"] - s["low"] > 3.0 - 2.0
