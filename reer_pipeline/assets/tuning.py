"""Tuning: the drafting program optimized per account x optimizer against the project's scorer."""

from dataclasses import asdict

import dagster as dg

from reer_pipeline.assets.author import author_adapter
from reer_pipeline.assets.config import domain_config, run_config
from reer_pipeline.assets.metadata import metadata
from reer_pipeline.assets.mining import reer_traces
from reer_pipeline.assets.partitions import account_of, tuning_partitions
from reer_pipeline.assets.reviews import reviews
from reer_pipeline.assets.strategies import engagement_model, writing_strategies
from reer_pipeline.ingest.warehouse import read_top_posts
from reer_pipeline.learn.decisions import read_decisions
from reer_pipeline.optimize.account import tune_account
from reer_pipeline.optimize.tune import TuneConfig
from reer_pipeline.program.context import load_context
from reer_pipeline.reer.report import kept_traces
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.tracking import Tracking
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.scoring.judge import judge_with
from reer_pipeline.scoring.metric import DraftMetric
from reer_pipeline.session import drafting_session
from reer_pipeline.tracking import tuning_record


class TunedProgramConfig(run_config(TuneConfig, exclude=("optimizer",))):
    """One tuning run (`TuneConfig`); the optimizer is the partition's."""


@dg.asset(
    deps=[reer_traces, writing_strategies, engagement_model, author_adapter, reviews],
    partitions_def=tuning_partitions,
    group_name="tuning",
    kinds={"dspy", "json"},
    pool="lm",
    check_specs=[dg.AssetCheckSpec("tuned_beats_base", asset="tuned_program")],
)
def tuned_program(
    context: dg.AssetExecutionContext,
    config: TunedProgramConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
    tracking: Tracking,
):
    """The drafting program tuned on the account's own top posts, evaluated on the newest ones.

    Writes `programs/<account>/<optimizer>/`: program.json, evaluation.json,
    detailed_results.json (GEPA), validation.png, and `runs/<run key>/`, the optimizer's log a
    killed run resumes from. `candidates` loads the newest program that did not lose.
    """
    account, layout = account_of(context), warehouse.storage.layout
    optimizer = context.partition_key.keys_by_dimension["optimizer"]
    paths = layout.account(account)
    with warehouse.get_connection(read_only=True) as con:
        ctx = load_context(con, account, paths.traces)
        posts = read_top_posts(con, account.platform, account.author)
        traces = kept_traces(con, paths.traces, account)
        decisions = read_decisions(con, account)  # the person's: gold examples and feedback
    # the models: the scorer behind the metric, the proposer (the author model when it won)
    session = drafting_session(ctx, paths, language_models)
    judge = judge_with(language_models.get("judge_lm")) if config.judge_feedback else None
    metric = DraftMetric(session.scorer, judge)
    context.log.info(session.model_choice)
    cfg = domain_config(config, TuneConfig, optimizer=optimizer)
    try:
        report = tune_account(
            account,
            cfg,
            posts=posts,
            traces=traces,
            cards=ctx.cards,
            metric=metric,
            proposer=session.proposer,
            reflection=language_models.get("reflection_lm"),
            scorer_uri=session.scorer.scorer.uri,
            folder=paths.programs / optimizer,
            log=context.log.info,
            decisions=decisions,
        )
    except ValueError as e:
        raise dg.Failure(str(e)) from None
    better = report["tuned_test_score"] > report["base_test_score"]
    report |= {"drafted_with": session.proposer.uri, "model_choice": session.model_choice}
    folder = paths.programs / optimizer
    run = tracking.record(context, tuning_record, account, optimizer, asdict(cfg), report, folder)
    yield dg.MaterializeResult(metadata=metadata(report) | language_models.usage_metadata() | run)
    yield dg.AssetCheckResult(
        check_name="tuned_beats_base",
        passed=better,
        severity=dg.AssetCheckSeverity.WARN,
        description=None if better else "the tuned program is not better on the test split",
        metadata={k: report[k] for k in list(report)[:5]},
    )
