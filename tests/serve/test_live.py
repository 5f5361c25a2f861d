"""The desk as a real server on 127.0.0.1 (uvicorn), with a real review log, a real warehouse and
the embedded model on tiny budgets: scoring, an edited approval scored again, drafting more, a
server killed mid-request, and decisions written while a Dagster run writes the warehouse."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from reer_pipeline.serve import app as serve_app
from reer_pipeline.serve.app import create_app
from reer_pipeline.serve.store import ReviewStore, log_path
from tests.conftest import ROOT, SAMPLE, copy_export
from tests.serve.conftest import ACCOUNT, Server, free_port
from tests.serve.http import call

KEY = ACCOUNT.key
pytestmark = pytest.mark.slow  # starts a server; most load the embedded model


def test_score_edit_then_approve_and_draft_more(layout, model_env, monkeypatch):
    monkeypatch.setattr(serve_app, "PROGRESS_S", 0.5)  # a progress line every half second
    app = create_app(layout)
    app.state.desk.max_tokens = 48  # tiny drafts: this is about the wiring, not their quality
    with Server(app) as server:
        text = "Working families deserve health care they can afford. Let's get it done."
        status, scored = call(
            f"{server.url}/api/score", {"text": text, "platform": "x", "topic": "health care"}
        )
        assert status == 200, scored
        assert scored["account"] == KEY and scored["chars"] == len(text)
        assert set(scored["components"]) >= {"fluency", "style_fit", "topic", "engagement"}
        assert 0 <= scored["total"] <= 1 and isinstance(scored["usable"], bool)
        assert scored["components"]["fluency"] is not None  # the scorer model ran

        draft = call(f"{server.url}/api/accounts/{KEY}/queue")[1]["drafts"][0]
        status, row = call(
            f"{server.url}/api/drafts/{draft['draft_id']}/decision",
            {"account": KEY, "decision": "approved", "text": text},
        )
        assert status == 200, row
        assert (row["drafted_text"], row["approved_text"]) == (draft["text"], text)
        # the log keeps the edited text's score (scored again; the first call also calibrated
        # the scorer in the same batch, which moves a padded batch's numbers a little)
        again = call(
            f"{server.url}/api/score", {"text": text, "platform": "x", "topic": "health care"}
        )
        assert row["scores"]["total"] == pytest.approx(again[1]["total"])
        assert row["scores"]["usable"] == again[1]["usable"]

        # streamed: progress lines while the model drafts, then the drafts
        body = {"topic": "health care for working families", "platform": "x", "n": 2}
        request = urllib.request.Request(
            f"{server.url}/api/draft?stream=true",
            json.dumps(body).encode(),
            {"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=900) as r:
            lines = [json.loads(line) for line in r]
        *beats, drafted = lines
        assert beats and {b["status"] for b in beats} == {"drafting"}
        assert [b["elapsed_s"] for b in beats] == sorted(b["elapsed_s"] for b in beats)
        assert drafted["status"] == "done", drafted
        assert drafted["drafts"] and all(d["source"] == "desk" for d in drafted["drafts"])
        queue = call(f"{server.url}/api/accounts/{KEY}/queue?limit=100")[1]
        ids = {d["draft_id"] for d in queue["drafts"]}
        assert {d["draft_id"] for d in drafted["drafts"]} <= ids  # new drafts join the queue
        assert queue["approved"] == 1


def serve(data_root, port: int, *extra, env=None) -> subprocess.Popen:
    """`reer serve` in its own process, waited for until it answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reer_pipeline.cli", "serve", "--port", str(port), *extra],
        cwd=ROOT,
        env=os.environ | {"REER_DATA_DIR": str(data_root), "PYTHONPATH": str(ROOT)} | (env or {}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            call(f"http://127.0.0.1:{port}/api/accounts", timeout=5)
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("reer serve did not come up") from None
            time.sleep(0.5)


def decide_forever(url: str, ids: list[str], acked: list, stop: threading.Event, errors: list):
    """Reject drafts in turn until `stop`; keep the id of every acknowledged decision."""
    i = 0
    while not stop.is_set():
        body = {"account": KEY, "decision": "rejected", "reason": "bland", "note": f"round {i}"}
        try:
            status, row = call(f"{url}/api/drafts/{ids[i % len(ids)]}/decision", body, timeout=60)
        except OSError:
            return  # the server is gone
        if status == 200:
            acked.append(row["decision_id"])
        else:
            errors.append((status, row))
        i += 1


def test_a_killed_server_loses_no_acknowledged_decision(desk_root):
    port = free_port()
    proc = serve(desk_root, port)
    url = f"http://127.0.0.1:{port}"
    ids = [d["draft_id"] for d in call(f"{url}/api/accounts/{KEY}/queue")[1]["drafts"]]
    acked, errors, stop = [], [], threading.Event()
    threads = [
        threading.Thread(target=decide_forever, args=(url, ids, acked, stop, errors))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 300
    while len(acked) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # requests are in flight
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert not errors and len(acked) >= 60
    stored = {d["decision_id"] for d in ReviewStore(log_path(desk_root)).decisions(ACCOUNT)}
    assert set(acked) <= stored


def run_window(home) -> tuple[float, float]:
    """(start, end) Unix times of the steps of the one run of the Dagster instance at `home`:
    from the first step's start to the last step's success (`posts` rebuilds its table in
    there; alone it can take 0.3 s, shorter than one decision on a busy machine)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        events = [e for e in instance.all_logs(run.run_id) if e.dagster_event is not None]
    starts = [e.timestamp for e in events if e.dagster_event.event_type_value == "STEP_START"]
    ends = [e.timestamp for e in events if e.dagster_event.event_type_value == "STEP_SUCCESS"]
    return min(starts), max(ends)


def test_decisions_while_a_dagster_run_writes_the_warehouse(desk_root, tmp_path):
    """`reer ingest` runs the ingest job in another process; its `posts` step rebuilds the
    table in the warehouse. Meanwhile the server records decisions and serves the queue: no
    error, nothing lost, and decisions were committed while the run's steps wrote."""
    from datetime import datetime

    from reer_pipeline.layout import DataLayout

    app = create_app(DataLayout.from_env())
    export = copy_export(SAMPLE, desk_root, "sample_again.csv")
    home = tmp_path / "home"
    with Server(app) as server:
        ids = [d["draft_id"] for d in call(f"{server.url}/api/accounts/{KEY}/queue")[1]["drafts"]]
        run = subprocess.Popen(
            [sys.executable, "-m", "reer_pipeline.cli", "ingest", str(export)],
            cwd=ROOT,
            env=os.environ | {"REER_DATA_DIR": str(desk_root), "DAGSTER_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        acked, errors, stop = [], [], threading.Event()
        writer = threading.Thread(
            target=decide_forever, args=(server.url, ids, acked, stop, errors)
        )
        writer.start()
        reads = []
        while run.poll() is None:
            reads.append(call(f"{server.url}/api/accounts/{KEY}/queue?limit=1")[0])
            time.sleep(0.1)
        stop.set()
        writer.join()
        output = run.stdout.read()
    assert run.returncode == 0, output[-2000:]
    assert acked and not errors
    assert set(reads) == {200}
    log = ReviewStore(log_path(desk_root)).decisions(ACCOUNT)
    assert set(acked) <= {d["decision_id"] for d in log} and len(log) == len(acked)
    start, end = run_window(home)
    during = [d for d in log if start <= datetime.fromisoformat(d["decided_at"]).timestamp() <= end]
    assert during, f"no decision while the run's steps ran ({end - start:.1f} s)"
