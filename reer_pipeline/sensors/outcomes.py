"""The outcomes sensor: starts the `outcomes` job for each account whose published posts reached
a reading horizon (about 1 h, 24 h, 7 d after they went out), unless one of its outcome runs is
queued or running. An account whose read keeps failing is tried again at most once an hour."""

from datetime import UTC, datetime

import dagster as dg

from reer_pipeline.assets.partitions import account_partitions
from reer_pipeline.assets.publishing import outcomes_job
from reer_pipeline.platforms import Account
from reer_pipeline.publish import outcomes
from reer_pipeline.resources.publishing import Publishing
from reer_pipeline.sensors.approvals import running


@dg.sensor(
    job=outcomes_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts `outcomes` for each account whose published posts reached a horizon.",
)
def outcomes_due_sensor(context: dg.SensorEvaluationContext, publishing: Publishing):
    ledger, now = publishing.ledger(), datetime.now(UTC)
    requests = []
    for key in sorted(context.instance.get_dynamic_partitions(account_partitions.name)):
        account = Account.parse(key)
        name = publishing.publisher_name(account)
        posts = outcomes.published(ledger, account, name)
        if not posts or not outcomes.due(posts, ledger.outcomes(account), now):
            continue
        if not running(context.instance, outcomes_job.name, key):
            requests.append(dg.RunRequest(partition_key=key, run_key=f"{key}@{now:%Y%m%dT%H}"))
    if not requests:
        return dg.SkipReason("no published post reached a horizon")
    return dg.SensorResult(run_requests=requests)
