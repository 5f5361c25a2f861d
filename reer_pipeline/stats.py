"""Bootstrap intervals: one resampling rule and one percentile rule for every estimate."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95


def resample_counts(n_units: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of `n_units` units is drawn in each of `n` resamples with replacement,
    as an (n, n_units) array: the weights of a vectorized bootstrap statistic."""
    draws = rng.integers(0, n_units, (n, n_units))
    counts = np.zeros((n, n_units))
    np.add.at(counts, (np.arange(n)[:, None], draws), 1.0)
    return counts


def percentile_interval(samples, level: float = LEVEL, axis: int | None = None):
    """(low, high): the central `level` share of bootstrap samples (linear percentiles), NaN
    samples left out; NaN where no sample is a number."""
    tail = (1 - level) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice gives NaN
        low, high = np.nanpercentile(np.asarray(samples, float), [tail, 100 - tail], axis=axis)
    return low, high


def bootstrap_interval(
    values,
    stat: Callable[..., float] = np.mean,
    n: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, low, high): `stat` of `values` with its percentile bootstrap interval.

    `values` is one array, or a tuple of equal-length arrays resampled together (paired: row i
    of each is one unit), passed to `stat` in that order. With fewer than two units, or no
    spread, the interval is the estimate itself."""
    arrays = tuple(
        np.asarray(a, float) for a in (values if isinstance(values, tuple) else (values,))
    )
    size = len(arrays[0])
    if any(len(a) != size for a in arrays):
        raise ValueError(f"paired arrays differ in length: {[len(a) for a in arrays]}")
    estimate = float(stat(*arrays)) if size else math.nan
    if size < 2 or all(np.ptp(a) == 0 for a in arrays):
        return estimate, estimate, estimate
    draws = np.random.default_rng(seed).integers(0, size, (n, size))
    samples = [stat(*(a[d] for a in arrays)) for d in draws]
    low, high = percentile_interval(samples, level)
    return estimate, float(low), float(high)
