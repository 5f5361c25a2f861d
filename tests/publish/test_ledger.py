"""The exactly-once ledger and `publish_due`, on the real outbox and review log, and on a
stand-in platform that refuses as a real one does (it keeps what it received, so the tests
count duplicates from the platform's side)."""

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from reer_pipeline import platforms
from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Post, PublishError, Receipt
from reer_pipeline.publish.ledger import MAX_ATTEMPTS, Ledger, backoff, ledger_path, send
from reer_pipeline.publish.outbox import Outbox, read
from reer_pipeline.publish.run import publish_due
from reer_pipeline.serve.store import Decision, ReviewStore, log_path

ACCOUNT = Account("x", "someone")
NOW = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)


class Platform:
    """A remote platform: it stores every post it accepts, answers `find` from them, and
    refuses the next calls with the errors queued in `refusals` (after storing the post when
    `store_then_fail`, as a 500 after the write does)."""

    def __init__(self, refusals=(), store_then_fail=False):
        self.received: list[Post] = []
        self.refusals = list(refusals)
        self.store_then_fail = store_then_fail
        self.calls = 0
        self.finds = 0

    def publish(self, post: Post) -> Receipt:
        self.calls += 1
        if self.refusals:
            if self.store_then_fail:
                self.received.append(post)
            raise self.refusals.pop(0)
        self.received.append(post)
        return self._receipt(post)

    def _receipt(self, post: Post) -> Receipt:
        return Receipt(tuple(f"{post.draft_id}-{i}" for i in range(len(post.parts))), "u")

    def find(self, post: Post) -> Receipt | None:
        self.finds += 1
        sent = [p for p in self.received if p.draft_id == post.draft_id]
        return self._receipt(sent[0]) if sent else None

    def outcomes(self, ids):
        return []


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(ledger_path(tmp_path))


def post(draft_id: str = "d1") -> Post:
    return Post(draft_id, ACCOUNT, ("hello",), NOW.isoformat())


def test_a_published_draft_is_never_sent_again(ledger):
    platform = Platform()
    entry = send(ledger, platform, post(), NOW)
    assert (entry.status, entry.ids, entry.attempts, entry.found) == (
        "published",
        ("d1-0",),
        1,
        False,
    )
    for later in (NOW, NOW + timedelta(days=30)):
        assert send(ledger, platform, post(), later).status == "published"
    assert platform.calls == 1 and platform.finds == 0
    assert [e["event"] for e in ledger.events()] == ["intent", "published"]


def test_a_crash_between_the_call_and_the_record_is_resolved_by_find(ledger, tmp_path):
    box = Outbox(ACCOUNT, None, path=tmp_path / "outbox.jsonl")
    ledger.intent(post(), 1, "outbox")
    box.publish(post())  # the call went out; the process died before recording it
    entry = send(ledger, box, post(), NOW)
    assert (entry.status, entry.found, entry.attempts) == ("published", True, 1)
    assert [r["draft_id"] for r in read(box.path)] == ["d1"]


def test_a_crash_before_the_call_sends_it_once(ledger, tmp_path):
    box = Outbox(ACCOUNT, None, path=tmp_path / "outbox.jsonl")
    ledger.intent(post(), 1, "outbox")  # died before calling
    assert ledger.entry(post()).status == "unresolved"
    entry = send(ledger, box, post(), NOW)
    assert (entry.status, entry.found, entry.attempts) == ("published", False, 2)
    assert [r["draft_id"] for r in read(box.path)] == ["d1"]


def test_a_429_is_retried_not_before_its_retry_after(ledger):
    platform = Platform([PublishError("rate limited", status=429, retry_after=900)])
    entry = send(ledger, platform, post(), NOW)
    assert entry.status == "retrying" and entry.http_status == 429
    assert datetime.fromisoformat(entry.retry_at) == NOW + timedelta(seconds=900)
    assert send(ledger, platform, post(), NOW + timedelta(seconds=899)).status == "retrying"
    assert platform.calls == 1
    entry = send(ledger, platform, post(), NOW + timedelta(seconds=900))
    assert (entry.status, entry.attempts) == ("published", 2)
    assert (platform.calls, platform.finds, len(platform.received)) == (2, 1, 1)


