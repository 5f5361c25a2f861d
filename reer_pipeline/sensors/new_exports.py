"""Sensors: ingest each new export file, then refresh each account whose posts it changed."""

import json
import os
from pathlib import Path

import dagster as dg

from reer_pipeline.assets.ingest import partition_key, posts
from reer_pipeline.assets.partitions import export_partitions
from reer_pipeline.ingest.mapping import sidecar_path
from reer_pipeline.ingest.watch import skip_reason
from reer_pipeline.jobs import ingest_job, refresh_job
from reer_pipeline.resources.storage import Storage


def scan(folder: Path, seen: dict, pending: dict, log=None) -> tuple[list[Path], dict, dict]:
    """Files whose (size, mtime) held still since the previous tick and that are not yet seen.

    A file still being written changes between ticks, so it waits in `pending` until it is stable.
    An entry that is not an export to ingest (a symlink out of the folder, a folder) is logged
    once, when it first appears. Returns (ready paths, new seen, new pending).
    """
    ready, still, current = [], {}, {}
    if folder.is_dir():
        with os.scandir(folder) as entries:
            for entry in entries:
                reason = skip_reason(entry, folder)
                if reason is not None:
                    if reason and entry.name not in seen and log:
                        log(reason)
                    if reason:
                        current[entry.name] = "skipped"  # remembered, so logged once
                    continue
                stat = entry.stat()
                side = sidecar_path(Path(entry.path))
                sig = [stat.st_size, stat.st_mtime_ns]
                if side.is_file():  # a changed column mapping re-ingests the export
                    sig += [side.stat().st_size, side.stat().st_mtime_ns]
                current[entry.name] = sig
                if seen.get(entry.name) == sig:
                    continue
                if pending.get(entry.name) == sig:
                    ready.append(Path(entry.path))
                else:
                    still[entry.name] = sig
    new_seen = {name: sig for name, sig in seen.items() if name in current}
    new_seen.update({p.name: current[p.name] for p in ready})
    new_seen.update({name: sig for name, sig in current.items() if sig == "skipped"})
    return ready, new_seen, still


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition per new export file once its size is stable, and ingests it.",
)
def new_export_sensor(context: dg.SensorEvaluationContext, storage: Storage) -> dg.SensorResult:
    state = json.loads(context.cursor) if context.cursor else {}
    folder = storage.layout.exports
    ready, seen, pending = scan(
        folder, state.get("seen", {}), state.get("pending", {}), context.log.info
    )
    existing = set(context.instance.get_dynamic_partitions(export_partitions.name))
    keys = []
    for path in ready:
        key = partition_key(path)
        if key not in existing:
            keys.append(key)
            existing.add(key)
    if keys:
        context.log.info(f"{len(keys)} new export file(s): {keys[:5]}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=key, run_key=key) for key in keys],
        dynamic_partitions_requests=[export_partitions.build_add_request(keys)] if keys else [],
        cursor=json.dumps({"seen": seen, "pending": pending}),
    )


@dg.asset_sensor(
    asset_key=posts.key,
    job=refresh_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After `posts` is rebuilt, refreshes (mining, drafting) each account it changed.",
)
def changed_accounts_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    materialization = asset_event.asset_materialization
    changed = materialization.metadata.get("changed_accounts") if materialization else None
    for key in changed.value if changed is not None else []:
        yield dg.RunRequest(partition_key=key, run_key=f"{key}@{asset_event.run_id}")
