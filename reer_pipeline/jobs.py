"""Asset jobs: what a sensor, a schedule, the UI or the CLI asks to run."""

import dagster as dg

from reer_pipeline.assets.ingest import posts, top_posts

ingest_job = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.groups("ingest"),
    description="One export file -> posts -> top posts.",
)

mining_job = dg.define_asset_job(
    "mining",
    selection=dg.AssetSelection.groups("mining"),
    description="REER traces for new top posts -> writing strategies and the engagement model.",
)

drafting_job = dg.define_asset_job(
    "drafting",
    selection=dg.AssetSelection.groups("drafting"),
    description="Candidate posts for data/topics.yaml -> scores and ranking.",
)

nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.assets(posts, top_posts)
    | dg.AssetSelection.groups("mining", "drafting"),
    description="posts -> top posts -> traces for new top posts -> strategies -> drafts.",
)

tuning_job = dg.define_asset_job(
    "tuning",
    selection=dg.AssetSelection.groups("tuning"),
    description="The drafting program tuned per optimizer x platform (pick a partition).",
)