@pytest.mark.parametrize(
    "error",
    [
        PublishError("Unauthorized", status=401),
        PublishError("Text is too long", status=400),
        PublishError("Status is a duplicate", status=403),
    ],
)
def test_a_final_refusal_is_kept_with_its_reason_and_never_retried(ledger, error):
    platform = Platform([error])
    entry = send(ledger, platform, post(), NOW)
    assert (entry.status, entry.reason, entry.http_status) == (
        "refused",
        error.reason,
        error.status,
    )
    assert entry.retry_at is None and not entry.due(NOW + timedelta(days=365))
    assert send(ledger, platform, post(), NOW + timedelta(days=365)).status == "refused"
    assert platform.calls == 1


def test_retryable_refusals_back_off_and_give_up_after_max_attempts(ledger):
    platform = Platform([PublishError("Service Unavailable", status=503, retryable=True)] * 9)
    t, waits = NOW, []
    for _ in range(MAX_ATTEMPTS):
        entry = send(ledger, platform, post(), t)
        if entry.status == "retrying":
            retry = datetime.fromisoformat(entry.retry_at)
            waits.append((retry - t).total_seconds())
            t = retry
    assert waits == [backoff(n) for n in range(1, MAX_ATTEMPTS)]
    assert waits == sorted(waits) and waits[0] < waits[-1]
    assert entry.status == "refused" and entry.reason.startswith(f"gave up after {MAX_ATTEMPTS}")
    assert platform.calls == MAX_ATTEMPTS and platform.received == []


def test_a_500_after_the_platform_stored_the_post_is_not_sent_twice(ledger):
    platform = Platform([PublishError("Internal Server Error", status=500, retryable=True)], True)
    assert send(ledger, platform, post(), NOW).status == "retrying"
    entry = send(ledger, platform, post(), NOW + timedelta(hours=1))
    assert (entry.status, entry.found) == ("published", True)
    assert len(platform.received) == 1 and platform.calls == 1


def test_an_unexpected_client_error_is_retryable_and_its_message_is_not_kept(ledger):
    class Leaky(Platform):
        def publish(self, post):
            raise ConnectionError("https://discord.com/api/webhooks/1/SECRET-TOKEN refused")

    entry = send(ledger, Leaky(), post(), NOW)
    assert entry.status == "retrying" and "ConnectionError" in entry.reason
    assert "SECRET" not in str(ledger.events())


def test_the_ledger_is_append_only(ledger):
    send(ledger, Platform(), post(), NOW)
    with sqlite3.connect(ledger.path) as con:
        for sql in ("UPDATE events SET url = 'x'", "DELETE FROM events"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)


def test_one_publisher_per_account_at_a_time(ledger):
    with ledger.lock(ACCOUNT):
        with pytest.raises(TimeoutError, match="another process"):
            with ledger.lock(ACCOUNT, wait_s=0.3):
                pass
        with ledger.lock(Account("x", "another")):  # other accounts are not held up
            pass
    with ledger.lock(ACCOUNT, wait_s=0.3):
        pass


# ---- publish_due --------------------------------------------------------------------------
def decide(store, did, text, decision="approved", slot=None, account=ACCOUNT):
    store.record(
        Decision(
            draft_id=did,
            account=account,
            topic="t",
            drafted_text=text,
            decision=decision,
            scores={},
            approved_text=text if decision == "approved" else None,
            reason="bland" if decision == "rejected" else None,
            slot=slot.isoformat() if slot else None,
        )
    )


def test_publish_due_sends_due_approvals_in_slot_order_as_threads(tmp_path, ledger):
    store = ReviewStore(log_path(tmp_path))
    long_text = " ".join(f"Sentence number {i} says a little more." for i in range(20))
    decide(store, "late", "Later one.", slot=NOW - timedelta(minutes=1))
    decide(store, "early", long_text, slot=NOW - timedelta(hours=2))
    decide(store, "future", "Not yet.", slot=NOW + timedelta(hours=3))
    decide(store, "nope", "Rejected.", "rejected")
    decide(store, "undone", "Approved, then taken back.", slot=NOW - timedelta(hours=1))
    decide(store, "undone", "Approved, then taken back.", "rejected")
    decide(store, "other", "Another account's.", slot=NOW, account=Account("x", "else"))
    box = Outbox(ACCOUNT, None, path=tmp_path / "outbox.jsonl")
    report = publish_due(store, ledger, box, ACCOUNT, NOW)
    sent = list(read(box.path))
    assert [r["draft_id"] for r in sent] == ["early", "late"]
    assert [p["text"] for p in sent[0]["parts"]] == platforms.split_thread(long_text, 280)
    assert len(sent[0]["parts"]) > 1
    assert (len(report.published), report.waiting) == (2, 1)
    assert report.next_slot == (NOW + timedelta(hours=3)).isoformat()
    again = publish_due(store, ledger, box, ACCOUNT, NOW + timedelta(hours=4))
    assert [e.draft_id for e in again.published] == ["future"]
    assert [r["draft_id"] for r in read(box.path)] == ["early", "late", "future"]


