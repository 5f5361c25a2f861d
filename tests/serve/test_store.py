"""The review log: append-only, durable, and safe for concurrent writers in other processes."""

import json
import math
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from reer_pipeline.platforms import Account
from reer_pipeline.serve.store import REASONS, Decision, ReviewStore, draft_id, summary
from tests.conftest import ROOT

ACCOUNT = Account("x", "ada")


def decision(i: int, kind: str = "approved", **kw) -> Decision:
    text = f"Draft number {i} about the budget."
    return Decision(
        draft_id=draft_id("x", "ada", "budget", text),
        account=ACCOUNT,
        topic="budget",
        drafted_text=text,
        decision=kind,
        scores={"total": 0.5, "fluency": math.nan, "usable": True},
        approved_text=text if kind == "approved" else None,
        reason=None if kind == "approved" else "bland",
        **kw,
    )


def test_a_decision_reads_back_with_its_scores_and_time(tmp_path):
    store = ReviewStore(tmp_path / "reviews.sqlite3")
    row = store.record(decision(1, note="fine as is", slot="2026-12-09T15:00:00+00:00"))
    [back] = store.decisions(ACCOUNT)
    assert back == row
    assert back["scores"] == {"total": 0.5, "fluency": None, "usable": True}  # NaN: not measured
    assert back["decided_at"].endswith("+00:00") and back["note"] == "fine as is"
    assert store.counts(ACCOUNT) == {"approved": 1, "rejected": 0}
    assert store.decisions(Account("x", "bob")) == []


def test_the_newest_decision_on_a_draft_counts_and_nothing_is_rewritten(tmp_path):
    store = ReviewStore(tmp_path / "reviews.sqlite3")
    first = store.record(decision(1))
    again = store.record(decision(1, "rejected"))
    assert [d["seq"] for d in store.decisions(ACCOUNT)] == [first["seq"], again["seq"]]
    assert store.latest(ACCOUNT)[first["draft_id"]]["decision"] == "rejected"
    assert summary(store.counts(ACCOUNT)) == "approved 0, rejected 1"
    with sqlite3.connect(store.path) as con:
        for sql in ("UPDATE decisions SET decision = 'approved'", "DELETE FROM decisions"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)
    assert len(store.decisions(ACCOUNT)) == 2


def test_wal_and_full_sync(tmp_path):
    store = ReviewStore(tmp_path / "reviews.sqlite3")
    with store._connect() as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_decision_must_say_what_and_why():
    with pytest.raises(ValueError, match="decision must be one of"):
        decision(1, "maybe")
    with pytest.raises(ValueError, match="needs a reason"):
        Decision("d", ACCOUNT, "t", "text", "rejected", {}, reason="too long")
    with pytest.raises(ValueError, match="needs the text"):
        Decision("d", ACCOUNT, "t", "text", "approved", {}, approved_text="  ")
    assert set(REASONS) >= {"not_my_voice", "off_topic", "factually_wrong", "invented", "bland"}


def write_many(path: str, start: int, n: int) -> None:
    store = ReviewStore(path)
    for i in range(start, start + n):
        store.record(decision(i))


def test_writers_in_four_processes_lose_nothing(tmp_path):
    path = tmp_path / "reviews.sqlite3"
    ReviewStore(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=write_many, args=(str(path), k * 100, 50)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    rows = ReviewStore(path).decisions(ACCOUNT)
    assert len(rows) == 200 and len({r["decision_id"] for r in rows}) == 200
    assert {r["drafted_text"] for r in rows} == {
        decision(k * 100 + i).drafted_text for k in range(4) for i in range(50)
    }


WRITER = """
import sys
from tests.serve.test_store import decision
from reer_pipeline.serve.store import ReviewStore
store = ReviewStore(sys.argv[1])
for i in range(100000):
    row = store.record(decision(i))
    print(row["decision_id"], flush=True)  # acknowledged: it is committed
"""


def test_a_killed_writer_loses_no_acknowledged_decision(tmp_path):
    path = tmp_path / "reviews.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    acked = []
    for line in proc.stdout:
        acked.append(line.strip())
        if len(acked) >= 30:
            break
    time.sleep(0.2)  # let it be mid-write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    acked += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
    stored = {r["decision_id"] for r in ReviewStore(path).decisions(ACCOUNT)}
    assert len(acked) >= 30 and set(acked) <= stored
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert json.loads(json.dumps(ReviewStore(path).decisions(ACCOUNT)[0]))  # plain JSON
