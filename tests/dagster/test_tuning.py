"""The tuned_program asset: GEPA on the sample export with the embedded model and a tiny budget,
stopped by its time limit, then resumed from its log by the next materialization."""

import json

import dagster as dg
import mlflow
import pytest

from reer_pipeline.definitions import defs
from reer_pipeline.optimize.store import best_program
from reer_pipeline.program.modules import DraftProgram, load_program
from tests.conftest import SAMPLE, copy_export
from tests.dagster.test_ingest_assets import ingest
from tests.test_tracking import runs

PARTITION = "x:BarackObama|gepa"
TINY = {"max_examples": 8, "max_metric_calls": 8, "max_tokens": 48, "reflection_max_tokens": 96}


def tune(instance, partition: str, **config):
    return defs.resolve_job_def("tuning").execute_in_process(
        instance=instance,
        partition_key=partition,
        run_config={"ops": {"tuned_program": {"config": TINY | config}}},
    )


@pytest.mark.slow
@pytest.mark.usefixtures("tracking_on")  # the same runs also check their MLflow runs
def test_gepa_partition_stops_resumes_and_saves_what_draft_loads(data_root):
    with dg.instance_for_test() as instance:
        assert ingest(instance, copy_export(SAMPLE, data_root))[0].success
        prep = defs.resolve_job_def("mining").execute_in_process(
            instance=instance,
            partition_key="x:BarackObama",
            asset_selection=[dg.AssetKey("engagement_model")],
        )
        assert prep.success

        first = tune(instance, PARTITION, time_limit_s=0.001)  # stops after the seed's val eval
        meta = first.asset_materializations_for_node("tuned_program")[0].metadata
        assert meta["stopped_early"].value and meta["resumed_from_calls"].value == 0
        assert meta["metric_calls"].value == meta["n_val"].value == 2
        run = meta["run"].value
        folder = data_root / "programs" / "x__BarackObama" / "gepa"
        assert (folder / "runs" / run / "gepa_state.bin").exists()

        second = tune(instance, PARTITION)
        meta = second.asset_materializations_for_node("tuned_program")[0].metadata
        assert meta["resumed_from_calls"].value == 2 and not meta["stopped_early"].value
        assert meta["run"].value == run  # same data and settings: the same log
        assert meta["metric_calls"].value >= TINY["max_metric_calls"]
        assert meta["rollouts_this_run"].value > 0
        (check,) = second.get_asset_check_evaluations()
        assert check.check_name == "tuned_beats_base"
        assert check.severity == dg.AssetCheckSeverity.WARN

    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert evaluation["n_test"] == meta["n_test"].value == len(evaluation["per_example"]) == 2
    assert evaluation["delta_low"] <= evaluation["delta_mean"] <= evaluation["delta_high"]
    assert meta["tuned_test_score"].value == evaluation["tuned_mean"]
    assert check.passed == (evaluation["tuned_mean"] > evaluation["base_mean"])
    splits = evaluation["splits"]
    assert splits["train"][1] < splits["val"][0] <= splits["val"][1] < splits["test"][0]
    details = json.loads((folder / "detailed_results.json").read_text())
    assert details["total_metric_calls"] == meta["metric_calls"].value
    assert (folder / "validation.png").read_bytes()[:4] == b"\x89PNG"
    assert "data:image/png;base64," in meta["validation_curve"].value

    program = load_program(folder / "program.json")
    assert isinstance(program, DraftProgram)
    best = details["candidates"][details["best_idx"]]
    assert program.compose.signature.instructions == best["compose"]
    # `reer draft` and the candidates asset load it, unless it lost on the test split
    expected = None if evaluation["delta_mean"] < 0 else folder / "program.json"
    assert best_program(folder.parent) == expected

    # the second run's MLflow run: config, validation curve, evaluation and the program itself
    client, found = runs(data_root)
    tuned = [r for r in found if r.data.tags["asset"] == "tuned_program"]
    (run,) = [r for r in tuned if meta["mlflow_run"].value.endswith(f"/runs/{r.info.run_id}")]
    assert run.data.params["max_metric_calls"] == str(TINY["max_metric_calls"])
    assert run.data.params["optimizer"] == "gepa"
    for key in ("base_test_score", "tuned_test_score", "delta_95_low", "delta_95_high"):
        assert run.data.metrics[key] == pytest.approx(meta[key].value)
    curve = client.get_metric_history(run.info.run_id, "validation_score")
    assert [(m.step, m.value) for m in curve] == [tuple(p) for p in meta["validation_points"].value]
    best = client.get_metric_history(run.info.run_id, "best_validation_score")
    assert [m.value for m in best] == sorted(m.value for m in best)  # never falls
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"program.json", "evaluation.json", "validation.png", "instructions.json"} <= files
    models = client.search_logged_models([run.info.experiment_id])
    (model,) = [m for m in models if m.source_run_id == run.info.run_id]
    logged = mlflow.dspy.load_model(model.artifact_location)
    mlflow.clear_active_model()  # loading made it the active model (see tests/test_tracking.py)
    assert logged.compose.signature.instructions == program.compose.signature.instructions
