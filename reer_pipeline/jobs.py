"""Asset jobs: what a sensor, a schedule, the UI or the CLI asks to run."""

import dagster as dg

from reer_pipeline.assets.ingest import export_files, posts, top_posts

ingest_job = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.assets(export_files, posts, top_posts),
    description="One export file -> posts -> top posts.",
)
