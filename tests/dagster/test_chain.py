"""The whole chain on the sample export, with the embedded model and tiny budgets:
ingest -> mining -> drafting, through a real instance and a real DuckDB file."""

import dagster as dg
import duckdb
import pytest

from reer_pipeline.definitions import defs
from reer_pipeline.reer.store import TraceStore
from tests.conftest import SAMPLE, copy_export
from tests.dagster.test_ingest_assets import ingest

TINY = {
    "max_posts": 1,
    "max_steps": 1,
    "n_candidates": 2,
    "max_tokens_request": 32,
    "max_tokens_draft": 96,
    "max_tokens_rewrite": 48,
    "min_segment_chars": 40,
}


@pytest.mark.slow
def test_whole_chain_mines_incrementally_then_drafts_and_ranks(data_root):
    with dg.instance_for_test() as instance:
        assert ingest(instance, copy_export(SAMPLE, data_root))[0].success
        job = defs.resolve_job_def("mining")
        config = {
            "ops": {
                "reer_traces": {"config": TINY},
                "post_features": {"config": {"n_boot": 50}},
                "writing_strategies": {"config": {"max_tokens": 96, "max_clusters": 2}},
            }
        }
        result = job.execute_in_process(instance=instance, run_config=config)
        assert result.success
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks["no_trace_got_worse"].passed
        assert "beats_every_baseline" in checks and "improved_share" in checks

        meta = result.asset_materializations_for_node("reer_traces")[0].metadata
        assert meta["mined_this_run"].value == 1 == meta["dagster/row_count"].value
        assert meta["model_calls"].value >= 3  # request, draft, at least one rewrite or score
        traces = list(TraceStore().read())
        assert len(traces) == 1 and traces[0]["score_after"] <= traces[0]["score_before"]

        # A second run skips the post that has a trace under this config and mines the next one.
        again = job.execute_in_process(
            instance=instance,
            run_config={"ops": {"reer_traces": {"config": TINY}}},
            asset_selection=[dg.AssetKey("reer_traces")],
        )
        meta = again.asset_materializations_for_node("reer_traces")[0].metadata
        assert meta["skipped_existing"].value == 1 and meta["mined_this_run"].value == 1
        ids = [t["id"] for t in TraceStore().read()]
        assert len(ids) == len(set(ids)) == 2 == meta["dagster/row_count"].value
        assert traces[0]["id"] in ids

        cards_meta = result.asset_materializations_for_node("writing_strategies")[0].metadata
        engagement = result.asset_materializations_for_node("engagement_model")[0].metadata

        drafting = defs.resolve_job_def("drafting").execute_in_process(
            instance=instance,
            run_config={
                "ops": {
                    "candidates": {"config": {"max_topics": 1, "n_angles": 1, "max_tokens": 64}}
                }
            },
        )
        assert drafting.success
        checks = {e.check_name: e for e in drafting.get_asset_check_evaluations()}
        assert checks["candidates_within_limits"].passed
        assert "candidates_schema_valid" in checks
        scores_meta = drafting.asset_materializations_for_node("candidate_scores")[0].metadata
    with duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True) as con:
        cards = con.execute("SELECT source_post_ids, written_by FROM strategy_cards").fetchall()
        assert cards and cards[0][0] == [traces[0]["post_id"]]
        assert cards_meta["dagster/row_count"].value == len(cards)
        assert con.execute("SELECT count(*) FROM post_features").fetchone()[0] == 3207 - 351
    assert "BarackObama" in engagement["spearman"].value
    assert (data_root / "engagement" / "x__BarackObama.joblib").exists()
    assert 0 <= cards_meta["card_parse_failures"].value <= cards_meta["card_calls"].value

    with duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            """SELECT c.topic, c.generation, c.program, c.strategy, s.total, s.rank,
                s.heuristics, s.style_fit, s.engagement, s.feedback
            FROM candidates c JOIN candidate_scores s ON s.candidate_id = c.id"""
        ).fetchall()
    assert rows and scores_meta["dagster/row_count"].value == len(rows)
    for _, generation, program, strategy, total, rank, heur, style, eng, feedback in rows:
        assert generation == "single" and program == "base" and strategy
        assert 0 <= heur <= 1 and 0 <= style <= 1 and 0 <= eng <= 1 and feedback
        assert 0 <= total <= 1 and rank >= 1
    assert rows[0][0] in scores_meta["top_drafts"].value
