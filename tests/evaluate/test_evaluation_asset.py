"""The `evaluation` asset through a real Dagster instance on the sample, with tiny budgets and a
review log holding one approved and one rejected draft on a topic."""

import dagster as dg
import pytest

from reer_pipeline.definitions import defs
from reer_pipeline.platforms import Account
from reer_pipeline.serve.store import Decision, ReviewStore, draft_id, log_path
from reer_pipeline.tracking import read_runs
from tests.conftest import SAMPLE, copy_export
from tests.dagster.test_ingest_assets import ingest
from tests.sample_posts import sample_post

ACCOUNT = "x:BarackObama"


@pytest.mark.slow
def test_evaluation_asset_reports_a_tournament(data_root, tracking_on):
    account = Account.parse(ACCOUNT)
    store = ReviewStore(log_path(data_root))
    topic = "health care"
    for text, decision in (
        (sample_post("health care"), "approved"),
        ("care care care", "rejected"),
    ):
        store.record(
            Decision(
                draft_id(account.platform, account.author, topic, text),
                account,
                topic,
                text,
                decision,
                {},
                approved_text=text if decision == "approved" else None,
                reason="bland" if decision == "rejected" else None,
            )
        )
    config = {"systems": ["base", "self_consistency"], "n_requests": 2, "max_tokens": 32}
    with dg.instance_for_test() as instance:
        assert ingest(instance, copy_export(SAMPLE, data_root))[0].success
        result = defs.resolve_job_def("tournament").execute_in_process(
            instance=instance,
            partition_key=ACCOUNT,
            run_config={"ops": {"evaluation": {"config": config}}},
        )
    meta = result.asset_materializations_for_node("evaluation")[0].metadata
    table = meta["table"].value
    assert all(f"| {s} |" in table for s in config["systems"])
    assert "data:image/png;base64,iVBOR" in meta["plot"].value
    assert meta["judge"].value["method"] == "logprob"
    assert len(meta["topics"].value) == 2
    agreement = meta["decision_agreement"].value
    assert agreement["pairs"] == 1 and agreement["judge"]["n"] == 1
    assert (data_root / "evaluation" / "x__BarackObama" / "report.json").is_file()
    assert (data_root / "evaluation" / "x__BarackObama" / "tournament.png").is_file()
    # the tournament is an MLflow run too: a win rate per system, the plot and the report
    client, (run,) = read_runs(data_root)
    assert meta["mlflow_run"].value.endswith(run.info.run_id)
    for system in config["systems"]:
        assert any(k.startswith(f"systems.{system}.win_rate") for k in run.data.metrics)
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.json", "tournament.png", "table.md"} <= files
