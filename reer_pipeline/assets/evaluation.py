"""Evaluation: a tournament per account between programs, adapters and any model URI on the
account's held-out requests, judged by `judge_lm` in both orders and by the validated scorer."""

import json

import dagster as dg

from reer_pipeline.assets.author import author_adapter
from reer_pipeline.assets.metadata import metadata
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.assets.strategies import engagement_model, writing_strategies
from reer_pipeline.assets.tuning import tuned_program
from reer_pipeline.evaluate import tournament as tm
from reer_pipeline.files import write_atomic
from reer_pipeline.ingest.warehouse import read_account_posts
from reer_pipeline.jobs import group_job
from reer_pipeline.program.context import load_context
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.tracking import Tracking
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.serve.store import ReviewStore, log_path
from reer_pipeline.tables import Markdown
from reer_pipeline.tracking import evaluation_record


class EvaluationConfig(dg.Config):
    systems: list[str] = list(tm.DEFAULT_SYSTEMS)  # names in tournament.SYSTEMS, or model URIs
    n_requests: int = tm.N_REQUESTS
    max_tokens: int = 96
    n_angles: int = 1  # drafts per request and system; the best ranked one competes


@dg.asset(
    deps=[writing_strategies, engagement_model, author_adapter, tuned_program],
    partitions_def=account_partitions,
    group_name="evaluation",
    kinds={"dspy"},
    pool="lm",
)
def evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
    tracking: Tracking,
):
    """Win rates (bootstrap intervals) and Bradley-Terry ratings of the configured systems on
    the account's held-out requests, by `judge_lm` (both orders) and by the scorer; the judge's
    position bias, its agreement with the scorer and with the person's decisions. Written to
    `<data root>/evaluation/<account>/` (report.json, tournament.png)."""
    account, layout = account_of(context), warehouse.storage.layout
    paths = layout.account(account)
    with warehouse.get_connection(read_only=True) as con:
        ctx = load_context(con, account, paths.traces)
        posts = read_account_posts(con, account.platform, account.author)
    decisions = ReviewStore(log_path(layout.root)).latest(account).values()
    report = tm.run(
        ctx,
        posts,
        paths,
        language_models,
        language_models.get("judge_lm"),
        systems=config.systems,
        n_requests=config.n_requests,
        max_tokens=config.max_tokens,
        decisions=list(decisions),
        log=context.log.info,
        n_angles=config.n_angles,
    )
    out = layout.root / "evaluation" / paths.programs.name
    out.mkdir(parents=True, exist_ok=True)
    summary = report["summary"]
    png = tm.plot(summary, out / "tournament.png", f"tournament for {account}")
    body = {k: v for k, v in report.items() if k != "table"}
    write_atomic(out / "report.json", json.dumps(body, indent=1, default=str).encode())
    values = {
        "table": report["table"],
        "plot": Markdown(f"![win rates](data:image/png;base64,{png})"),
        "position_bias": tm.fmt(summary["position_bias"]),
        "first_shown_picked": tm.fmt(summary["first_shown_picked"]),
        "scorer_agreement": tm.fmt(summary["scorer_agreement"]),
        "decision_agreement": report["decisions"] or "no approved and rejected drafts on a topic",
        "judge": report["judge"],
        "systems": report["systems"],
        "skipped": report["skipped"],
        "topics": report["topics"],
        "report": out / "report.json",
    }
    run = tracking.record(
        context,
        evaluation_record,
        account,
        config.model_dump(),
        report,
        [out / "report.json", out / "tournament.png"],
    )
    return dg.MaterializeResult(metadata=metadata(values) | run | language_models.usage_metadata())


evaluation_job = group_job(  # not named `evaluation`: the asset's op has that name
    "tournament",
    ["evaluation"],
    "For one account: a tournament between its programs, adapters and model URIs.",
)
