"""deploy/postgres/dagster.yaml against a real Postgres: a real ingest run, recorded there."""

import json
import shutil
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from reer_pipeline.assets.ingest import partition_key
from reer_pipeline.assets.partitions import export_partitions
from tests.conftest import ROOT, SAMPLE, copy_export
from tests.deploy.conftest import run_in_group, subprocess_env

pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed")

CONFIG = ROOT / "deploy" / "postgres" / "dagster.yaml"


def test_config_uses_psycopg2_and_env_credentials():
    storage = yaml.safe_load(CONFIG.read_text())["storage"]["postgres"]["postgres_db"]
    assert storage["scheme"] == "postgresql+psycopg2"
    for field in ("hostname", "port", "db_name", "username", "password"):
        assert set(storage[field]) == {"env"}, f"{field} must come from an env var"


@pytest.mark.slow  # starts Postgres
def test_ingest_run_recorded_in_postgres(postgres, data_root, tmp_path, monkeypatch, sample_facts):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(CONFIG, home / "dagster.yaml")
    for name, value in postgres.env().items():
        monkeypatch.setenv(name, value)
    key = partition_key(copy_export(SAMPLE, data_root))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.run_storage.postgres_url.startswith("postgresql+psycopg2://")
        instance.add_dynamic_partitions(export_partitions.name, [key])

    # A real launch through the CLI: Dagster's multiprocess executor, one process per step, all
    # writing their events to Postgres.
    env = subprocess_env(DAGSTER_HOME=str(home), REER_DATA_DIR=str(data_root), **postgres.env())
    dagster = Path(sys.executable).with_name("dagster")
    out = run_in_group(
        [str(dagster), "job", "execute", "-m", "reer_pipeline.definitions", "-j", "ingest"]
        + ["--tags", json.dumps({"dagster/partition": key})],
        timeout=240,
        cwd=ROOT,
        env=env,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]

    # Nothing went to SQLite under DAGSTER_HOME.
    assert not list(home.rglob("*.db")), list(home.rglob("*.db"))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name="ingest"))
        assert len(runs) == 1
        run = runs[0]
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == key
        records = instance.fetch_materializations(dg.AssetKey("posts"), limit=5).records
        assert [r.run_id for r in records] == [run.run_id]
        assert (
            records[0].asset_materialization.metadata["dagster/row_count"].value
            == sample_facts.posts
        )
        export = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("export_files"), asset_partitions=[key]),
            limit=5,
        ).records
        assert [r.run_id for r in export] == [run.run_id]
        assert instance.get_dynamic_partitions(export_partitions.name) == [key]
        # The multiprocess executor ran each step in a process of its own.
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.is_dagster_event]
        run_pid = next(e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START)
        step_pids = [e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START]
        assert len(step_pids) >= 3 and len(set(step_pids)) == len(step_pids)
        assert run_pid not in step_pids
        checks = [
            e
            for e in instance.all_logs(run.run_id)
            if e.is_dagster_event
            and e.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ]
        assert checks and all(e.dagster_event.event_specific_data.passed for e in checks)

    # The same facts, read straight from Postgres's tables with psql.
    run_id = run.run_id
    assert postgres.psql(f"SELECT status FROM runs WHERE run_id = '{run_id}'") == [["SUCCESS"]]
    materialized = postgres.psql(
        "SELECT asset_key, coalesce(partition, '') FROM event_logs "
        f"WHERE run_id = '{run_id}' AND dagster_event_type = 'ASSET_MATERIALIZATION' "
        "ORDER BY asset_key"
    )
    assert materialized == [
        ['["export_files"]', key],
        ['["post_features"]', ""],
        ['["posts"]', ""],
        ['["top_posts"]', ""],
    ]
    assert postgres.psql(
        "SELECT count(*) FROM event_logs WHERE run_id = "
        f"'{run_id}' AND dagster_event_type = 'ASSET_CHECK_EVALUATION'"
    ) == [[str(len(checks))]]
