"""The one Definitions object: assets, checks, resources, jobs, sensors and schedules."""

import dagster as dg

from reer_pipeline.assets import (
    author,
    drafting,
    evaluation,
    ingest,
    learning,
    mining,
    publishing,
    reviews,
    strategies,
    tuning,
)
from reer_pipeline.executors import executor_from_env
from reer_pipeline.jobs import JOBS
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.publishing import Publishing
from reer_pipeline.resources.storage import Storage
from reer_pipeline.resources.tracking import Tracking
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.schedules.nightly import nightly_schedule
from reer_pipeline.sensors.approvals import approvals_due_sensor
from reer_pipeline.sensors.new_exports import changed_accounts_sensor, new_export_sensor
from reer_pipeline.sensors.outcomes import outcomes_due_sensor

modules = [
    ingest,
    mining,
    strategies,
    author,
    drafting,
    tuning,
    reviews,
    publishing,
    learning,
    evaluation,
]
storage = Storage()

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(modules),
    asset_checks=dg.load_asset_checks_from_modules(modules),
    jobs=[
        *JOBS,
        reviews.review_job,
        publishing.publish_job,
        publishing.outcomes_job,
        learning.learn_job,
        evaluation.evaluation_job,
    ],
    schedules=[nightly_schedule],
    sensors=[
        new_export_sensor,
        changed_accounts_sensor,
        reviews.new_decisions_sensor,
        approvals_due_sensor,
        outcomes_due_sensor,
        learning.learn_sensor,
    ],
    resources={
        "storage": storage,
        "warehouse": Warehouse(storage=storage),
        "language_models": LMRegistryResource(storage=storage),
        "publishing": Publishing(storage=storage),
        "tracking": Tracking(storage=storage),
        "learning": learning.LearningSettings(),
    },
    executor=executor_from_env(),  # REER_EXECUTOR: multiprocess (default), celery, k8s
)
