"""The append-only trace store: validation, idempotence, torn lines, real processes, DuckDB."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from reer_testdata import trace

from reer_pipeline.reer.schema import SchemaError, validate_trace
from reer_pipeline.reer.store import CorruptStoreError, TraceStore, create_duckdb_view

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

WRITER = """
import sys, time
from reer_testdata import trace
from reer_pipeline.reer.store import TraceStore
root, lo, hi, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
go = sys.argv[5] if len(sys.argv) > 5 else None
store = TraceStore(root)
if go:
    while not __import__("os").path.exists(go):
        time.sleep(0.001)
for i in range(lo, hi):
    if not store.has(trace(i)["id"]):
        store.append(trace(i))
        time.sleep(pause)
print("done", flush=True)
"""


def _writer(root: Path, lo: int, hi: int, pause: float = 0.0, go: Path | None = None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]))
    args = [sys.executable, "-c", WRITER, str(root), str(lo), str(hi), str(pause)]
    return subprocess.Popen(args + ([str(go)] if go else []), env=env, stdout=subprocess.PIPE)


def _lines(store: TraceStore) -> list[str]:
    return [ln for p in store.files() for ln in p.read_text().splitlines() if ln.strip()]


def test_append_read_roundtrip_and_idempotent(tmp_path):
    store = TraceStore(tmp_path)
    assert store.append(trace(1)) is True
    assert store.append(trace(2)) is True
    assert store.append(trace(1)) is False  # same content-addressed id: no-op
    assert store.has(trace(1)["id"]) and not store.has(trace(3)["id"])
    assert store.ids() == {trace(1)["id"], trace(2)["id"]}
    assert [r["post_id"] for r in store.read()] == ["p1", "p2"]
    assert len(_lines(store)) == 2
    # a second instance (another process's view) sees the same store and stays idempotent
    other = TraceStore(tmp_path)
    assert other.append(trace(2)) is False and len(other) == 2


def _bad(mutate):
    rec = copy.deepcopy(trace(7))
    mutate(rec)
    return rec


BAD = {
    "missing_field": _bad(lambda r: r.pop("score_after")),
    "wrong_type": _bad(lambda r: r.update(score_before="low")),
    "id_not_content_address": _bad(lambda r: r.update(id="0" * 64 + "-" + "1" * 16)),
    "unknown_version": _bad(lambda r: r.update(schema_version=99)),
    "extra_field": _bad(lambda r: r.update(surprise=1)),
    "bad_step": _bad(lambda r: r["steps"][0]["candidates"][0].pop("valid")),
    "bad_stop_reason": _bad(lambda r: r.update(stop_reason="bored")),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_schema_rejects_bad_records_on_write(tmp_path, name):
    store = TraceStore(tmp_path)
    with pytest.raises(SchemaError):
        store.append(BAD[name])
    assert _lines(store) == []


def test_schema_validates_on_read(tmp_path):
    store = TraceStore(tmp_path)
    store.append(trace(1))
    with open(store.path, "a") as f:  # a foreign writer bypassing the store
        f.write(json.dumps(BAD["wrong_type"]) + "\n")
    with pytest.raises(CorruptStoreError):
        list(store.read())
    assert [r["post_id"] for r in store.read(validate=False)][0] == "p1"


def test_valid_record_passes_schema():
    validate_trace(trace(0))


def test_torn_last_line_is_ignored_then_repaired(tmp_path):
    store = TraceStore(tmp_path)
    store.append(trace(1))
    store.append(trace(2))
    line3 = json.dumps(trace(3)).encode()
    with open(store.path, "ab") as f:  # what a writer killed mid-write leaves behind
        f.write(line3[: len(line3) // 2])
    fresh = TraceStore(tmp_path)
    assert [r["post_id"] for r in fresh.read()] == ["p1", "p2"]
    assert not fresh.has(trace(3)["id"])
    assert fresh.append(trace(3)) is True
    assert fresh.repaired_bytes == len(line3) // 2
    assert [r["post_id"] for r in TraceStore(tmp_path).read()] == ["p1", "p2", "p3"]
    assert all(json.loads(ln) for ln in _lines(fresh))


def test_two_processes_append_concurrently_lose_nothing(tmp_path):
    go = tmp_path / "go"
    root = tmp_path / "traces"
    a = _writer(root, 0, 150, go=go)
    b = _writer(root, 100, 250, go=go)  # 50 ids overlap: both try to write them
    time.sleep(1.0)  # both interpreters are up and spinning on the go file
    go.touch()
    assert a.wait(120) == 0 and b.wait(120) == 0
    store = TraceStore(root)
    records = list(store.read())
    assert len(records) == 250 == len(_lines(store))
    assert {r["id"] for r in records} == {trace(i)["id"] for i in range(250)}


def test_sigkill_midway_then_rerun_resumes_without_loss_or_duplicates(tmp_path):
    n = 300
    proc = _writer(tmp_path, 0, n, pause=0.002)
    store = TraceStore(tmp_path)
    deadline = time.monotonic() + 60
    while len(store) < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    done_before = len(TraceStore(tmp_path))
    assert 40 <= done_before < n, "the writer must be killed midway"
    rerun = _writer(tmp_path, 0, n)
    assert rerun.wait(120) == 0
    final = TraceStore(tmp_path)
    records = list(final.read())
    assert len(records) == n == len(_lines(final))  # nothing lost, nothing duplicated
    assert {r["id"] for r in records} == {trace(i)["id"] for i in range(n)}


def test_duckdb_view_reads_store_directly(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    create_duckdb_view(con, tmp_path / "traces")  # empty store: the view still works
    assert con.execute("SELECT count(*) FROM reer_traces").fetchone() == (0,)
    store = TraceStore(tmp_path / "traces")
    for i in range(3):
        store.append(trace(i))
    with open(store.path, "ab") as f:
        f.write(b'{"schema_version": 1, "id": "torn')  # torn tail: skipped by the view
    rows = con.execute(
        "SELECT post_id, author, platform, topic, score_before, score_after, n_steps,"
        " n_accepted, kept, completion_tokens, trajectory, x FROM reer_traces ORDER BY post_id"
    ).fetchall()
    assert [r[0] for r in rows] == ["p0", "p1", "p2"]
    t = trace(0)
    p0 = rows[0]
    assert p0[1:7] == ("ada", "x", "shipping", t["score_before"], t["score_after"], 1)
    assert p0[7] == 1 and p0[8] is True and p0[9] == t["usage"]["completion_tokens"]
    assert p0[10] == t["trajectory"] and p0[11] == t["x"]["text"]
    store.append(trace(3))  # new traces show up without re-creating the view
    assert con.execute("SELECT count(*) FROM reer_traces").fetchone() == (4,)
