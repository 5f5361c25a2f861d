"""The one Definitions object: assets, checks, resources, jobs, sensors and schedules."""

import dagster as dg

from reer_pipeline.assets import ingest
from reer_pipeline.jobs import ingest_job
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.sensors.new_exports import new_export_sensor

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest]),
    asset_checks=dg.load_asset_checks_from_modules([ingest]),
    jobs=[ingest_job],
    sensors=[new_export_sensor],
    resources={"warehouse": Warehouse()},
)
