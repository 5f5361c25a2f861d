"""The code location as the dagster CLI and the UI load it, checked as rules over every asset,
job, sensor and schedule it defines (derived from the Definitions, never a list of names)."""

import importlib.util
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import schedule_execution_time_iterator

from reer_pipeline.definitions import defs
from reer_pipeline.optimize.tune import OPTIMIZERS
from tests.conftest import ROOT, SAMPLE, copy_export

GRAPH = defs.resolve_asset_graph()
ASSETS = {key: GRAPH.get(key) for key in defs.resolve_all_asset_keys()}
JOBS = [defs.resolve_job_def(job.name) for job in defs.jobs]
ACCOUNT = "accounts"  # the dynamic partitions of <platform>:<author>


def test_dagster_definitions_validate(tmp_path):
    dagster = Path(sys.executable).with_name("dagster")
    out = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"DAGSTER_HOME": str(tmp_path), "REER_DATA_DIR": str(tmp_path / "d")},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Validation successful" in out.stderr + out.stdout


def partition_names(node) -> set[str]:
    """The dynamic partition sets an asset is partitioned by (each dimension of a multi)."""
    parts = node.partitions_def
    if isinstance(parts, dg.MultiPartitionsDefinition):
        return {getattr(d.partitions_def, "name", None) for d in parts.partitions_defs} - {None}
    return {parts.name} if isinstance(parts, dg.DynamicPartitionsDefinition) else set()


def uses_a_model(asset: dg.AssetsDefinition) -> bool:
    """It asks the `language_models` resource for a model, or trains one with torch."""
    return "language_models" in asset.required_resource_keys or "pytorch" in ASSETS[asset.key].kinds


MODEL_ASSETS = sorted(
    (a for a in defs.assets if uses_a_model(a)), key=lambda a: a.key.to_user_string()
)


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j.name)
def test_every_job_selects_existing_assets_that_share_its_partitions(job):
    keys = job.asset_layer.executable_asset_keys
    assert keys and keys <= ASSETS.keys(), job.name
    partitioned = {ASSETS[key].partitions_def for key in keys} - {None}
    assert partitioned == {job.partitions_def}, job.name


def test_every_asset_is_in_some_job():
    in_jobs = set().union(*(job.asset_layer.executable_asset_keys for job in JOBS))
    assert in_jobs == ASSETS.keys()


def test_every_sensor_and_schedule_starts_a_job_of_the_location():
    names = {job.name for job in JOBS}
    for target in [*defs.sensors, *defs.schedules]:
        assert target.job_name in names, target.name


@pytest.mark.parametrize("asset", MODEL_ASSETS, ids=lambda a: a.key.to_user_string())
def test_every_model_step_is_per_account(asset):
    assert ACCOUNT in partition_names(ASSETS[asset.key]), asset.key


@pytest.mark.parametrize("asset", MODEL_ASSETS, ids=lambda a: a.key.to_user_string())
def test_every_model_step_is_in_pool_lm(asset):
    assert asset.op.pools == {"lm"}, asset.key


def test_every_ingest_writer_is_in_pool_duckdb():
    """DuckDB allows one writer process: the rebuilds after each export file take turns."""
    writers = [
        a
        for a in defs.assets
        if "warehouse" in a.required_resource_keys and ASSETS[a.key].group_name == "ingest"
    ]
    assert writers
    for asset in writers:
        assert asset.op.pools == {"duckdb"}, asset.key


def test_every_pool_gets_a_limit_from_the_instance_config():
    import yaml

    pools = set().union(*(a.op.pools for a in defs.assets))
    concurrency = yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"]["pools"]
    assert pools and all(concurrency.get(p, concurrency["default_limit"]) >= 1 for p in pools)


def test_tuning_partitions_are_every_account_times_every_optimizer():
    tuning = defs.resolve_job_def("tuning").partitions_def
    accounts = ["x:ann", "mastodon:bob"]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ACCOUNT, accounts)
        keys = tuning.get_partition_keys(dynamic_partitions_store=instance)
    pairs = {tuple(sorted(k.keys_by_dimension.items())) for k in keys}
    expected = {(("account", a), ("optimizer", o)) for a in accounts for o in OPTIMIZERS}
    assert pairs == expected


