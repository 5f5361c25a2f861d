"""The outbox: the default publisher. It sends nothing; it appends exactly what would be sent
(platform, account, draft, the parts as a reply chain, the slot, the time) to a JSON-lines file
under the data root, so the demo, CI and a new user run the whole loop offline and a person
sees what would happen before giving a key.

Each record is one line appended durably (`files.append_jsonl`: one `write` under an exclusive
file lock, then fsync), so a record `publish` returned is on disk. A line torn by a killed
process is skipped by readers and closed with a newline before the next record. The outbox
keeps every call it received, a repeated one included: like a platform, it is what the
exactly-once ledger is judged against.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from reer_pipeline.files import append_jsonl, read_jsonl
from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Outcome, Post, Receipt

FILE = "outbox.jsonl"  # under the data root


def outbox_path(root: Path) -> Path:
    """The outbox of the data root `root`."""
    return Path(root) / FILE


def part_id(draft_id: str, i: int) -> str:
    return f"outbox:{draft_id}:{i}"


def read(path: Path) -> Iterator[dict]:
    """Every complete record in the outbox at `path`, oldest first (a torn line is skipped)."""
    return read_jsonl(path)


class Outbox:
    """The publisher that records instead of sending (`PUBLISHERS["outbox"]`)."""

    def __init__(self, account: Account, credentials: Credentials | None = None, path=None):
        if path is None:
            raise ValueError("the outbox needs its file: path=<data root>/outbox.jsonl")
        self.account = account
        self.path = Path(path)

    def _receipt(self, record: dict) -> Receipt:
        return Receipt(tuple(p["id"] for p in record["parts"]), record["url"])

    def publish(self, post: Post) -> Receipt:
        ids = [part_id(post.draft_id, i) for i in range(len(post.parts))]
        record = {
            "platform": post.account.platform,
            "account": post.account.key,
            "draft_id": post.draft_id,
            "parts": [
                {
                    "id": ids[i],
                    "text": text,
                    "reply_to": ids[i - 1] if i else None,
                    "idempotency_key": post.key(i),
                }
                for i, text in enumerate(post.parts)
            ],
            "slot": post.slot,
            "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "url": f"{self.path.resolve().as_uri()}#{ids[0]}",
        }
        append_jsonl(self.path, record)
        return self._receipt(record)

    def find(self, post: Post) -> Receipt | None:
        found = None
        for record in read(self.path):
            if record["draft_id"] == post.draft_id and record["account"] == post.account.key:
                found = found or record  # the first one sent is the post
        return self._receipt(found) if found else None

    def outcomes(self, ids: Sequence[str]) -> list[Outcome]:
        """Nothing was published, so nothing has engagement."""
        return []
