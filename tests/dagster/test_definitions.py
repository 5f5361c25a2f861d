"""The code location as the dagster CLI and the UI load it."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from reer_pipeline.definitions import defs
from tests.conftest import ROOT


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


def test_graph_jobs_schedule_and_sensor():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys == {
        "export_files",
        "posts",
        "top_posts",
        "reer_traces",
        "post_features",
        "writing_strategies",
        "engagement_model",
        "candidates",
        "candidate_scores",
        "tuned_program",
        "author_adapter",
    }
    for name in ("mining", "author_model", "drafting", "refresh"):
        assert defs.resolve_job_def(name).partitions_def.name == "accounts"
    assert defs.resolve_job_def("ingest").partitions_def.name == "export_files"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("accounts", ["x:ann", "mastodon:bob"])
        tuning = defs.resolve_job_def("tuning").partitions_def
        keys = tuning.get_partition_keys(dynamic_partitions_store=instance)
        assert "x:ann|gepa" in keys and len(keys) == 2 * 4
    schedule = defs.resolve_schedule_def("nightly_remine")
    assert schedule.execution_timezone == os.environ.get("REER_SCHEDULE_TZ", "UTC")
    assert defs.resolve_sensor_def("new_export_sensor")
    assert defs.resolve_sensor_def("changed_accounts_sensor")


def test_candidates_lineage_runs_through_tuned_program_and_account_partitions():
    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string() for k in graph.get(dg.AssetKey("candidates")).parent_keys}
    assert {"tuned_program", "writing_strategies", "author_adapter"} <= parents
    tuning_parents = graph.get(dg.AssetKey("tuned_program")).parent_keys
    assert dg.AssetKey("author_adapter") in tuning_parents
    assert dg.AssetKey("reer_traces") in graph.get(dg.AssetKey("author_adapter")).parent_keys
    names = (
        "reer_traces",
        "writing_strategies",
        "engagement_model",
        "author_adapter",
        "candidates",
    )
    for name in names:
        assert graph.get(dg.AssetKey(name)).partitions_def.name == "accounts"


def test_every_resource_initializes(data_root):
    with dg.build_resources(defs.resources) as resources:
        assert resources.warehouse and resources.language_models


def test_model_pools_and_one_duckdb_writer():
    pools = {a.key.to_user_string(): a.op.pools for a in defs.assets}
    assert pools["reer_traces"] == {"lm"} and pools["candidates"] == {"lm"}
    assert pools["tuned_program"] == {"lm"} and pools["author_adapter"] == {"lm"}
    assert pools["posts"] == {"duckdb"} and pools["top_posts"] == {"duckdb"}