def test_candidates_lineage_runs_through_tuned_program_and_author_adapter():
    """The design's lineage: drafts depend on the account's tuned program and author model."""
    parents = GRAPH.get(dg.AssetKey("candidates")).parent_keys
    assert {dg.AssetKey("tuned_program"), dg.AssetKey("author_adapter")} <= parents
    assert dg.AssetKey("author_adapter") in GRAPH.get(dg.AssetKey("tuned_program")).parent_keys
    assert dg.AssetKey("reer_traces") in GRAPH.get(dg.AssetKey("author_adapter")).parent_keys


def test_every_resource_initializes(data_root):
    with dg.build_resources(defs.resources) as resources:
        assert resources.warehouse and resources.language_models


def nightly_schedule_under(monkeypatch, **env: str) -> dg.ScheduleDefinition:
    """The schedule module loaded afresh with `env` set, as a code server would load it."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = ROOT / "reer_pipeline" / "schedules" / "nightly.py"
    spec = importlib.util.spec_from_file_location("nightly_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.nightly_schedule


def first_tick(schedule: dg.ScheduleDefinition, after: datetime) -> datetime:
    """The first time at or after `after` that the daemon would run this schedule."""
    ticks = schedule_execution_time_iterator(
        after.timestamp(), schedule.cron_schedule, schedule.execution_timezone
    )
    return next(ticks)


@pytest.mark.parametrize(
    "env, zone, hour, minute",
    [
        ({}, "UTC", 3, 0),  # the default
        ({"REER_SCHEDULE_TZ": "America/New_York"}, "America/New_York", 3, 0),
        (
            {"REER_SCHEDULE_TZ": "Asia/Kolkata", "REER_SCHEDULE_CRON": "30 22 * * *"},
            "Asia/Kolkata",
            22,
            30,
        ),
    ],
)
def test_the_schedule_fires_at_the_configured_hour_in_the_configured_zone(
    monkeypatch, env, zone, hour, minute
):
    for name in ("REER_SCHEDULE_TZ", "REER_SCHEDULE_CRON"):
        monkeypatch.delenv(name, raising=False)
    schedule = nightly_schedule_under(monkeypatch, **env)
    for day in (datetime(2026, 1, 15), datetime(2026, 7, 15)):  # winter and summer time
        expected = day.replace(hour=hour, minute=minute, tzinfo=ZoneInfo(zone))
        assert first_tick(schedule, day.replace(tzinfo=ZoneInfo(zone))) == expected


def test_the_schedule_names_each_run_by_the_local_night(data_root, monkeypatch):
    """Evaluated at its real tick: one run per due account, keyed by the zone's date."""
    from tests.dagster.test_ingest_assets import ingest

    schedule = nightly_schedule_under(
        monkeypatch, REER_SCHEDULE_TZ="America/Los_Angeles", REER_SCHEDULE_CRON="30 23 * * *"
    )
    tick = first_tick(schedule, datetime(2026, 3, 1, 12, tzinfo=ZoneInfo("UTC")))
    assert tick.astimezone(ZoneInfo("UTC")).date().isoformat() == "2026-03-02"
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(
            instance=instance, resources=defs.resources, scheduled_execution_time=tick
        ) as context:
            assert isinstance(schedule(context), dg.SkipReason)  # no warehouse yet
        assert ingest(instance, copy_export(SAMPLE, data_root))[0].success
        with dg.build_schedule_context(
            instance=instance, resources=defs.resources, scheduled_execution_time=tick
        ) as context:
            requests = schedule(context)
        accounts = instance.get_dynamic_partitions(ACCOUNT)
    assert accounts and [r.partition_key for r in requests] == accounts
    assert [r.run_key for r in requests] == [f"{a}@2026-03-01" for a in accounts]