def test_a_platform_that_does_not_thread_gets_one_part(tmp_path, ledger):
    account = Account("linkedin", "someone")
    store = ReviewStore(log_path(tmp_path))
    text = "A paragraph. " * 40
    decide(store, "d", text, slot=NOW, account=account)
    box = Outbox(account, None, path=tmp_path / "outbox.jsonl")
    publish_due(store, ledger, box, account, NOW)
    [record] = read(box.path)
    assert [p["text"] for p in record["parts"]] == [text]


def test_publish_due_reports_refusals_and_retries(tmp_path, ledger):
    store = ReviewStore(log_path(tmp_path))
    decide(store, "a", "One.", slot=NOW - timedelta(hours=1))
    decide(store, "b", "Two.", slot=NOW)
    platform = Platform(
        [
            PublishError("Unauthorized", status=401),
            PublishError("slow down", status=429, retry_after=60),
        ]
    )
    report = publish_due(store, ledger, platform, ACCOUNT, NOW)
    assert [(e.draft_id, e.reason) for e in report.refused] == [("a", "Unauthorized")]
    assert [e.draft_id for e in report.retrying] == ["b"] and report.waiting == 1
    assert "refused 1, retrying 1, waiting 1" in report.summary()


def test_a_refused_draft_approved_again_after_the_refusal_is_tried_again(tmp_path, ledger):
    store = ReviewStore(log_path(tmp_path))
    decide(store, "d", "Too long, says the platform.", slot=NOW)
    platform = Platform([PublishError("Text is too long", status=422)])
    assert [e.reason for e in publish_due(store, ledger, platform, ACCOUNT, NOW).refused] == [
        "Text is too long"
    ]
    assert publish_due(store, ledger, platform, ACCOUNT, NOW).published == []  # not by itself
    decide(store, "d", "Shorter.", slot=NOW)  # the person fixed it and approved it again
    [entry] = publish_due(store, ledger, platform, ACCOUNT, NOW).published
    assert entry.attempts == 2 and [p.parts for p in platform.received] == [("Shorter.",)]
    assert entry.parts == ("Shorter.",)
    assert publish_due(store, ledger, platform, ACCOUNT, NOW).published == []


class ThreadPlatform(Platform):
    """A platform that stores each part of a thread as its own post, refuses the part after
    `fail_after` parts once (a 500 mid-thread), and finds the leading parts it holds."""

    def __init__(self, fail_after: int):
        super().__init__()
        self.parts: list[tuple[str, str, str | None]] = []  # (id, text, reply_to)
        self.fail_after = fail_after

    def publish(self, post: Post, sent=()) -> Receipt:
        self.calls += 1
        ids = list(sent)
        for text in post.parts[len(ids) :]:
            if len(self.parts) == self.fail_after:
                self.fail_after = -1
                raise PublishError("over capacity", status=500, retryable=True)
            self.parts.append((f"p{len(self.parts)}", text, ids[-1] if ids else None))
            ids.append(self.parts[-1][0])
        return Receipt(tuple(ids), "u")

    def find(self, post: Post) -> Receipt | None:
        self.finds += 1
        ids = [i for i, text, _ in self.parts if text in post.parts]
        return Receipt(tuple(ids), "u") if ids else None


def test_a_thread_that_broke_off_is_finished_not_sent_again(ledger):
    thread = Post("t1", ACCOUNT, ("one 1/3", "two 2/3", "three 3/3"), NOW.isoformat())
    platform = ThreadPlatform(fail_after=1)
    assert send(ledger, platform, thread, NOW).status == "retrying"
    entry = send(ledger, platform, thread, NOW + timedelta(hours=1))
    assert entry.status == "published" and entry.ids == ("p0", "p1", "p2")
    assert platform.parts == [
        ("p0", "one 1/3", None),
        ("p1", "two 2/3", "p0"),
        ("p2", "three 3/3", "p1"),
    ]
