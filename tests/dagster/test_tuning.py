"""The tuned_program asset: GEPA on the sample export with the embedded model and a tiny budget,
stopped by its time limit, then resumed from its log by the next materialization."""

import json

import dagster as dg
import pytest

from reer_pipeline.definitions import defs
from reer_pipeline.optimize.store import best_program
from reer_pipeline.program.modules import DraftProgram, load_program
from tests.conftest import SAMPLE, copy_export
from tests.dagster.test_ingest_assets import ingest

PARTITION = "x:BarackObama|gepa"
TINY = {"max_examples": 8, "max_metric_calls": 8, "max_tokens": 48, "reflection_max_tokens": 96}


def tune(instance, partition: str, **config):
    return defs.resolve_job_def("tuning").execute_in_process(
        instance=instance,
        partition_key=partition,
        run_config={"ops": {"tuned_program": {"config": TINY | config}}},
    )


@pytest.mark.slow
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
