"""Nightly refresh of every account that has top posts without a trace yet, or decisions its
author adapter has not taken a preference step on (`finetune.author.preference_due`): the
refresh retrains or steps the adapter, then drafts with it.

New export files are ingested by the sensor as they land; this picks up what mining left.
The time zone is `REER_SCHEDULE_TZ` (an IANA name, default UTC), the time `REER_SCHEDULE_CRON`.
"""

import os

import dagster as dg

from reer_pipeline.assets.partitions import account_partitions
from reer_pipeline.finetune.author import preference_due
from reer_pipeline.jobs import refresh_job
from reer_pipeline.platforms import Account
from reer_pipeline.reer.report import accounts_with_untraced_top_posts
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.serve.store import ReviewStore, log_path


@dg.schedule(
    name="nightly_remine",
    job=refresh_job,
    cron_schedule=os.environ.get("REER_SCHEDULE_CRON", "0 3 * * *"),
    execution_timezone=os.environ.get("REER_SCHEDULE_TZ", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_schedule(context: dg.ScheduleEvaluationContext, warehouse: Warehouse):
    if not warehouse.storage.layout.warehouse.exists():
        return dg.SkipReason("no warehouse yet: ingest an export first")
    registered = set(context.instance.get_dynamic_partitions(account_partitions.name))
    layout = warehouse.storage.layout
    with warehouse.get_connection(read_only=True) as con:
        due = set(accounts_with_untraced_top_posts(con, layout.traces))
    reviews = log_path(layout.root)
    for key, seq in (ReviewStore(reviews).newest() if reviews.exists() else {}).items():
        if preference_due(layout.account(Account.parse(key)).adapters, seq):
            due.add(key)
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    requests = [
        dg.RunRequest(partition_key=key, run_key=f"{key}@{day}")
        for key in sorted(due)
        if key in registered
    ]
    return requests or dg.SkipReason(
        "every account's top posts have traces and its adapter stepped on its decisions"
    )
