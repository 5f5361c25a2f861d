"""A small slice of `benchmarks/scorer_validity.py`: real held-out posts against each class of
negatives, with the real embedded scorer model. The total must meet every class's target."""

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
    missed = {c: v for c, v in totals.items() if v < bench.TARGETS[c]}
    assert not missed, out
