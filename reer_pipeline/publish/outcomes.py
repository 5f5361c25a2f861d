"""What published posts did: their engagement read at about 1 h, 24 h and 7 days, compared with
what the engagement model predicted when the person approved them, and the posts written back
to the exports folder so the next training sees them as the account's own.

- A horizon is read once its time has come; one read answers the newest horizon that is due, so
  a post first read 30 h after it went out has a 24 h reading and no 1 h one (never a later
  number filed under an earlier horizon). Readings are kept in the publishing ledger's file,
  append-only, one per post and horizon, so a run that dies re-reads nothing it recorded.
- The prediction is the `engagement` score the review log holds for the approval: what the
  model said before the post went out, not a model since retrained on it.
- Published posts re-enter `posts` as a source, like an export: a plain CSV with a column
  mapping beside it, in the exports folder, whose ids are the platform's own, so a later export
  holding the same post replaces its row instead of adding one (`ingest.warehouse.build_posts`).
  Only posts a platform really published go there, never the outbox's.
No dagster import.
"""

from __future__ import annotations

import base64
import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import yaml

from reer_pipeline.files import write_atomic
from reer_pipeline.ingest.formats.base import STATUS_URL
from reer_pipeline.ingest.warehouse import EngagementConfig
from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Publisher
from reer_pipeline.publish.ledger import Ledger, iso
from reer_pipeline.scoring.engagement import spearman
from reer_pipeline.stats import bootstrap_interval

HORIZONS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
MIN_POSTS = 10  # the rank correlation is reported from this many posts with a prediction
EXPORT_PREFIX = "published-"  # the flow-back file: exports/published-<account slug>.csv
EXPORT_COLUMNS = {  # the flow-back CSV's columns: posts field -> column
    "post_id": "id",
    **{f: f for f in ("author", "text", "created_at", "url", "likes", "reposts", "replies")},
}
COUNTS = ("likes", "reposts", "replies", "impressions")


@dataclass(frozen=True)
class Published:
    """One draft a platform published: its first part's id and when it went out."""

    draft_id: str
    post_id: str
    url: str | None
    text: str
    published_at: datetime
    publisher: str


def published(ledger: Ledger, account: Account, publisher: str) -> list[Published]:
    """The account's drafts `publisher` published (none for the outbox), oldest first."""
    if publisher == "outbox":
        return []
    posts = [
        Published(
            e.draft_id,
            e.ids[0],
            e.url,
            "\n\n".join(e.parts[:1]),
            datetime.fromisoformat(e.at),
            e.publisher,
        )
        for e in ledger.entries(account).values()
        if e.status == "published" and e.publisher == publisher and e.ids
    ]
    return sorted(posts, key=lambda p: (p.published_at, p.draft_id))


def later_horizons(read: set[str]) -> list[str]:
    """The horizons after the latest one in `read`, in order (a later number is never filed
    under an earlier horizon)."""
    names = list(HORIZONS)
    return names[max((names.index(h) for h in read), default=-1) + 1 :]


def horizon_due(age: timedelta, read: set[str]) -> str | None:
    """The horizon to read a post of this `age` at now: the newest one it reached that is later
    than every horizon already read, else None."""
    reached = [h for h in later_horizons(read) if age >= HORIZONS[h]]
    return reached[-1] if reached else None


def read_horizons(readings: Sequence[dict]) -> dict[str, set[str]]:
    """Draft id -> the horizons it was read at."""
    read: dict[str, set[str]] = {}
    for r in readings:
        read.setdefault(r["draft_id"], set()).add(r["horizon"])
    return read


def due(posts: Sequence[Published], readings: Sequence[dict], now: datetime) -> dict[str, str]:
    """Draft id -> the horizon to read it at now, for every post with one due."""
    read = read_horizons(readings)
    plan = {}
    for p in posts:
        h = horizon_due(now - p.published_at, read.get(p.draft_id, set()))
        if h:
            plan[p.draft_id] = h
    return plan


def next_due(posts: Sequence[Published], readings: Sequence[dict]) -> datetime | None:
    """When the next horizon of any post comes (None when every post was read at 7 d)."""
    read = read_horizons(readings)
    times = []
    for p in posts:
        if later := later_horizons(read.get(p.draft_id, set())):
            times.append(p.published_at + HORIZONS[later[0]])
    return min(times, default=None)


def read_due(
    ledger: Ledger, publisher: Publisher, name: str, account: Account, now: datetime
) -> int:
    """Read every due horizon in one `outcomes` call and record the readings; a post the
    platform no longer shows is recorded as not found (its counts unknown). Returns how many
    readings were new. A `PublishError` from the platform propagates; nothing is recorded."""
    posts = {p.draft_id: p for p in published(ledger, account, name)}
    plan = due(list(posts.values()), ledger.outcomes(account), now)
    if not plan:
        return 0
    got = {o.post_id: o for o in publisher.outcomes([posts[d].post_id for d in plan])}
    readings = []
    for draft_id, horizon in plan.items():
        post_id = posts[draft_id].post_id
        o = got.get(post_id)
        counts = {c: getattr(o, c) if o else None for c in COUNTS}
        readings.append(
            {"draft_id": draft_id, "post_id": post_id, "horizon": horizon, **counts}
            | {"found": int(o is not None), "read_at": iso(now)}
        )
    return ledger.record_outcomes(account, readings)


