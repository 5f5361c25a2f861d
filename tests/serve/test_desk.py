"""The desk's reads of the warehouse: done once per version of the file, and served from the
last read while another process (a Dagster run) holds DuckDB's write lock."""

import subprocess
import sys

import pytest

from reer_pipeline.serve.desk import Desk, DeskError
from tests.serve.conftest import ACCOUNT, add_candidates, candidate

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])  # read-write: the file is locked for other processes
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_lock(db, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_the_warehouse_is_read_once_per_version(layout):
    desk = Desk(layout)
    first = desk.snapshot(ACCOUNT)
    assert desk.snapshot(ACCOUNT) is first  # a page view reuses the read
    add_candidates(layout.warehouse, [candidate("school lunches", "Every kid deserves lunch.")])
    second = desk.snapshot(ACCOUNT)
    assert second is not first
    assert [e["text"] for e in second.entries] == ["Every kid deserves lunch."]


def test_a_locked_warehouse_serves_the_last_read(layout):
    desk = Desk(layout)
    before = desk.queue(desk.account(ACCOUNT.key))  # as a page view does
    desk.lock_wait_s = 0.5
    proc = hold_lock(layout.warehouse, 60)
    try:
        layout.warehouse.touch()  # a new version the desk cannot read while the lock is held
        assert desk.queue(ACCOUNT)["drafts"] == before["drafts"]
        assert desk.account(ACCOUNT.key) == ACCOUNT  # the page's account check too
        fresh = Desk(layout)
        fresh.lock_wait_s = 0.5
        with pytest.raises(DeskError, match="busy") as e:
            fresh.queue(ACCOUNT)  # nothing read yet: 503, retry
        assert e.value.status == 503
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_a_run_that_changes_the_warehouse_refreshes_the_scorer_not_the_model(layout, model_env):
    """After a run writes the warehouse (it may have trained a new adapter or engagement model),
    the desk scores with a scorer built from it; the language model is not loaded again."""
    desk = Desk(layout)
    first = desk.score(ACCOUNT, "Every kid deserves a good lunch at school.", "school lunches")
    scorer = desk._scorer(ACCOUNT)
    assert desk._scorer(ACCOUNT) is scorer  # a second request shares it
    model = desk._models().get("scorer_lm")
    add_candidates(layout.warehouse, [candidate("school lunches", "Every kid deserves lunch.")])
    assert desk._scorer(ACCOUNT) is not scorer
    assert desk._models().get("scorer_lm") is model
    again = desk.score(ACCOUNT, "Every kid deserves a good lunch at school.", "school lunches")
    assert again["total"] == pytest.approx(first["total"])
