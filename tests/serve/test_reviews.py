"""The `reviews` asset reads the review log into the warehouse through a real Dagster run."""

import dagster as dg
import duckdb

from reer_pipeline.assets.reviews import new_decisions_sensor, reviews
from reer_pipeline.definitions import defs
from reer_pipeline.resources.storage import Storage
from reer_pipeline.serve.desk import Desk
from tests.serve.conftest import ACCOUNT


def materialize_reviews(instance) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions("accounts", [ACCOUNT.key])
    return defs.resolve_job_def("review").execute_in_process(
        instance=instance, partition_key=ACCOUNT.key
    )


def reviews_table(root) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            """SELECT draft_id, decision, reason, edited, latest, approved_text FROM reviews
            WHERE platform = ? AND author = ? ORDER BY seq""",
            [ACCOUNT.platform, ACCOUNT.author],
        ).fetchall()


def test_each_decision_shows_with_its_draft_id(layout, desk_root):
    desk = Desk(layout)
    drafts = desk.queue(ACCOUNT)["drafts"]
    desk.decide(ACCOUNT, drafts[0]["draft_id"], "approved")
    desk.decide(ACCOUNT, drafts[1]["draft_id"], "rejected", reason="off_topic", note="not this")
    desk.decide(ACCOUNT, drafts[1]["draft_id"], "rejected", reason="bland")  # changed its mind
    assert defs.resolve_asset_graph().get(dg.AssetKey("reviews")).parent_keys == set()
    with dg.instance_for_test() as instance:
        result = materialize_reviews(instance)
        assert result.success
        meta = result.asset_materializations_for_node(reviews.op.name)[0].metadata
    assert meta["summary"].value == "approved 1, rejected 1"
    assert meta["dagster/row_count"].value == 3
    assert reviews_table(desk_root) == [
        (drafts[0]["draft_id"], "approved", None, False, True, drafts[0]["text"]),
        (drafts[1]["draft_id"], "rejected", "off_topic", False, False, None),
        (drafts[1]["draft_id"], "rejected", "bland", False, True, None),
    ]


def test_new_decisions_start_one_review_run_per_account(layout, desk_root):
    def tick(instance, cursor=None):
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"storage": Storage()}
        )
        return new_decisions_sensor(context)

    with dg.instance_for_test() as instance:
        assert "no review log" in tick(instance).skip_message
        desk = Desk(layout)  # the desk creates the log
        instance.add_dynamic_partitions("accounts", [ACCOUNT.key])
        first = tick(instance)
        assert first.run_requests == []  # no decision yet
        did = desk.queue(ACCOUNT)["drafts"][0]["draft_id"]
        desk.decide(ACCOUNT, did, "approved")
        second = tick(instance, first.cursor)
        assert [r.partition_key for r in second.run_requests] == [ACCOUNT.key]
        assert tick(instance, second.cursor).run_requests == []  # nothing new since
