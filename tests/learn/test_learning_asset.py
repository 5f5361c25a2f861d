"""The `learn` job in a real Dagster instance: the review log -> reviews -> preference_model,
and the sensor that starts it after enough new decisions."""

import dagster as dg
import duckdb

from reer_pipeline.assets.learning import LearningSettings, learn_sensor, preference_model
from reer_pipeline.definitions import defs
from reer_pipeline.layout import DataLayout
from reer_pipeline.learn.decisions import read_decisions
from reer_pipeline.resources.storage import Storage
from reer_pipeline.serve.store import ReviewStore, log_path
from tests.learn.conftest import ACCOUNT, taste_cases, with_taste


def test_decisions_reach_the_preference_model_and_the_sensor_waits_for_enough(data_root, tmp_path):
    store = ReviewStore(log_path(data_root))

    def tick(instance, cursor=None):
        resources = {"storage": Storage(), "learning": LearningSettings(min_new_decisions=50)}
        return learn_sensor(
            dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        )

    cases = taste_cases(tmp_path)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("accounts", [ACCOUNT.key])
        with_taste(store, cases[:40])
        first = tick(instance)
        assert first.run_requests == []  # 40 new decisions, 50 needed
        with_taste(store, cases[40:])
        second = tick(instance, first.cursor)
        assert [r.partition_key for r in second.run_requests] == [ACCOUNT.key]
        assert tick(instance, second.cursor).run_requests == []  # nothing new since
        result = defs.resolve_job_def("learn").execute_in_process(
            instance=instance, partition_key=ACCOUNT.key
        )
        assert result.success
        meta = result.asset_materializations_for_node(preference_model.op.name)[0].metadata
    path = DataLayout.from_env().account(ACCOUNT).preference_model
    assert meta["adopted"].value is True and path.exists()
    assert "scorer component" in meta["scorer_component"].value
    with duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True) as con:
        assert len(read_decisions(con, ACCOUNT)) == len(store.decisions(ACCOUNT)) == len(cases)