def engagement(reading: dict, cfg: EngagementConfig | None = None) -> float | None:
    """The reading's engagement, weighted as `posts.engagement` is (`build_posts`)."""
    cfg = cfg or EngagementConfig()
    if all(reading.get(c) is None for c in ("likes", "reposts", "replies")):
        return None
    return (
        (reading.get("likes") or 0) * cfg.likes
        + (reading.get("reposts") or 0) * cfg.reposts
        + (reading.get("replies") or 0) * cfg.replies
    )


def table_rows(
    posts: Sequence[Published],
    readings: Sequence[dict],
    predictions: dict[str, float],
    cfg: EngagementConfig | None = None,
) -> list[dict]:
    """One row per reading: the post, its horizon and age, its counts and engagement, and the
    engagement model's prediction when it was approved (NaN where there was none)."""
    by_draft = {p.draft_id: p for p in posts}
    rows = []
    for r in readings:
        p = by_draft.get(r["draft_id"])
        if p is None:
            continue
        read_at = datetime.fromisoformat(r["read_at"])
        rows.append(
            {
                "draft_id": p.draft_id,
                "post_id": p.post_id,
                "url": p.url,
                "horizon": r["horizon"],
                "age_hours": round((read_at - p.published_at).total_seconds() / 3600, 2),
                **{c: r[c] for c in COUNTS},
                "found": bool(r["found"]),
                "engagement": engagement(r, cfg),
                "predicted": predictions.get(p.draft_id, math.nan),
                "published_at": p.published_at,
                "read_at": read_at,
            }
        )
    return rows


def compare(rows: Sequence[dict], min_posts: int = MIN_POSTS) -> dict[str, dict]:
    """Per horizon: how many posts have both a prediction and an engagement, and from
    `min_posts` on, the Spearman rank correlation of the two with its bootstrap interval."""
    out = {}
    for horizon in HORIZONS:
        pairs = [
            (r["predicted"], r["engagement"])
            for r in rows
            if r["horizon"] == horizon
            and r["engagement"] is not None
            and not math.isnan(r["predicted"])
        ]
        entry: dict = {"posts": len(pairs)}
        if len(pairs) >= min_posts:
            value, low, high = bootstrap_interval(tuple(np.array(pairs).T), spearman)
            entry["spearman"] = {"value": value, "low": low, "high": high}
        out[horizon] = entry
    return out


def plot(rows: Sequence[dict], path: Path, title: str) -> str:
    """A PNG of predicted engagement (at approval) against the actual log engagement, one colour
    per horizon; written to `path`, returned as base64."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    for horizon in HORIZONS:
        xy = [
            (r["predicted"], math.log1p(r["engagement"]))
            for r in rows
            if r["horizon"] == horizon
            and r["engagement"] is not None
            and not math.isnan(r["predicted"])
        ]
        if xy:
            x, y = zip(*xy, strict=True)
            ax.scatter(x, y, s=18, alpha=0.7, label=f"{horizon} ({len(xy)})")
    ax.set_xlabel("predicted engagement when approved (0..1, the account's own posts)")
    ax.set_ylabel("actual log1p(engagement)")
    ax.set_title(title, fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(Path(path), buf.getvalue())
    return base64.b64encode(buf.getvalue()).decode()


def export_path(folder: Path, account: Account) -> Path:
    """The flow-back export of `account` in the exports `folder`."""
    return Path(folder) / f"{EXPORT_PREFIX}{account.slug}.csv"


def native_id(post: Published) -> str:
    """The id an export of the platform gives the post: an X status URL's number (Postiz answers
    with its own ids), an at:// URI's record key, a URN's last part (LinkedIn), else the id."""
    status = STATUS_URL.match(post.url or "")
    if status:
        return status.group(2)
    return post.post_id.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def write_export(
    folder: Path, account: Account, posts: Sequence[Published], readings: Sequence[dict]
) -> Path | None:
    """Write the account's published posts, each with its newest counts, as a plain CSV and its
    column mapping (`<file>.columns.yaml`, naming the platform) in the exports `folder`, each
    replaced atomically. Returns the CSV's path, or None when there is nothing to write or the
    file already holds exactly this (an unchanged file is not ingested again)."""
    if not posts:
        return None
    newest = {r["draft_id"]: r for r in readings if r["found"]}  # readings are oldest first
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(EXPORT_COLUMNS.values())
    for p in posts:
        r = newest.get(p.draft_id, {})
        counts = ["" if r.get(c) is None else r[c] for c in ("likes", "reposts", "replies")]
        when = iso(p.published_at)
        out.writerow([native_id(p), account.author, p.text, when, p.url or "", *counts])
    path = export_path(folder, account)
    side = path.with_name(path.name + ".columns.yaml")
    mapping = {"platform": account.platform, **EXPORT_COLUMNS, "impressions": ""}
    data = buf.getvalue().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data and side.exists():
        return None
    write_atomic(side, yaml.safe_dump(mapping, sort_keys=False).encode())
    write_atomic(path, data)
    return path
