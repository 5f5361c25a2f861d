"""The whole chain for two real accounts on the same platform, with the embedded model and tiny
budgets, through a real instance and a real DuckDB file: ingest registers one partition per
account, and every trace, strategy card, program, candidate and score belongs to its own account.
The second account (a real X archive) comes from ../shared and is skipped when that is absent."""

import dagster as dg
import duckdb
import pytest

from reer_pipeline.definitions import defs
from reer_pipeline.reer.store import TraceStore
from tests.conftest import SAMPLE, SHARED_EXPORTS, copy_export
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
MINING = {
    "ops": {
        "reer_traces": {"config": TINY},
        "writing_strategies": {"config": {"max_tokens": 96, "max_clusters": 2}},
    }
}
# one draft per account: this test is about whose data is used, not how good the draft is
DRAFT = {"max_topics": 1, "n_angles": 1, "max_tokens": 64}
DRAFTING = {"ops": {"candidates": {"config": DRAFT | {"min_usable_rate": 0.0}}}}
JUNK_FLOOR = {"ops": {"candidates": {"config": DRAFT | {"min_usable_rate": 1.01}}}}
TUNING = {"ops": {"tuned_program": {"config": {"max_examples": 6, "max_tokens": 32}}}}
SAMPLE_ACCOUNT = "x:BarackObama"


def run(instance, job, partition, config=None, **kw):
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, run_config=config or {}, **kw
    )
    assert result.success or kw.get("raise_on_error") is False
    return result


@pytest.mark.slow
def test_two_accounts_get_their_own_traces_cards_programs_and_drafts(data_root):
    archive = SHARED_EXPORTS / "x_archive_andreruffert_tweets.js"
    with dg.instance_for_test() as instance:
        result, _ = ingest(instance, copy_export(SAMPLE, data_root))
        assert result.success
        meta = result.asset_materializations_for_node("posts")[0].metadata
        assert meta["changed_accounts"].value == [SAMPLE_ACCOUNT]
        if archive.exists():
            result, _ = ingest(instance, copy_export(archive, data_root))
            meta = result.asset_materializations_for_node("posts")[0].metadata
            assert meta["changed_accounts"].value == ["x:andreruffert"]  # the sample is unchanged
        accounts = instance.get_dynamic_partitions("accounts")
        assert accounts == [SAMPLE_ACCOUNT, "x:andreruffert"][: 1 + archive.exists()]

        first = {}
        for account in accounts:
            first[account] = run(instance, "mining", account, MINING)
            run(instance, "tuning", f"{account}|bootstrap", TUNING)
            run(instance, "drafting", account, DRAFTING)

        # Mining is incremental per account: a second run skips the traced post, mines the next.
        again = run(
            instance,
            "mining",
            SAMPLE_ACCOUNT,
            {"ops": {"reer_traces": {"config": TINY}}},
            asset_selection=[dg.AssetKey("reer_traces")],
        )
        meta = again.asset_materializations_for_node("reer_traces")[0].metadata
        assert meta["skipped_existing"].value == 1 and meta["mined_this_run"].value == 1
        assert meta["dagster/row_count"].value == 2

        # below its floor `usable_rate` blocks: the drafts are recorded, never scored
        scored = instance.get_latest_materialization_event(dg.AssetKey("candidate_scores"))
        blocked = run(instance, "drafting", SAMPLE_ACCOUNT, JUNK_FLOOR, raise_on_error=False)
        assert not blocked.success
        assert blocked.asset_materializations_for_node("candidates")
        latest = instance.get_latest_materialization_event(dg.AssetKey("candidate_scores"))
        assert latest.run_id == scored.run_id

    traces = list(TraceStore(data_root / "traces").read())
    by_account = {}
    for t in traces:
        by_account.setdefault(f"{t['platform']}:{t['author']}", []).append(t["id"])
    assert {k: len(v) for k, v in by_account.items()} == {
        a: 2 if a == SAMPLE_ACCOUNT else 1 for a in accounts
    }
    assert len({t["id"] for t in traces}) == len(traces)
    for account in accounts:
        checks = {e.check_name: e for e in first[account].get_asset_check_evaluations()}
        assert checks["no_trace_got_worse"].passed
        platform, author = account.split(":")
        folder = data_root / "programs" / f"{platform}__{author}" / "bootstrap"
        assert (folder / "program.json").exists() and (folder / "evaluation.json").exists()
        assert (data_root / "engagement" / f"{platform}__{author}.joblib").exists()

    kept = {f"{t['platform']}:{t['author']}" for t in traces if t["kept"]}
    own = {
        a: {t["post_id"] for t in traces if f"{t['platform']}:{t['author']}" == a}
        for a in by_account
    }
    with duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True) as con:
        for table in ("strategy_cards", "candidates", "candidate_scores"):
            found = con.execute(
                f"SELECT DISTINCT platform || ':' || author FROM {table} ORDER BY 1"
            ).fetchall()
            # cards come from kept traces only; every account gets drafts and scores
            expected = sorted(kept if table == "strategy_cards" else accounts)
            assert sorted(r[0] for r in found) == expected, table
        cards = con.execute(
            "SELECT platform || ':' || author, source_post_ids FROM strategy_cards"
        ).fetchall()
        for account, sources in cards:
            assert set(sources) <= own[account]  # a card is built from its own account's traces
        drafts = con.execute(
            """SELECT c.platform || ':' || c.author, c.trajectory_post_ids, c.program,
                s.total, s.rank
            FROM candidates c JOIN candidate_scores s ON s.candidate_id = c.id
                AND s.platform = c.platform AND s.author = c.author"""
        ).fetchall()
    assert {d[0] for d in drafts} == set(accounts)
    for account, shown, program, total, rank in drafts:
        assert set(shown) <= own[account]  # only its own traces are shown to the program
        assert program == "base" or f"/{account.replace(':', '__')}/" in program
        assert 0 <= total <= 1 and rank >= 1


def test_candidates_depend_on_every_tuned_program_of_their_own_account():
    """The inferred mapping: a `candidates` partition reads its account's tuned programs (one per
    optimizer) and no other account's."""
    from reer_pipeline.assets.partitions import account_partitions, tuning_partitions

    graph = defs.resolve_asset_graph()
    mapping = graph.get_partition_mapping(dg.AssetKey("candidates"), dg.AssetKey("tuned_program"))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(account_partitions.name, ["x:a", "x:b"])
        with dg.partition_loading_context(dynamic_partitions_store=instance):
            wanted = account_partitions.subset_with_partition_keys(["x:a"])
        upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
            wanted, account_partitions, tuning_partitions, dynamic_partitions_store=instance
        ).partitions_subset
        keys = {k.keys_by_dimension["account"] for k in upstream.get_partition_keys()}
        optimizers = tuning_partitions.get_partitions_def_for_dimension("optimizer")
        assert keys == {"x:a"}
        assert len(list(upstream.get_partition_keys())) == len(optimizers.get_partition_keys())
