"""The one bootstrap: resample counts, percentile intervals, and estimates with their interval."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from reer_pipeline.stats import bootstrap_interval, percentile_interval, resample_counts


def test_the_mean_interval_matches_scipys_percentile_bootstrap():
    values = np.random.default_rng(3).normal(0.1, 0.2, 40)
    res = scipy_stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=2000,
        method="percentile",
        random_state=np.random.default_rng(7),
    )
    mean, low, high = bootstrap_interval(values, n=2000, seed=7)
    assert mean == pytest.approx(values.mean())
    assert low == pytest.approx(res.confidence_interval.low)
    assert high == pytest.approx(res.confidence_interval.high)


def test_the_interval_narrows_with_more_data_and_is_seeded():
    rng = np.random.default_rng(1)
    small, large = rng.normal(0.1, 0.2, 10), rng.normal(0.1, 0.2, 400)
    _, lo, hi = bootstrap_interval(small)
    _, lo2, hi2 = bootstrap_interval(large)
    assert lo < small.mean() < hi and hi2 - lo2 < hi - lo
    assert bootstrap_interval(small, seed=5) == bootstrap_interval(small, seed=5)
    assert bootstrap_interval(small, seed=5) != bootstrap_interval(small, seed=6)


def test_no_spread_or_one_unit_has_no_interval():
    assert bootstrap_interval([0.3, 0.3]) == (0.3, 0.3, 0.3)
    assert bootstrap_interval([0.5]) == (0.5, 0.5, 0.5)
    assert all(math.isnan(v) for v in bootstrap_interval([]))


def test_paired_arrays_are_resampled_together():
    """A statistic of two identical columns is exactly 0 on every resample when rows are drawn
    together, and not when they were drawn apart."""
    x = np.random.default_rng(2).normal(size=30)
    diff, low, high = bootstrap_interval((x, x), stat=lambda a, b: np.mean(a - b))
    assert diff == low == high == 0.0
    ratio = bootstrap_interval((x**2, np.ones_like(x)), stat=lambda s, c: s.sum() / c.sum())
    assert ratio[1] < ratio[0] < ratio[2]
    with pytest.raises(ValueError, match="differ in length"):
        bootstrap_interval((x, x[:-1]), stat=lambda a, b: 0.0)


def test_resample_counts_draw_every_unit_n_times_in_all():
    counts = resample_counts(7, 500, np.random.default_rng(0))
    assert counts.shape == (500, 7) and (counts.sum(axis=1) == 7).all()
    assert counts.mean() == pytest.approx(1.0, abs=0.05)  # each unit once per resample, on average


def test_percentile_interval_leaves_nans_out():
    samples = np.r_[np.linspace(0, 1, 101), [np.nan] * 50]
    low, high = percentile_interval(samples, 0.9)
    assert low == pytest.approx(0.05) and high == pytest.approx(0.95)
    lows, highs = percentile_interval(np.c_[samples, np.full(151, np.nan)], 0.9, axis=0)
    assert lows[0] == pytest.approx(0.05) and math.isnan(lows[1]) and math.isnan(highs[1])
