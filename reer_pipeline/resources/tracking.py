"""MLflow tracking as a Dagster resource: each tracked asset records one run and links it."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
from pydantic import Field

from reer_pipeline.resources.storage import Storage
from reer_pipeline.tracking import Record, Tracker, TrackingSettings


class Tracking(dg.ConfigurableResource):
    """Where runs are recorded. Empty fields read the environment (`TrackingSettings.from_env`);
    with no URI anywhere, the local store under the data root (`<root>/mlflow.db`)."""

    storage: Storage
    enabled: bool = Field(True, description="false: record nothing (env REER_TRACKING=off too)")
    tracking_uri: str = Field("", description="any MLflow tracking URI (default: the local store)")
    experiment: str = Field("", description="the MLflow experiment (default: reer_pipeline)")
    ui_url: str = Field("", description="the MLflow UI run links point to")

    def settings(self) -> TrackingSettings:
        env = TrackingSettings.from_env()
        return TrackingSettings(
            enabled=self.enabled and env.enabled,
            uri=self.tracking_uri or env.uri,
            experiment=self.experiment or env.experiment,
            ui_url=self.ui_url or env.ui_url,
        )

    def record(self, context: dg.AssetExecutionContext, make: Callable[..., Record], *args) -> dict:
        """Record one run for the asset (`make(*args)`, see `Tracker.log`); its link as metadata
        (`mlflow_run`), or nothing."""
        tags = {"dagster_run_id": context.run.run_id}
        if context.has_partition_key:
            tags["dagster_partition"] = context.partition_key
        tracker = Tracker(self.settings(), self.storage.layout.root, context.log.warning, tags)
        url = tracker.log(make, *args)
        return {"mlflow_run": dg.MetadataValue.url(url)} if url else {}
