"""The review log: every decision a person makes on the desk, append-only, in its own SQLite file.

Beside the DuckDB warehouse, not in it: DuckDB lets one process write, and a Dagster run holds
the warehouse for minutes, so the desk could not record a decision while a run writes. SQLite in
WAL mode lets one writer and many readers work at once across processes; `synchronous=FULL`
syncs the log on every commit, so a decision acknowledged after its commit survives a killed
server or a power cut. Rows are never updated or deleted (triggers refuse it): a new decision on
the same draft is a new row, and the newest one counts.

No dagster import and only the standard library, so the `reviews` asset, publishing and
learning read it without the web server's dependencies.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reer_pipeline.platforms import Account

FILE = "reviews.sqlite3"  # under the data root
BUSY_TIMEOUT_MS = 30_000  # a writer waits this long for another's commit
DECISIONS = ("approved", "rejected")
# Why a person rejects a draft: key -> the words the desk shows.
REASONS = {
    "not_my_voice": "not my voice",
    "off_topic": "off topic",
    "factually_wrong": "factually wrong",
    "invented": "invented quote or event",
    "bland": "bland",
    "other": "other",
}
DECISION_FIELDS = (
    "seq",
    "decision_id",
    "draft_id",
    "platform",
    "author",
    "topic",
    "drafted_text",
    "approved_text",
    "decision",
    "reason",
    "note",
    "slot",
    "scores",
    "decided_at",
)
DRAFT_FIELDS = ("seq", "draft_id", "platform", "author", "topic", "text", "draft", "created_at")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL UNIQUE,
    draft_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    author TEXT NOT NULL,
    topic TEXT NOT NULL,
    drafted_text TEXT NOT NULL,
    approved_text TEXT,
    decision TEXT NOT NULL CHECK (decision IN ({", ".join(f"'{d}'" for d in DECISIONS)})),
    reason TEXT CHECK (reason IS NULL OR reason IN ({", ".join(f"'{r}'" for r in REASONS)})),
    note TEXT NOT NULL DEFAULT '',
    slot TEXT,
    scores TEXT NOT NULL,
    decided_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_account ON decisions (platform, author, seq);
CREATE INDEX IF NOT EXISTS decisions_draft ON decisions (draft_id, seq);
CREATE TABLE IF NOT EXISTS drafts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    draft_id TEXT NOT NULL UNIQUE,
    platform TEXT NOT NULL,
    author TEXT NOT NULL,
    topic TEXT NOT NULL,
    text TEXT NOT NULL,
    draft TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS drafts_account ON drafts (platform, author, seq);
""" + "".join(
    f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
    BEGIN SELECT RAISE(ABORT, 'the review log is append-only'); END;
"""
    for table in ("decisions", "drafts")
    for op in ("UPDATE", "DELETE")
)


def draft_id(platform: str, author: str, topic: str, text: str) -> str:
    """A draft's id: the same draft (account, topic, text) has the same id in every run."""
    key = json.dumps([platform, author, topic, text], ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def log_path(root: Path) -> Path:
    """The review log of the data root `root`."""
    return Path(root) / FILE


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Decision:
    """What a person decided about one draft, and what the scorer said of it then."""

    draft_id: str
    account: Account
    topic: str
    drafted_text: str
    decision: str  # one of DECISIONS
    scores: dict  # the scorer's view of the text decided on (approved text, else the draft)
    approved_text: str | None = None  # the text as approved (edited or not)
    reason: str | None = None  # one of REASONS (rejections)
    note: str = ""  # the person's own words
    slot: str | None = None  # when to post it (ISO time), for approvals

    def __post_init__(self):
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
        if self.decision == "approved" and not (self.approved_text or "").strip():
            raise ValueError("an approval needs the text to post")
        if self.decision == "rejected" and self.reason not in REASONS:
            raise ValueError(f"a rejection needs a reason: one of {', '.join(REASONS)}")


class ReviewStore:
    """The review log at `path` (created on first use). Safe across threads and processes: each
    operation opens its own connection, and writers queue on SQLite's lock."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            con.execute("PRAGMA synchronous=FULL")
            con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            con.row_factory = sqlite3.Row
            yield con
        finally:
            con.close()

    def _append(self, table: str, row: dict) -> dict:
        """Insert `row` in one committed transaction; return it with its sequence number."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                cur = con.execute(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values())
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return {"seq": cur.lastrowid, **row}

    def record(self, d: Decision) -> dict:
        """Append a decision; it returns only once the decision is committed to disk."""
        row = {
            "decision_id": uuid.uuid4().hex,
            "draft_id": d.draft_id,
            "platform": d.account.platform,
            "author": d.account.author,
            "topic": d.topic,
            "drafted_text": d.drafted_text,
            "approved_text": d.approved_text if d.decision == "approved" else None,
            "decision": d.decision,
            "reason": d.reason if d.decision == "rejected" else None,
            "note": d.note or "",
            "slot": d.slot if d.decision == "approved" else None,
            "scores": dumps(d.scores),
            "decided_at": now(),
        }
        return self._as_decision(self._append("decisions", row))

    def add_draft(self, account: Account, topic: str, text: str, draft: dict) -> dict:
        """Keep a draft made on the desk (with its scores and provenance in `draft`); the same
        draft twice is kept once."""
        did = draft_id(account.platform, account.author, topic, text)
        row = {
            "draft_id": did,
            "platform": account.platform,
            "author": account.author,
            "topic": topic,
            "text": text,
            "draft": dumps(draft),
            "created_at": now(),
        }
        try:
            return self._append("drafts", row)
        except sqlite3.IntegrityError:
            return next(d for d in self.drafts(account) if d["draft_id"] == did)

    def decisions(self, account: Account | None = None, after: int = 0) -> list[dict]:
        """Decisions in the order they were made (of one account, after sequence `after`)."""
        sql, args = "SELECT * FROM decisions WHERE seq > ?", [after]
        if account is not None:
            sql += " AND platform = ? AND author = ?"
            args += [account.platform, account.author]
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY seq", args).fetchall()
        return [self._as_decision(dict(r)) for r in rows]

    def latest(self, account: Account) -> dict[str, dict]:
        """draft id -> its newest decision, for one account."""
        return {d["draft_id"]: d for d in self.decisions(account)}

    def drafts(self, account: Account) -> list[dict]:
        """Drafts made on the desk for `account`, oldest first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT * FROM drafts WHERE platform = ? AND author = ? ORDER BY seq",
                [account.platform, account.author],
            ).fetchall()
        return [dict(r) | {"draft": json.loads(r["draft"])} for r in rows]

    def newest(self) -> dict[str, int]:
        """Account key -> the sequence number of its newest decision."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT platform || ':' || author, max(seq) FROM decisions GROUP BY 1"
            ).fetchall()
        return dict(rows)

    def counts(self, account: Account) -> dict[str, int]:
        """How many drafts of `account` are approved and rejected now (newest decision each)."""
        found = {d: 0 for d in DECISIONS}
        for d in self.latest(account).values():
            found[d["decision"]] += 1
        return found

    @staticmethod
    def _as_decision(row: dict) -> dict:
        return row | {"scores": json.loads(row["scores"])}


def summary(counts: dict[str, int]) -> str:
    """ "approved n, rejected m"."""
    return ", ".join(f"{d} {counts.get(d, 0)}" for d in DECISIONS)


def jsonable(value):
    """`value` as plain JSON: numpy numbers as numbers, NaN (not measured) as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def dumps(value) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, allow_nan=False)
