"""The approvals sensor: starts the `publish` job for each account whose approvals reached their
slot (or their retry time), unless a publish run of that account is already queued or running.

The cursor keeps, per account, the review log's and the ledger's newest sequence numbers, how
many posts were due and when the next one is: an account whose logs did not change, with
nothing due and nothing reaching its time, is not read again.
"""

import json
from datetime import UTC, datetime

import dagster as dg

from reer_pipeline.assets.partitions import account_partitions
from reer_pipeline.assets.publishing import publish_job
from reer_pipeline.platforms import Account
from reer_pipeline.publish.run import due
from reer_pipeline.resources.publishing import Publishing
from reer_pipeline.serve.store import log_path

ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def running(instance: dg.DagsterInstance, job: str, account: str) -> bool:
    """Whether a run of `job` for `account` is queued or running."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=job, statuses=ACTIVE, tags={"dagster/partition": account}),
        limit=1,
    )
    return bool(runs)


def unchanged(seen: dict | None, review: int, ledger: int, now: datetime) -> bool:
    """Nothing new since the last tick, and nothing due or reaching its time."""
    return bool(
        seen
        and (seen["review"], seen["ledger"]) == (review, ledger)
        and not seen["due"]
        and (seen["next"] is None or datetime.fromisoformat(seen["next"]) > now)
    )


@dg.sensor(
    job=publish_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts `publish` for each account whose approved drafts reached their slot.",
)
def approvals_due_sensor(context: dg.SensorEvaluationContext, publishing: Publishing):
    path = log_path(publishing.storage.layout.root)
    if not path.exists():
        return dg.SkipReason(f"no review log at {path} yet (`reer serve` writes it)")
    store, ledger = publishing.review_log(), publishing.ledger()
    newest, published = store.newest(), ledger.newest()
    seen = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(account_partitions.name))
    now = datetime.now(UTC)
    cursor, requests = {}, []
    for key, review in sorted(newest.items()):
        if key not in known:
            continue
        state = published.get(key, 0)
        if unchanged(seen.get(key), review, state, now):
            cursor[key] = seen[key]
            continue
        posts, later = due(store, ledger, Account.parse(key), now)
        cursor[key] = {
            "review": review,
            "ledger": state,
            "due": len(posts),
            "next": min(later).isoformat() if later else None,
        }
        if posts and not running(context.instance, publish_job.name, key):
            run_key = f"{key}@r{review}:l{state}:{now:%Y%m%dT%H%M}"
            requests.append(dg.RunRequest(partition_key=key, run_key=run_key))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))
