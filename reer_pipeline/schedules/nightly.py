"""Nightly re-mining: refresh posts, mine traces for new top posts, refresh strategies and drafts.

New export files are ingested by the sensor as they land; this picks up everything they added.
The time zone is `REER_SCHEDULE_TZ` (an IANA name, default UTC), the time `REER_SCHEDULE_CRON`.
"""

import os

import dagster as dg

from reer_pipeline.jobs import nightly_job

nightly_schedule = dg.ScheduleDefinition(
    name="nightly_remine",
    job=nightly_job,
    cron_schedule=os.environ.get("REER_SCHEDULE_CRON", "0 3 * * *"),
    execution_timezone=os.environ.get("REER_SCHEDULE_TZ", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
