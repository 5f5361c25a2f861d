"""Kill -9 the publishing process at 20 points, re-run it, and count from what the outbox
received: no duplicate and no lost approval.

The publisher is a real process running `publish_due` on the real review log, ledger and
outbox. Half the kills come at random moments while it publishes (a random delay after its k-th
new record reached the outbox); the other half at chosen
hooks: right after the ledger's intent (before the call) and right after the call returned
(before its result is recorded), the window exactly-once is about. Between runs, new approvals
arrive, as a person keeps approving on the desk.
"""

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reer_pipeline.platforms import Account
from reer_pipeline.publish.ledger import Ledger, ledger_path
from reer_pipeline.publish.outbox import Outbox, outbox_path, read
from reer_pipeline.serve.store import Decision, ReviewStore, log_path

ACCOUNT = Account("x", "crashtest")
ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
SEED = 23


class Hooked:
    """The outbox, killing this process at the `n`-th call: before it (`intent`: the ledger
    holds an intent, nothing was sent) or after it returned (`call`: sent, not recorded)."""

    def __init__(self, inner: Outbox, n: int, where: str):
        self.inner, self.n, self.where, self.calls = inner, n, where, 0

    def publish(self, post):
        self.calls += 1
        if self.calls == self.n and self.where == "intent":
            os.kill(os.getpid(), signal.SIGKILL)
        receipt = self.inner.publish(post)
        if self.calls == self.n and self.where == "call":
            os.kill(os.getpid(), signal.SIGKILL)
        return receipt

    def find(self, post):
        return self.inner.find(post)

    def outcomes(self, ids):
        return []


def child(root: str, hook: str) -> None:
    """The publishing process: `publish_due` for ACCOUNT, now."""
    from reer_pipeline.publish.run import publish_due

    root = Path(root)
    publisher = Outbox(ACCOUNT, None, path=outbox_path(root))
    if hook != "none":
        where, n = hook.split(":")
        publisher = Hooked(publisher, int(n), where)
    store, ledger = ReviewStore(log_path(root)), Ledger(ledger_path(root))
    print("ready", flush=True)
    report = publish_due(store, ledger, publisher, ACCOUNT, datetime.now(UTC))
    print(report.summary(), flush=True)


def approve(store: ReviewStore, i: int) -> str:
    did = f"draft{i:03d}"
    text = f"Approved post number {i}. " + "It says one more thing. " * (i % 15)
    store.record(
        Decision(
            draft_id=did,
            account=ACCOUNT,
            topic="crash",
            drafted_text=text,
            decision="approved",
            scores={},
            approved_text=text,
            slot=(datetime.now(UTC) - timedelta(minutes=i % 7)).isoformat(),
        )
    )
    return did


def start(root: Path, hook: str) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, __file__, str(root), hook],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


@pytest.mark.slow
def test_kill_9_at_20_points_loses_nothing_and_sends_nothing_twice(tmp_path):
    rng = random.Random(SEED)
    root = tmp_path / "data"
    store = ReviewStore(log_path(root))
    approved = [approve(store, i) for i in range(40)]
    hooks = [f"{w}:{rng.randint(1, 3)}" for w in ("intent", "call") for _ in range(KILLS // 4)]
    plan = ["delay"] * (KILLS - len(hooks)) + hooks
    rng.shuffle(plan)
    killed = {"delay": 0, "intent": 0, "call": 0}
    for how in plan:
        n = len(approved)
        approved += [approve(store, n + k) for k in range(4)]  # the desk goes on
        if how == "delay":
            before = len(list(read(outbox_path(root))))
            proc = start(root, "none")
            # kill at a random moment after the k-th new record landed
            k = rng.randint(1, 3)
            while len(list(read(outbox_path(root)))) < before + k and proc.poll() is None:
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.01))
            proc.send_signal(signal.SIGKILL)
        else:
            proc = start(root, how)
        proc.wait(timeout=600)
        out = proc.stdout.read()
        if proc.returncode == -signal.SIGKILL:
            killed[how.split(":")[0]] += 1
        else:  # it finished before the kill came: still a run that must not duplicate
            assert proc.returncode == 0, proc.stderr.read()
            assert "published" in out
    final = start(root, "none")
    assert final.wait(timeout=600) == 0, final.stderr.read()
    sent = [r["draft_id"] for r in read(outbox_path(root))]
    duplicates = len(sent) - len(set(sent))
    lost = sorted(set(approved) - set(sent))
    entries = Ledger(ledger_path(root)).entries(ACCOUNT)
    found = sum(e.found for e in entries.values())
    print(
        f"kills: {killed}; approvals {len(approved)}; sent {len(sent)}; duplicates {duplicates}; "
        f"lost {len(lost)}; recovered by find {found}"
    )
    assert duplicates == 0 and lost == []
    assert sorted(entries) == sorted(approved)
    assert {e.status for e in entries.values()} == {"published"}
    # the hooks really killed at their points, and find recovered the sent-but-unrecorded ones
    assert killed["intent"] > 0 and killed["call"] > 0 and found >= killed["call"]


if __name__ == "__main__":
    child(*sys.argv[1:3])
