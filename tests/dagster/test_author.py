"""The author_adapter asset through a real Dagster instance on the sample export: a tiny
training run, its metadata and check; candidates then drafts with the model drafting_model
picks, and no link placeholder reaches a saved draft; too few posts skip with a reason."""

import csv
import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from reer_pipeline.assets.author import AuthorAdapterConfig, author_adapter
from reer_pipeline.assets.config import domain_config
from reer_pipeline.assets.mining import reer_traces
from reer_pipeline.assets.tuning import tuned_program
from reer_pipeline.definitions import defs
from reer_pipeline.finetune import TrainConfig
from reer_pipeline.program.package import LINK, URL
from tests.conftest import SAMPLE, copy_export
from tests.dagster.test_ingest_assets import ingest
from tests.test_tracking import runs

ACCOUNT = "x:BarackObama"
TINY = {"max_steps": 2, "batch_tokens": 512, "max_test": 8}


def train(instance, config):
    return defs.resolve_job_def("author_model").execute_in_process(
        instance=instance,
        partition_key=ACCOUNT,
        run_config={"ops": {"author_adapter": {"config": config}}},
    )


@pytest.mark.slow
@pytest.mark.usefixtures("tracking_on")  # one training run also checks its MLflow run
def test_author_adapter_materializes_and_candidates_draft_with_the_chosen_model(data_root):
    with dg.instance_for_test() as instance:
        assert ingest(instance, copy_export(SAMPLE, data_root))[0].success
        result = train(instance, TINY)
        meta = result.asset_materializations_for_node("author_adapter")[0].metadata
        (check,) = result.get_asset_check_evaluations()
        logs = [
            e.message
            for e in instance.all_logs(result.run_id)
            if e.message and e.message.startswith("step ")
        ]
        drafting = defs.resolve_job_def("drafting").execute_in_process(
            instance=instance,
            partition_key=ACCOUNT,
            asset_selection=[dg.AssetKey("candidates")],
            run_config={
                "ops": {
                    "candidates": {"config": {"max_topics": 1, "n_angles": 1, "max_tokens": 48}}
                }
            },
            raise_on_error=False,
        )
        drafted = drafting.asset_materializations_for_node("candidates")[0].metadata

    assert logs[0].startswith("step 1 of 2: loss ") and "tokens/s" in logs[0]
    assert meta["steps"].value == 2 and meta["stop_reason"].value == "max_steps"
    sizes = meta["split_sizes"].value
    assert sizes["train"] > sizes["valid"] > 0 and sizes["test"] > 0
    assert meta["examples_per_source"].value["train"]["post"] > 0
    assert (
        meta["heldout_ppl_base"].value["n_texts"]
        == 8
        == meta["heldout_ppl_adapter"].value["n_texts"]
    )
    for key in ("heldout_ppl_base", "heldout_ppl_adapter", "heldout_ppl_reduction"):
        value = meta[key].value
        low, high = value["low"], value["high"]
        assert low <= value.get("ppl", value.get("reduction")) <= high
    assert meta["tokens_per_s"].value > 0 and meta["peak_rss_mb"].value > 0
    assert meta["wall_seconds"].value > 0
    assert "data:image/png;base64,iVBOR" in meta["loss_curve"].value

    adapter = data_root / "adapters" / "x__BarackObama" / "adapter"
    evaluation = json.loads((adapter / "evaluation.json").read_text())
    assert check.check_name == "adapter_beats_base"
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.passed == evaluation["beats_base"] == meta["beats_base"].value
    assert check.description == evaluation["verdict"]

    expected = f"hf::embedded+adapter={adapter.resolve()}" if check.passed else "hf::embedded"
    assert drafted["drafted_with"].value == expected
    with duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True) as con:
        texts = [r[0] or "" for r in con.execute("SELECT text FROM candidates").fetchall()]
    assert texts and not any(LINK in t or URL.search(t) for t in texts)

    # its MLflow run: config, losses by step, held-out perplexity and the adapter's files
    client, found = runs(data_root)
    (run,) = [r for r in found if r.data.tags["asset"] == "author_adapter"]
    assert meta["mlflow_run"].value.endswith(f"/runs/{run.info.run_id}")
    assert run.data.params["max_steps"] == str(TINY["max_steps"])
    base = meta["heldout_ppl_base"].value
    assert run.data.metrics["heldout_ppl_base.ppl"] == pytest.approx(base["ppl"])
    card = json.loads((adapter / "adapter_card.json").read_text())
    losses = client.get_metric_history(run.info.run_id, "train_loss")
    assert [(m.step, m.value) for m in losses] == [tuple(p) for p in card["train_losses"]]
    files = {a.path for a in client.list_artifacts(run.info.run_id, "adapter")}
    assert {
        "adapter/adapter_card.json",
        "adapter/loss_curve.png",
        "adapter/evaluation.json",
    } <= files
    assert any(f.endswith(".safetensors") for f in files)


def test_too_few_posts_skip_with_a_reason_and_a_warning(data_root):
    with SAMPLE.open(encoding="mac_roman", newline="") as f:
        rows = list(csv.reader(f))
    few = data_root / "exports" / "obama_few.csv"
    with few.open("w", encoding="mac_roman", newline="") as f:
        csv.writer(f).writerows(rows[:41])  # ~36 originals: an account, too few to train on
    with dg.instance_for_test() as instance:
        assert ingest(instance, few)[0].success
        assert instance.get_dynamic_partitions("accounts") == [ACCOUNT]
        result = train(instance, TINY)
    assert result.success
    meta = result.asset_materializations_for_node("author_adapter")[0].metadata
    assert meta["skipped"].value.startswith(f"no author model for {ACCOUNT}: too few training")
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == meta["skipped"].value
    assert not (data_root / "adapters" / "x__BarackObama" / "adapter").exists()


def test_every_run_config_field_has_help_and_demo_yaml_is_valid_run_config():
    for asset in (reer_traces, tuned_program, author_adapter):
        fields = asset.op.config_schema.config_type.fields
        assert len(fields) > 10 and all(f.description for f in fields.values()), asset.key
    demo = yaml.safe_load((Path(__file__).parents[2] / "demo.yaml").read_text())
    job = defs.resolve_implicit_global_asset_job_def()
    assert dg.validate_run_config(job, demo)["ops"]["reer_traces"]["config"]["max_steps"] == 2


def test_the_author_run_config_builds_the_train_config_with_alpha_from_the_rank():
    cfg = domain_config(AuthorAdapterConfig(rank=8, target_modules=["q_proj"]), TrainConfig)
    assert (cfg.rank, cfg.alpha, cfg.target_modules) == (8, 16, ("q_proj",))
    assert domain_config(AuthorAdapterConfig(rank=8, alpha=4), TrainConfig).alpha == 4
