"""The review log as a source: what a person decided on the desk, read per account into the
warehouse table `reviews`.

The desk (`reer serve`) writes the log outside Dagster, like an export lands in `exports/`.
`reviews` is a root of the graph (it depends on nothing that drafts), so decisions can train
tuning and the author model while the asset graph stays acyclic; each row names the draft
(`draft_id`) it is about.
"""

import json

import dagster as dg
import pyarrow as pa

from reer_pipeline.assets.metadata import metadata
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.ingest.accounts import replace_account_rows
from reer_pipeline.jobs import group_job
from reer_pipeline.resources.storage import Storage
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.serve.store import ReviewStore, dumps, log_path, summary
from reer_pipeline.tables import rows_table

REVIEW_COLUMNS = """platform VARCHAR, author VARCHAR, seq BIGINT, decision_id VARCHAR,
    draft_id VARCHAR, topic VARCHAR, drafted_text VARCHAR, approved_text VARCHAR,
    edited BOOLEAN, decision VARCHAR, reason VARCHAR, note VARCHAR, slot VARCHAR, scores JSON,
    total DOUBLE, usable BOOLEAN, decided_at TIMESTAMPTZ, latest BOOLEAN"""


@dg.asset(
    partitions_def=account_partitions,
    group_name="review",
    kinds={"duckdb"},
    pool="duckdb",
)
def reviews(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Every decision on the account's drafts from the review log (`<data root>/reviews.sqlite3`,
    written by `reer serve`), in the order they were made (the newest per draft is `latest`),
    with the scorer's view of the text at that moment."""
    account = account_of(context)
    decisions = ReviewStore(log_path(warehouse.storage.layout.root)).decisions(account)
    newest = {d["draft_id"]: d["seq"] for d in decisions}
    rows = [
        {
            "platform": account.platform,
            "author": account.author,
            **{k: d[k] for k in ("seq", "decision_id", "draft_id", "topic", "drafted_text")},
            "approved_text": d["approved_text"],
            "edited": d["approved_text"] is not None and d["approved_text"] != d["drafted_text"],
            **{k: d[k] for k in ("decision", "reason", "note", "slot")},
            "scores": dumps(d["scores"]),
            "total": d["scores"].get("total"),
            "usable": d["scores"].get("usable"),
            "decided_at": d["decided_at"],
            "latest": newest[d["draft_id"]] == d["seq"],
        }
        for d in decisions
    ]
    with warehouse.get_connection() as con:
        replace_account_rows(
            con, "reviews", REVIEW_COLUMNS, account, pa.Table.from_pylist(rows) if rows else None
        )
    latest = [r for r in rows if r["latest"]]
    counts = {k: sum(r["decision"] == k for r in latest) for k in ("approved", "rejected")}
    context.log.info(f"{account}: {summary(counts)} ({len(rows)} decisions)")
    return dg.MaterializeResult(
        metadata=metadata(
            {
                "dagster/row_count": len(rows),
                "summary": summary(counts),
                **counts,
                "edited": sum(r["edited"] for r in latest),
                "rejected_by_reason": {
                    reason: sum(r["reason"] == reason for r in latest)
                    for reason in sorted({r["reason"] for r in latest if r["reason"]})
                },
                "newest": rows_table(
                    [
                        {
                            "draft_id": r["draft_id"],
                            "decision": r["decision"],
                            "reason": r["reason"] or "",
                            "text": (r["approved_text"] or r["drafted_text"])[:120],
                        }
                        for r in reversed(latest)
                    ][:12]
                ),
            }
        )
    )


review_job = group_job("review", ["review"], "For one account: the desk's decisions -> reviews.")


@dg.sensor(
    job=review_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads the review log into `reviews` for each account with new decisions.",
)
def new_decisions_sensor(context: dg.SensorEvaluationContext, storage: Storage):
    path = log_path(storage.layout.root)
    if not path.exists():
        return dg.SkipReason(f"no review log at {path} yet (`reer serve` writes it)")
    seen = json.loads(context.cursor) if context.cursor else {}
    newest = ReviewStore(path).newest()
    known = set(context.instance.get_dynamic_partitions(account_partitions.name))
    changed = [a for a, seq in sorted(newest.items()) if seq > seen.get(a, 0) and a in known]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=a, run_key=f"{a}@{newest[a]}") for a in changed],
        cursor=json.dumps(newest),
    )
