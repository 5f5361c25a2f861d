"""A small slice of `benchmarks/scorer_validity.py`: real held-out posts against each class of
negatives, with the real embedded scorer model. The total must meet every class's target, except
cut and shuffled, whose 0.95 targets the full benchmark misses (0.92 and 0.89): for those this
guards the level reached (0.8, with room for the slice's sampling noise)."""

import pytest

from tests.conftest import SAMPLE
from tests.scoring.conftest import scorer_validity


@pytest.mark.slow
def test_scorer_validity_slice(shared_exports, capsys):
    bench = scorer_validity()
    exports = [SAMPLE, shared_exports / "x_archive_andreruffert_tweets.js"]
    totals = bench.main(["--exports", *map(str, exports), "--per-class", "10", "--bootstrap", "20"])
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("min_auc=")
    assert set(totals) == set(bench.TARGETS)  # two authors on x: every class is measured
    floor = {**bench.TARGETS, "cut": 0.8, "shuffled": 0.8}
    missed = {c: v for c, v in totals.items() if v < floor[c]}
    assert not missed, out
