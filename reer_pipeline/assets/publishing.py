"""Publishing as a root of the graph: approved drafts reach their platform at their slot, and
what happened is recorded in the warehouse table `published_posts`.

Like `reviews`, `published_posts` depends on nothing that drafts: it reads the review log (what
a person approved) and the publishing ledger (what was sent), so the graph stays acyclic. The
`publish` job runs it for one account; the approvals sensor (`sensors/approvals.py`) starts it
when approvals reach their slot. The step publishes first and writes the warehouse after, in no
pool: a post due now does not wait for a long run holding the `duckdb` pool, and the table is
rebuilt from the ledger each run, so a failed write loses nothing.

`post_outcomes` reads what published posts did at about 1 h, 24 h and 7 days through the same
clients (`publish/outcomes.py`; the `outcomes` job, started by `sensors/outcomes.py`), compares
it with the engagement model's prediction at approval, and writes the posts to the exports
folder, where they re-enter `posts` as a source, like an export.
"""

from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa

from reer_pipeline.assets.metadata import metadata
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.ingest.accounts import replace_account_rows
from reer_pipeline.jobs import group_job
from reer_pipeline.publish import outcomes
from reer_pipeline.publish.base import PublishError
from reer_pipeline.publish.run import approvals, as_post, publish_due
from reer_pipeline.resources.publishing import Publishing
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.tables import Markdown, rows_table

PUBLISHED_COLUMNS = """platform VARCHAR, author VARCHAR, draft_id VARCHAR, status VARCHAR,
    post_ids VARCHAR[], url VARCHAR, reason VARCHAR, http_status INTEGER, attempts INTEGER,
    found BOOLEAN, publisher VARCHAR, slot TIMESTAMPTZ, parts VARCHAR[], recorded_at TIMESTAMPTZ"""


def table_rows(publishing: Publishing, account) -> list[dict]:
    """One row per draft the ledger knows (published, refused, retrying, unresolved) and per
    approval not yet tried (`waiting`), slot order."""
    entries = publishing.ledger().entries(account)
    rows = []
    for e in entries.values():
        rows.append(
            {
                "draft_id": e.draft_id,
                "status": e.status,
                "post_ids": list(e.ids),
                "url": e.url,
                "reason": e.reason,
                "http_status": e.http_status,
                "attempts": e.attempts,
                "found": e.found,
                "publisher": e.publisher,
                "slot": e.slot,
                "parts": list(e.parts),
                "recorded_at": e.at,
            }
        )
    for d in approvals(publishing.review_log(), account):
        if d["draft_id"] not in entries:
            post = as_post(account, d)
            rows.append(
                {
                    "draft_id": post.draft_id,
                    "status": "waiting",
                    "post_ids": [],
                    "attempts": 0,
                    "slot": post.slot,
                    "parts": list(post.parts),
                }
            )
    return [
        {"platform": account.platform, "author": account.author} | r
        for r in sorted(rows, key=lambda r: (r["slot"] or "", r["draft_id"]))
    ]


@dg.asset(partitions_def=account_partitions, group_name="publishing", kinds={"duckdb"})
def published_posts(
    context: dg.AssetExecutionContext, publishing: Publishing, warehouse: Warehouse
):
    """The account's approved drafts that reached their slot, published exactly once through
    its publisher (the outbox unless `publishing.accounts` names another), and every approval's
    state: the platform's ids and URL, or its refusal's reason, or when it is due."""
    account = account_of(context)
    name = publishing.publisher_name(account)
    try:
        publisher = publishing.publisher(account)
    except PublishError as e:  # a missing credential: its message names the variable
        raise dg.Failure(description=e.reason) from None
    report = publish_due(
        publishing.review_log(), publishing.ledger(), publisher, account, datetime.now(UTC), name
    )
    context.log.info(report.summary())
    rows = table_rows(publishing, account)
    with warehouse.get_connection() as con:
        replace_account_rows(
            con,
            "published_posts",
            PUBLISHED_COLUMNS,
            account,
            pa.Table.from_pylist(rows) if rows else None,
        )
    status = Counter(r["status"] for r in rows)
    return dg.MaterializeResult(
        metadata=metadata(
            {
                "dagster/row_count": len(rows),
                "publisher": name,
                "summary": report.summary(),
                "published": status["published"],
                "refused": status["refused"],
                "waiting": status["waiting"] + status["retrying"] + status["unresolved"],
                "published_this_run": len(report.published),
                "refused_this_run": len(report.refused),
                "refused_by_reason": dict(
                    Counter(r["reason"] for r in rows if r["status"] == "refused")
                ),
                "next_slot": report.next_slot or "",
                "posts": rows_table(
                    [
                        {
                            "draft_id": r["draft_id"],
                            "status": r["status"],
                            "slot": r["slot"] or "",
                            "url": r.get("url") or "",
                            "reason": r.get("reason") or "",
                            "text": (r["parts"] or [""])[0][:120],
                        }
                        for r in reversed(rows)
                    ][:12]
                ),
            }
        )
    )


