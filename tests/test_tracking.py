"""MLflow tracking: runs in the local store under the data root, read back with MlflowClient;
off records nothing; a broken store is logged once and never fails the caller or the asset."""

import json
import math
import os

import dagster as dg
import mlflow
import pytest

from reer_pipeline.definitions import defs
from reer_pipeline.platforms import Account
from reer_pipeline.program.modules import DraftProgram, load_program
from reer_pipeline.tracking import (
    Record,
    Tracker,
    TrackingSettings,
    benchmark_record,
    local_store,
    numbers,
    read_runs,
)
from tests.conftest import SAMPLE, copy_export
from tests.dagster.test_ingest_assets import ingest

pytestmark = pytest.mark.usefixtures("tracking_on")  # off elsewhere (tests/conftest.py)


ACCOUNT = "x:BarackObama"


def runs(root, experiment="reer_pipeline"):
    client = mlflow.MlflowClient(local_store(root)[0])
    found = client.get_experiment_by_name(experiment)
    return client, client.search_runs([found.experiment_id]) if found else []


def test_a_record_lands_in_the_local_store_with_its_series_and_files(tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"x": 1}))
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\0" * 10)
    record = Record(
        name="a run",
        tags={"account": ACCOUNT},
        params={"rank": 16, "nested": {"lr": 3e-4}, "none": None},
        metrics={"ppl": 12.5, "beats": True, "nan": math.nan, "text": "x", "d": {"low": 0.1}},
        series={"loss": [(0, 3.0), (5, 2.0), (10, 1.5)]},
        artifacts=[report, folder, tmp_path / "absent.png"],
        texts={"report.md": "| a |"},
    )
    warnings = []
    url = Tracker(TrackingSettings(), tmp_path, warnings.append, {"dagster_run_id": "r1"}).log(
        lambda: record
    )
    assert warnings == []
    client, (run,) = runs(tmp_path)
    assert (
        url
        == f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    )
    assert run.info.status == "FINISHED" and run.info.run_name == "a run"
    assert run.data.params == {"rank": "16", "nested.lr": "0.0003"}
    assert run.data.metrics == {"ppl": 12.5, "beats": 1.0, "d.low": 0.1, "loss": 1.5}
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == record.series["loss"]
    assert run.data.tags["account"] == ACCOUNT and run.data.tags["dagster_run_id"] == "r1"
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert files == {"report.json", "adapter", "report.md"}
    assert [a.path for a in client.list_artifacts(run.info.run_id, "adapter")] == [
        "adapter/weights.bin"
    ]
    assert run.info.artifact_uri.startswith((tmp_path / "mlartifacts").resolve().as_uri())


def test_the_program_flavor_loads_and_leaves_mlflow_global_state_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = tmp_path / "program.json"
    DraftProgram().save(str(path))
    first, second = tmp_path / "one", tmp_path / "two"
    assert Tracker(TrackingSettings(), first).log(lambda: Record("p", program=path))
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert Tracker(TrackingSettings(), second).log(benchmark_record, "b", {}, {"x": 1.0})
    client, (run,) = runs(first)
    assert len(runs(second)[1]) == 1  # the second run went to its own store
    (model,) = client.search_logged_models([run.info.experiment_id])
    loaded = mlflow.dspy.load_model(model.artifact_location)
    # loading makes it MLflow's active model, whose id later metrics would carry into other stores
    mlflow.clear_active_model()
    assert (
        loaded.compose.signature.instructions == load_program(path).compose.signature.instructions
    )


def test_off_records_nothing_and_never_builds_the_record(tmp_path):
    def build():
        raise AssertionError("built while tracking is off")

    assert Tracker(TrackingSettings(enabled=False), tmp_path).log(build) is None
    assert not (tmp_path / "mlflow.db").exists()


def test_a_broken_store_is_logged_once_and_never_raises(tmp_path):
    (tmp_path / "a_file").write_text("")
    warnings = []
    broken = TrackingSettings(uri=f"sqlite:///{tmp_path}/a_file/mlflow.db")  # cannot be made
    tracker = Tracker(broken, tmp_path, warnings.append)
    figures = {"min_auc": 0.9}
    assert tracker.log(benchmark_record, "b", {}, figures) is None
    assert tracker.log(benchmark_record, "b", {}, figures) is None
    assert len(warnings) == 1 and "a_file" in warnings[0]


def test_reading_an_absent_store_finds_no_runs_and_creates_none(tmp_path):
    assert read_runs(tmp_path)[1] == []
    assert not (tmp_path / "mlflow.db").exists()
    Tracker(TrackingSettings(), tmp_path).log(benchmark_record, "b", {}, {"x": 1.0})
    assert [r.info.run_name for r in read_runs(tmp_path, where="tags.benchmark = 'b'")[1]] == ["b"]


def test_numbers_keeps_finite_numbers_of_nested_reports():
    values = {"a": 1, "b": {"c": 2.5, "d": "x", "e": [1]}, "f": math.inf, "g": False}
    assert numbers(values) == {"a": 1.0, "b.c": 2.5, "g": 0.0}


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("REER_TRACKING", "off")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    settings = TrackingSettings.from_env()
    assert not settings.enabled and settings.uri == "http://127.0.0.1:5999"
    tracker = Tracker(settings, "unused")
    assert tracker.ui == "http://127.0.0.1:5999" and tracker.artifacts is None


def engagement(instance, tracking: dict | None = None):
    """Materialize the real engagement_model of the sample's account (no language model)."""
    job = defs.resolve_job_def("mining")
    run_config = {"resources": {"tracking": {"config": tracking}}} if tracking else {}
    return job.execute_in_process(
        instance=instance,
        partition_key=ACCOUNT,
        asset_selection=[dg.AssetKey("engagement_model")],
        run_config=run_config,
    )


def test_engagement_model_links_its_run_off_makes_none_broken_is_logged(data_root):
    with dg.instance_for_test() as instance:
        assert ingest(instance, copy_export(SAMPLE, data_root))[0].success
        result = engagement(instance)
        meta = result.asset_materializations_for_node("engagement_model")[0].metadata
        client, (run,) = runs(data_root)
        assert meta["mlflow_run"].value.endswith(f"/runs/{run.info.run_id}")
        assert run.data.tags["dagster_run_id"] == result.run_id
        assert run.data.tags["dagster_partition"] == ACCOUNT
        assert run.data.metrics["n_test"] == meta["n_test"].value
        assert run.data.metrics["beats_baselines"] == float(meta["beats_baselines"].value)
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"report.md", "report.json", f"{Account.parse(ACCOUNT).slug}.png"} <= files

        off = engagement(instance, {"enabled": False})
        assert (
            off.success
            and "mlflow_run"
            not in off.asset_materializations_for_node("engagement_model")[0].metadata
        )
        assert len(runs(data_root)[1]) == 1

        (data_root / "a_file").write_text("")
        uri = f"sqlite:///{data_root}/a_file/mlflow.db"
        broken = engagement(instance, {"tracking_uri": uri})
        assert broken.success
        assert (
            "mlflow_run"
            not in broken.asset_materializations_for_node("engagement_model")[0].metadata
        )
        warnings = [
            e.message
            for e in instance.all_logs(broken.run_id)
            if e.message and "MLflow tracking" in e.message
        ]
        assert len(warnings) == 1 and uri in warnings[0]
        assert len(runs(data_root)[1]) == 1
