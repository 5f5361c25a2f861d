"""When the models that learn from decisions changed, and the approval rate around each change.

Each retraining that can change what the person is shown (the preference model fitted, the
author adapter trained or stepped on decisions) appends one line to
`<data root>/retrainings.jsonl`: when, the account, what, and whether it is in use. The desk's
account page reads it with the review log: the approval rate of the decisions made between the
change before and this one, and between this one and the next. No dagster import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from reer_pipeline.files import append_jsonl, read_jsonl
from reer_pipeline.platforms import Account

FILE = "retrainings.jsonl"


def path_of(root: Path) -> Path:
    return Path(root) / FILE


def record(root: Path, account: Account, what: str, used: bool, note: str = "") -> dict:
    """Append one retraining of `account`'s `what`, on disk before this returns."""
    row = {"at": datetime.now(UTC).isoformat(), "account": account.key, "what": what}
    row |= {"used": bool(used), "note": note}
    append_jsonl(path_of(root), row)
    return row


def read(root: Path, account: Account) -> list[dict]:
    """The account's retrainings, oldest first (a torn line is skipped)."""
    rows = [r for r in read_jsonl(path_of(root)) if r.get("account") == account.key]
    return sorted(rows, key=lambda r: r["at"])


def _rate(decisions: Iterable[dict]) -> dict:
    counts = {"approved": 0, "rejected": 0}
    for d in decisions:
        counts[d["decision"]] = counts.get(d["decision"], 0) + 1
    decided = counts["approved"] + counts["rejected"]
    return {"approved": counts["approved"], "decided": decided} | {
        "rate": counts["approved"] / decided if decided else None
    }


def approval_rates(decisions: Sequence[dict], events: Sequence[dict]) -> list[dict]:
    """Per retraining: the approval rate of the decisions (`decided_at`) since the retraining
    before it, and of those after it until the next one."""
    times = [datetime.fromisoformat(e["at"]) for e in events]
    when = [(datetime.fromisoformat(d["decided_at"]), d) for d in decisions]
    rows = []
    for i, e in enumerate(events):
        start = times[i - 1] if i else None
        end = times[i + 1] if i + 1 < len(times) else None
        before = [d for t, d in when if (start is None or t > start) and t <= times[i]]
        after = [d for t, d in when if t > times[i] and (end is None or t <= end)]
        rows.append(e | {"before": _rate(before), "after": _rate(after)})
    return rows