publish_job = group_job(
    "publish", ["publishing"], "For one account: approved drafts at their slot -> published_posts."
)


OUTCOME_COLUMNS = """platform VARCHAR, author VARCHAR, draft_id VARCHAR, post_id VARCHAR,
    url VARCHAR, horizon VARCHAR, age_hours DOUBLE, likes BIGINT, reposts BIGINT, replies BIGINT,
    impressions BIGINT, found BOOLEAN, engagement DOUBLE, predicted DOUBLE,
    published_at TIMESTAMPTZ, read_at TIMESTAMPTZ"""


def predictions(publishing: Publishing, account) -> dict[str, float]:
    """Draft id -> the engagement model's score of the text the person approved, when they did."""
    latest = publishing.review_log().latest(account)
    scores = {d: (r["scores"] or {}).get("engagement") for d, r in latest.items()}
    return {d: float(s) for d, s in scores.items() if s is not None}


@dg.asset(
    partitions_def=account_partitions,
    group_name="outcomes",
    kinds={"duckdb"},
    deps=[published_posts],
)
def post_outcomes(context: dg.AssetExecutionContext, publishing: Publishing, warehouse: Warehouse):
    """What the account's published posts did at about 1 h, 24 h and 7 days against what the
    engagement model predicted when they were approved: the readings, the rank correlation per
    horizon from `outcomes.MIN_POSTS` posts, a plot, and the posts written to the exports folder
    (`published-<account>.csv`) for the next ingest. The outbox has no outcomes."""
    account = account_of(context)
    layout, ledger = publishing.storage.layout, publishing.ledger()
    name = publishing.publisher_name(account)
    new, error = 0, None
    if name != "outbox":
        try:
            publisher = publishing.publisher(account)
            new = outcomes.read_due(ledger, publisher, name, account, datetime.now(UTC))
        except PublishError as e:  # recorded readings stay; the table below is still written
            error = e.reason
    posts = outcomes.published(ledger, account, name)
    readings = ledger.outcomes(account)
    rows = outcomes.table_rows(posts, readings, predictions(publishing, account))
    with warehouse.get_connection() as con:
        replace_account_rows(
            con,
            "post_outcomes",
            OUTCOME_COLUMNS,
            account,
            pa.Table.from_pylist(
                [{"platform": account.platform, "author": account.author} | r for r in rows]
            )
            if rows
            else None,
        )
    export = outcomes.write_export(layout.exports, account, posts, readings)
    if error:
        raise dg.Failure(description=f"{name} refused the outcome read: {error}")
    out = layout.root / "outcomes" / account.slug
    png = outcomes.plot(rows, out / "predicted_vs_actual.png", f"outcomes for {account}")
    compared = outcomes.compare(rows)
    next_read = outcomes.next_due(posts, readings)
    values = {
        "dagster/row_count": len(rows),
        "publisher": name,
        "published_posts": len(posts),
        "new_readings": new,
        "readings_by_horizon": dict(Counter(r["horizon"] for r in rows)),
        "rank_correlation": {
            h: c.get("spearman") or f"{c['posts']} posts, needs {outcomes.MIN_POSTS}"
            for h, c in compared.items()
        },
        "next_read": next_read.isoformat() if next_read else "",
        "export": outcomes.export_path(layout.exports, account) if posts else "",
        "export_rewritten": export is not None,
        "predicted_vs_actual": Markdown(f"![predicted vs actual](data:image/png;base64,{png})"),
        "readings": rows_table(
            [
                {k: r[k] for k in ("horizon", "likes", "reposts", "replies", "predicted", "url")}
                for r in reversed(rows)
            ][:12]
        ),
    }
    return dg.MaterializeResult(metadata=metadata(values))


outcomes_job = group_job(
    "outcomes",
    ["outcomes"],
    "For one account: the engagement of its published posts at 1 h, 24 h and 7 d.",
)
