"""The celery executor with a real Redis broker and a real worker process running the steps."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import psutil
import pytest
from dagster._serdes import serialize_value

from reer_pipeline.assets.ingest import partition_key
from reer_pipeline.assets.partitions import export_partitions
from tests.conftest import ROOT, SAMPLE, copy_export
from tests.deploy.conftest import log_tail, run_in_group, stop_group, subprocess_env

pytest.importorskip("dagster_celery", reason="dagster-celery is not installed")

WORKER_CONFIG = ROOT / "deploy" / "celery" / "worker.yaml"
WORKER_NAME = "reer-test"


@pytest.fixture
def celery_worker(redis_server, data_root, tmp_path):
    """A DAGSTER_HOME shared by the run and a real `dagster-celery worker start` process."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")  # SQLite: one machine here
    env = subprocess_env(
        DAGSTER_HOME=str(home),
        REER_DATA_DIR=str(data_root),
        REER_CELERY_BROKER=redis_server.url,
        REER_CELERY_BACKEND=redis_server.url,
    )
    log = tmp_path / "worker.log"
    worker_cli = Path(sys.executable).with_name("dagster-celery")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(worker_cli), "worker", "start", "-A", "dagster_celery.app"]
            + ["-y", str(WORKER_CONFIG), "-n", WORKER_NAME, "-l", "INFO"]
            + ["--", "--concurrency=2", "--without-gossip", "--without-mingle"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        from celery import Celery

        probe = Celery(broker=redis_server.url, backend=redis_server.url)
        deadline = time.monotonic() + 90
        while not probe.control.ping(timeout=1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("celery worker did not answer a ping:\n" + log_tail(log))
        probe.close()
        yield home, env, proc, log
    finally:
        stop_group(proc)


@pytest.mark.slow  # starts Redis and a celery worker
def test_ingest_steps_run_on_the_celery_worker(celery_worker, data_root, sample_facts):
    home, env, worker, log = celery_worker
    key = partition_key(copy_export(SAMPLE, data_root))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(export_partitions.name, [key])
    worker_pids = {worker.pid} | {p.pid for p in psutil.Process(worker.pid).children(True)}

    # The run is launched from another process, with the executor REER_EXECUTOR picks.
    dagster = Path(sys.executable).with_name("dagster")
    out = run_in_group(
        [str(dagster), "job", "execute", "-m", "reer_pipeline.definitions", "-j", "ingest"]
        + ["--tags", json.dumps({"dagster/partition": key})],
        timeout=240,
        cwd=ROOT,
        env=env | {"REER_EXECUTOR": "celery"},
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:] + "\n" + log_tail(log)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs(dg.RunsFilter(job_name="ingest"))
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == key
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.is_dagster_event]
        # The broker is configured by env var name: its URL is in no stored run or snapshot.
        stored = serialize_value(run) + serialize_value(
            instance.get_job_snapshot(run.job_snapshot_id)
        )
        assert env["REER_CELERY_BROKER"] not in stored and "redis://" not in stored
    steps = {e.step_key for e in events if e.event_type == dg.DagsterEventType.STEP_SUCCESS}
    assert {"export_files", "posts", "top_posts"} <= steps

    # Every step was handed to the worker through the broker: its engine event names the worker,
    # and the step itself ran in one of the worker's pool processes, not in the run's process.
    on_worker = {
        e.step_key: e.event_specific_data.metadata["Celery worker"].value
        for e in events
        if e.event_type == dg.DagsterEventType.ENGINE_EVENT
        and "in celery worker" in (e.message or "")
    }
    assert set(on_worker) == steps
    assert all(host.startswith(WORKER_NAME + "@") for host in on_worker.values()), on_worker
    step_pids = {e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START}
    assert step_pids <= worker_pids, (step_pids, worker_pids)
    run_pid = next(e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START)
    assert run_pid not in worker_pids
    worker_log = log.read_text(errors="replace")
    assert worker_log.count("Task execute_plan[") >= len(steps), worker_log[-3000:]

    with duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM posts").fetchall() == [(sample_facts.posts,)]
