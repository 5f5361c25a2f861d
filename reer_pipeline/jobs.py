"""Asset jobs: what a sensor, a schedule, the UI or the CLI asks to run. Each runs asset groups."""

import dagster as dg


def group_job(name: str, groups: list[str], description: str):
    """A job that materializes the asset groups `groups`."""
    return dg.define_asset_job(
        name, selection=dg.AssetSelection.groups(*groups), description=description
    )


ingest_job = group_job(
    "ingest",
    ["ingest"],
    "One export file -> posts (registers accounts) -> top posts, post features.",
)
mining_job = group_job(
    "mining",
    ["mining"],
    "For one account: REER traces for new top posts -> strategies, engagement model.",
)
drafting_job = group_job(
    "drafting",
    ["drafting"],
    "For one account: candidate posts for its topics -> scores and ranking.",
)
author_job = group_job(
    "author_model",
    ["author"],
    "For one account: train its author model (a LoRA adapter) and judge it.",
)
refresh_job = group_job(
    "refresh",
    ["mining", "author", "drafting"],
    "For one account: mining, then its author model, then drafting. Run by the sensor and the "
    "schedule.",
)
tuning_job = group_job(
    "tuning",
    ["tuning"],
    "The drafting program tuned per account x optimizer (pick a partition).",
)
JOBS = [ingest_job, mining_job, author_job, drafting_job, refresh_job, tuning_job]
