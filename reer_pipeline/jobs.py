"""Asset jobs: what a sensor, a schedule, the UI or the CLI asks to run."""

import dagster as dg

ingest_job = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.groups("ingest"),
    description="One export file -> posts (registers accounts) -> top posts, post features.",
)

mining_job = dg.define_asset_job(
    "mining",
    selection=dg.AssetSelection.groups("mining"),
    description="For one account: REER traces for new top posts -> strategies, engagement model.",
)

drafting_job = dg.define_asset_job(
    "drafting",
    selection=dg.AssetSelection.groups("drafting"),
    description="For one account: candidate posts for its topics -> scores and ranking.",
)

author_job = dg.define_asset_job(
    "author_model",
    selection=dg.AssetSelection.groups("author"),
    description="For one account: train its author model (a LoRA adapter) and judge it.",
)

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.groups("mining", "author", "drafting"),
    description=(
        "For one account: mining, then its author model, then drafting. Run by the sensor and "
        "the schedule."
    ),
)

tuning_job = dg.define_asset_job(
    "tuning",
    selection=dg.AssetSelection.groups("tuning"),
    description="The drafting program tuned per account x optimizer (pick a partition).",
)
