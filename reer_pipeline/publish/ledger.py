"""The publishing ledger: exactly once, per approved draft, in its own SQLite file.

Every attempt is an *intent*, committed to disk before the publisher is called, then a *result*:
the receipt (the platform's ids and URL) or the refusal (its reason and status, final or to be
retried at a time). The rules, in `send`:
- a draft with a recorded success is never sent again;
- before any attempt after the first (a crash left an intent without a result, or a retryable
  refusal may have been a post that went out, as a 500 or a dropped connection can be), the
  publisher's `find` reads the account's recent posts, and a post found there is recorded as
  published instead of being sent again; the client also sends the platform's idempotency key
  (`Post.key`) where it has one;
- a 429's `retry_after` is honoured (the next attempt is not before it); a final refusal (bad
  auth, too long, duplicate) is never retried; a retryable one is retried with backoff up to
  `MAX_ATTEMPTS`.
One process publishes an account at a time (`Ledger.lock`, a file lock the kernel releases when
the process dies), so an intent without a result is always a crashed attempt, never one in
flight.

The same file keeps the `outcomes` table: what each published post did when it was read at
about 1 h, 24 h and 7 days (`publish/outcomes.py`), one reading per post and horizon.

SQLite in WAL mode with `synchronous=FULL`, like the review log (`serve/store.py`): rows are
never updated or deleted. No dagster import.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Post, Publisher, PublishError, Receipt
from reer_pipeline.serve.store import BUSY_TIMEOUT_MS

FILE = "publishing.sqlite3"  # under the data root
MAX_ATTEMPTS = 5
BACKOFF_S = 60.0  # the wait after the first retryable refusal; it doubles, up to BACKOFF_MAX_S
BACKOFF_MAX_S = 3600.0
LOCK_WAIT_S = 120.0
EVENTS = ("intent", "published", "refused")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    draft_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    author TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    event TEXT NOT NULL CHECK (event IN ({", ".join(f"'{e}'" for e in EVENTS)})),
    publisher TEXT,
    parts TEXT,
    slot TEXT,
    ids TEXT,
    url TEXT,
    found INTEGER,
    reason TEXT,
    status INTEGER,
    final INTEGER,
    retry_at TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_account ON events (platform, author, seq);
CREATE INDEX IF NOT EXISTS events_draft ON events (draft_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS one_intent_per_attempt ON events (draft_id, attempt)
    WHERE event = 'intent';
-- What a published post did when it was read (`publish/outcomes.py`): one reading per horizon.
CREATE TABLE IF NOT EXISTS outcomes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    draft_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    author TEXT NOT NULL,
    post_id TEXT NOT NULL,
    horizon TEXT NOT NULL,
    likes INTEGER,
    reposts INTEGER,
    replies INTEGER,
    impressions INTEGER,
    found INTEGER NOT NULL,
    read_at TEXT NOT NULL,
    UNIQUE (draft_id, horizon)
);
""" + "".join(
    f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
    BEGIN SELECT RAISE(ABORT, 'the publishing ledger is append-only'); END;
"""
    for table in ("events", "outcomes")
    for op in ("UPDATE", "DELETE")
)


def ledger_path(root: Path) -> Path:
    """The publishing ledger of the data root `root`."""
    return Path(root) / FILE


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


def backoff(attempt: int) -> float:
    """Seconds to wait after the `attempt`-th retryable refusal."""
    return min(BACKOFF_S * 2 ** (attempt - 1), BACKOFF_MAX_S)


@dataclass(frozen=True)
class Entry:
    """Where one draft stands: `new` (never tried), `published`, `refused` (final), `retrying`
    (at `retry_at`) or `unresolved` (an intent without a result: the process died)."""

    draft_id: str
    status: str
    attempts: int = 0
    ids: tuple[str, ...] = ()
    url: str | None = None
    found: bool = False  # published: recorded from `find`, not from the call's answer
    reason: str | None = None
    http_status: int | None = None
    retry_at: str | None = None
    at: str | None = None  # when the newest event was recorded
    publisher: str | None = None
    parts: tuple[str, ...] = ()
    slot: str | None = None

    def due(self, now: datetime) -> bool:
        """Whether `send` would act on it now."""
        if self.status in ("published", "refused"):
            return False
        return self.retry_at is None or datetime.fromisoformat(self.retry_at) <= now


def fold(events: list[dict]) -> Entry:
    """One draft's events (oldest first) as where it stands."""
    intents = [e for e in events if e["event"] == "intent"]
    last_intent = intents[-1] if intents else {}  # what was sent last (a re-approval may change it)
    common = {
        "draft_id": events[0]["draft_id"],
        "attempts": max((e["attempt"] for e in intents), default=0),
        "publisher": last_intent.get("publisher"),
        "parts": tuple(json.loads(last_intent["parts"])) if last_intent else (),
        "slot": last_intent.get("slot"),
    }
    done = [e for e in events if e["event"] == "published"]
    if done:
        e = done[0]
        return Entry(
            status="published",
            ids=tuple(json.loads(e["ids"])),
            url=e["url"],
            found=bool(e["found"]),
            at=e["at"],
            **common,
        )
    last = events[-1]
    if last["event"] == "intent":
        return Entry(status="unresolved", at=last["at"], **common)
    return Entry(
        status="refused" if last["final"] else "retrying",
        reason=last["reason"],
        http_status=last["status"],
        retry_at=None if last["final"] else last["retry_at"],
        at=last["at"],
        **common,
    )


class Ledger:
    """The ledger at `path` (created on first use); safe across threads and processes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The ledger's one connection in this process, one user at a time. It stays open:
        closing the last connection to a WAL database checkpoints it, which cost 7 ms per
        operation here when each operation opened its own."""
        with self._lock:
            if self._con is None or self._pid != os.getpid():  # a forked child opens its own
                self._con = sqlite3.connect(
                    self.path,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                )
                self._con.execute("PRAGMA synchronous=FULL")
                self._con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                self._con.row_factory = sqlite3.Row
                self._pid = os.getpid()
            yield self._con

    def close(self) -> None:
        with self._lock:
            if self._con is not None and self._pid == os.getpid():
                self._con.close()
            self._con = None

    def _append(self, post: Post, attempt: int, event: str, **fields) -> None:
        """One event, committed (and synced) before this returns."""
        row = {
            "draft_id": post.draft_id,
            "platform": post.account.platform,
            "author": post.account.author,
            "attempt": attempt,
            "event": event,
            **fields,
            "at": iso(datetime.now(UTC)),
        }
        sql = f"INSERT INTO events ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})"
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute(sql, list(row.values()))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def intent(self, post: Post, attempt: int, publisher: str) -> None:
        """Attempt `attempt` of `post` is about to be sent (an attempt is claimed once)."""
        self._append(
            post,
            attempt,
            "intent",
            publisher=publisher,
            parts=json.dumps(list(post.parts), ensure_ascii=False),
            slot=post.slot,
        )

    def published(self, post: Post, attempt: int, receipt: Receipt, found: bool = False) -> None:
        self._append(
            post,
            attempt,
            "published",
            ids=json.dumps(list(receipt.ids)),
            url=receipt.url,
            found=int(found),
        )

    def refused(
        self, post: Post, attempt: int, error: PublishError, retry_at: datetime | None
    ) -> None:
        """A refusal: final when `retry_at` is None."""
        self._append(
            post,
            attempt,
            "refused",
            reason=error.reason,
            status=error.status,
            final=int(retry_at is None),
            retry_at=iso(retry_at) if retry_at else None,
        )

    def events(self, account: Account | None = None, after: int = 0) -> list[dict]:
        sql, args = "SELECT * FROM events WHERE seq > ?", [after]
        if account is not None:
            sql += " AND platform = ? AND author = ?"
            args += [account.platform, account.author]
        with self._connect() as con:
            return [dict(r) for r in con.execute(sql + " ORDER BY seq", args).fetchall()]

    def entries(self, account: Account) -> dict[str, Entry]:
        """Draft id -> where it stands, for every draft of `account` the ledger has seen."""
        by_draft: dict[str, list[dict]] = {}
        for e in self.events(account):
            by_draft.setdefault(e["draft_id"], []).append(e)
        return {d: fold(events) for d, events in by_draft.items()}

    def entry(self, post: Post) -> Entry:
        """Where `post`'s draft stands (`new` if the ledger never saw it)."""
        with self._connect() as con:
            rows = con.execute(
                """SELECT * FROM events WHERE draft_id = ? AND platform = ? AND author = ?
                ORDER BY seq""",
                [post.draft_id, post.account.platform, post.account.author],
            ).fetchall()
        return fold([dict(r) for r in rows]) if rows else Entry(post.draft_id, "new")

    def record_outcomes(self, account: Account, readings: list[dict]) -> int:
        """Append outcome readings (the `outcomes` columns but seq); a draft's horizon that was
        read already keeps its first reading. Returns how many were new."""
        if not readings:
            return 0
        names = list(readings[0])
        sql = (
            f"INSERT OR IGNORE INTO outcomes (platform, author, {', '.join(names)}) "
            f"VALUES (?, ?, {', '.join('?' for _ in names)})"
        )
        rows = [[account.platform, account.author, *(r[n] for n in names)] for r in readings]
        with self._connect() as con:
            before = con.total_changes
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(sql, rows)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return con.total_changes - before

    def outcomes(self, account: Account) -> list[dict]:
        """The account's outcome readings, oldest first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT * FROM outcomes WHERE platform = ? AND author = ? ORDER BY seq",
                [account.platform, account.author],
            ).fetchall()
        return [dict(r) for r in rows]

    def newest(self) -> dict[str, int]:
        """Account key -> the sequence number of its newest event."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT platform || ':' || author, max(seq) FROM events GROUP BY 1"
            ).fetchall()
        return dict(rows)

    @contextmanager
    def lock(self, account: Account, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
        """Hold the account's publishing lock (one publisher per account at a time)."""
        path = self.path.with_name(f"{self.path.stem}.locks") / f"{account.slug}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_s
        with path.open("a") as f:
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"another process is publishing {account}") from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _unexpected(exc: Exception) -> PublishError:
    """An exception a client did not turn into a PublishError: retryable, and named by its type
    only (its message may hold a URL with a token)."""
    return PublishError(f"unexpected {type(exc).__name__} from the client", retryable=True)


