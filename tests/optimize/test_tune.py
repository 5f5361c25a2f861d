"""Optimizer choice, the held-out comparison and its bootstrap interval, the validation plot."""

import base64

import pytest

from reer_pipeline.optimize.tune import (
    SMALL_TRAINSET,
    GEPAProgress,
    choose_optimizer,
    compare,
    plot_curve,
)


def test_auto_picks_bootstrap_for_small_sets_or_budgets_and_gepa_otherwise():
    assert choose_optimizer("auto", SMALL_TRAINSET - 1, 5, 1000) == "bootstrap"
    assert choose_optimizer("auto", 30, 10, 60) == "bootstrap"  # < 2 passes over train + val
    assert choose_optimizer("auto", 30, 10, 80) == "gepa"
    assert choose_optimizer("auto", 30, 10, None) == "gepa"  # an auto level pays for itself
    assert choose_optimizer("mipro", 1, 1, 1) == "mipro"  # an explicit choice is kept
    with pytest.raises(ValueError, match="optimizer must be one of"):
        choose_optimizer("adam", 30, 10, 80)


def test_compare_reports_the_mean_difference_per_example():
    base = [
        {"post_id": str(i), "total": t, "text": "b", "feedback": ""}
        for i, t in enumerate([0.2, 0.4, 0.6])
    ]
    tuned = [
        {**b, "total": b["total"] + d, "text": "t"}
        for b, d in zip(base, [0.1, 0.0, -0.4], strict=True)
    ]
    out = compare(base, tuned)
    assert out["base_mean"] == pytest.approx(0.4) and out["tuned_mean"] == pytest.approx(0.3)
    assert out["delta_mean"] == pytest.approx(-0.1)
    assert out["delta_low"] <= -0.1 <= out["delta_high"]
    assert [r["delta"] for r in out["per_example"]] == [0.1, 0.0, -0.4]


def test_plot_curve_writes_a_png(tmp_path):
    path = tmp_path / "curve.png"
    encoded = plot_curve([(0, 0.4), (8, 0.35), (14, 0.5)], 20, "gepa", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert base64.b64decode(encoded) == path.read_bytes()


def test_round_robin_skips_predictors_that_did_not_run():
    from types import SimpleNamespace

    from reer_pipeline.optimize.tune import RanPredictorsRoundRobin
    from reer_pipeline.program.modules import DraftProgram

    program = DraftProgram()
    candidate = {n: p.signature.instructions for n, p in program.named_predictors()}
    names = list(candidate)
    assert names == ["ideate", "compose", "judge"]
    state = SimpleNamespace(
        list_of_named_predictors=names,
        named_predictor_id_to_update_next_for_program_candidate=[0],
    )
    ran = [{"trace": [(program.ideate, {}, {}), (program.compose, {}, {})]}]  # no debate: no judge
    select = RanPredictorsRoundRobin()
    picks = [select(state, ran, [], 0, candidate)[0] for _ in range(4)]
    assert picks == ["ideate", "compose", "ideate", "compose"]


def test_gepa_progress_never_reports_more_calls_than_its_budget_as_a_fraction():
    from types import SimpleNamespace

    lines = []
    progress = GEPAProgress(lines.append)
    progress.optimizer = SimpleNamespace(max_metric_calls=10)
    for i, used in enumerate([2, 8, 14]):  # GEPA finishes the iteration that crosses 10
        state = SimpleNamespace(
            total_num_evals=used, program_full_scores_val_set=[0.1], program_candidates=[0]
        )
        progress.on_iteration_end({"iteration": i, "state": state})
    assert lines[0].startswith("GEPA iteration 0: 2 metric calls of a budget of 10,")
    assert "8 metric calls of a budget of 10; about 1 iterations" in lines[1]
    assert "14 metric calls (budget 10 reached: this was the last iteration)" in lines[2]
    assert not any("of 10 metric" in line for line in lines)
