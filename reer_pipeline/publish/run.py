"""Publish what is due: the approvals in the review log whose slot has come, each exactly once
through the ledger, in slot order.

The review log is the source of truth for what a person approved (the newest decision per draft
counts, so an approval taken back is not published) and the ledger for what happened to it. A
run that dies anywhere loses nothing: the next run reads both again and finds the same
approvals still due. No dagster import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from reer_pipeline import platforms
from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Post, Publisher
from reer_pipeline.publish.ledger import Entry, Ledger, send
from reer_pipeline.serve.store import ReviewStore


def parts(account: Account, text: str) -> tuple[str, ...]:
    """The text as the platform's parts: a numbered thread where it threads, else one post."""
    platform = platforms.get(account.platform)
    if platform.threaded:
        return tuple(platforms.split_thread(text, platform.limit))
    return (text,)


def when(decision: dict) -> datetime:
    """An approval's slot; one approved without a slot is due from the moment it was approved."""
    t = datetime.fromisoformat(decision["slot"] or decision["decided_at"])
    return t if t.tzinfo else t.replace(tzinfo=UTC)  # a time without a zone is UTC, as on the desk


def approvals(store: ReviewStore, account: Account) -> list[dict]:
    """The account's drafts whose newest decision is an approval, in slot order."""
    found = [d for d in store.latest(account).values() if d["decision"] == "approved"]
    return sorted(found, key=lambda d: (when(d), d["seq"]))


def as_post(account: Account, decision: dict) -> Post:
    return Post(
        draft_id=decision["draft_id"],
        account=account,
        parts=parts(account, decision["approved_text"]),
        slot=when(decision).isoformat(),
    )


@dataclass
class Report:
    """What one run did, and what waits."""

    account: Account
    published: list[Entry] = field(default_factory=list)  # published by this run
    refused: list[Entry] = field(default_factory=list)  # refused for good in this run
    retrying: list[Entry] = field(default_factory=list)  # refused for now; retried later
    waiting: int = 0  # approved, not yet at their slot (or at their retry time)
    next_slot: str | None = None  # the earliest time something else becomes due

    def summary(self) -> str:
        return (
            f"{self.account}: published {len(self.published)}, refused {len(self.refused)}, "
            f"retrying {len(self.retrying)}, waiting {self.waiting}"
            + (f" (next at {self.next_slot})" if self.next_slot else "")
        )


def reopened(decision: dict, entry: Entry) -> bool:
    """A refused draft approved again after the refusal (its text fixed on the desk, say) is
    tried again."""
    approved_at = datetime.fromisoformat(decision["decided_at"])
    return entry.status == "refused" and approved_at > datetime.fromisoformat(entry.at)


def due(
    store: ReviewStore, ledger: Ledger, account: Account, now: datetime
) -> tuple[list[Post], list[datetime]]:
    """(the posts due at `now`, in slot order; the times the others become due)."""
    entries = ledger.entries(account)
    posts, later = [], []
    for d in approvals(store, account):
        entry = entries.get(d["draft_id"], Entry(d["draft_id"], "new"))
        if entry.status == "published" or (entry.status == "refused" and not reopened(d, entry)):
            continue
        at = max([when(d)] + ([datetime.fromisoformat(entry.retry_at)] if entry.retry_at else []))
        if at <= now:
            posts.append(as_post(account, d))
        else:
            later.append(at)
    return posts, later


def publish_due(
    store: ReviewStore,
    ledger: Ledger,
    publisher: Publisher,
    account: Account,
    now: datetime,
    name: str = "outbox",
) -> Report:
    """Publish `account`'s approvals that are due at `now` through `publisher` (called `name`
    in `PUBLISHERS`), exactly once each, and say what happened."""
    report = Report(account)
    with ledger.lock(account):
        posts, _ = due(store, ledger, account, now)
        for post in posts:
            entry = send(ledger, publisher, post, now, name, retry_refused=True)
            {
                "published": report.published,
                "refused": report.refused,
                "retrying": report.retrying,
            }.get(entry.status, report.retrying).append(entry)
        rest, later = due(store, ledger, account, now)
    report.waiting = len(rest) + len(later)
    report.next_slot = min(later).isoformat() if later else None
    return report