def send(
    ledger: Ledger,
    publisher: Publisher,
    post: Post,
    now: datetime,
    name: str = "outbox",
    retry_refused: bool = False,
) -> Entry:
    """Publish `post` at most once (hold `ledger.lock(post.account)` around calls to this), and
    return where it stands afterwards. `name` is the publisher's name in `PUBLISHERS`; a final
    refusal is tried again only with `retry_refused` (a person approved the draft again)."""
    entry = ledger.entry(post)
    if not (entry.due(now) or (retry_refused and entry.status == "refused")):
        return entry
    last = entry.attempts
    if last:  # it may have gone out: look before sending again
        try:
            receipt = publisher.find(post)
        except Exception as exc:
            error = exc if isinstance(exc, PublishError) else _unexpected(exc)
            error = PublishError(
                f"could not check whether attempt {last} went out: {error.reason}",
                status=error.status,
                retryable=error.retryable,
                retry_after=error.retry_after,
            )
            return _refused(ledger, post, last, error, now)
        if receipt is not None and len(receipt.ids) >= len(post.parts):
            ledger.published(post, last, receipt, found=True)
            return ledger.entry(post)
        # A thread that broke off after some parts is finished, never sent again from part 1.
        sent = receipt.ids if receipt is not None else ()
    else:
        sent = ()
    attempt = last + 1
    ledger.intent(post, attempt, name)
    try:
        receipt = publisher.publish(post, sent=sent) if sent else publisher.publish(post)
    except Exception as exc:
        return _refused(ledger, post, attempt, exc, now)
    ledger.published(post, attempt, receipt)
    return ledger.entry(post)


def _refused(ledger: Ledger, post: Post, attempt: int, exc: Exception, now: datetime) -> Entry:
    """Record a refusal: retried with backoff (not before a 429's retry_after) while it is
    retryable and attempts remain, else final."""
    error = exc if isinstance(exc, PublishError) else _unexpected(exc)
    retry_at = None
    if error.retryable and attempt < MAX_ATTEMPTS:
        retry_at = now + timedelta(seconds=max(error.retry_after or 0.0, backoff(attempt)))
    elif error.retryable:
        reason = f"gave up after {attempt} attempts: {error.reason}"
        error = PublishError(reason, status=error.status)
    ledger.refused(post, attempt, error, retry_at)
    return ledger.entry(post)
