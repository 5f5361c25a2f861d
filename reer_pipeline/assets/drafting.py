"""Drafting: candidate posts for each account from the DSPy program, then their scores."""

import dagster as dg

from reer_pipeline.assets.author import author_adapter
from reer_pipeline.assets.metadata import metadata
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.assets.strategies import engagement_model, writing_strategies
from reer_pipeline.assets.tuning import tuned_program
from reer_pipeline.program.context import load_context
from reer_pipeline.program.draft import (
    draft,
    make_scorer,
    read_candidates,
    save_candidates,
    save_scores,
    score_drafts,
)
from reer_pipeline.program.subjects import subject_topics
from reer_pipeline.program.topics import account_topics, load_topics
from reer_pipeline.resources.lm import LMRegistryResource, usage_metadata
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.scoring.candidates import DEFAULT_WEIGHTS
from reer_pipeline.serve.store import ReviewStore, log_path, summary
from reer_pipeline.session import drafting_session


class CandidatesConfig(dg.Config):
    generation: str = "single"  # single | self_consistency | debate
    n_angles: int = 2
    n_samples: int = 3
    max_tokens: int = 256
    max_topics: int | None = None
    # Below this share of usable drafts the run fails its check: the gate passes about half of
    # the embedded 135M model's drafts (15 of 30 read, benchmarks/read_drafts.py), so a share
    # under 0.3 means the model or the prompt broke, not that drafts are bland.
    min_usable_rate: float = 0.3


@dg.asset(
    # tuned_program is account x optimizer: Dagster maps its `account` dimension to this one
    deps=[writing_strategies, author_adapter, tuned_program],
    partitions_def=account_partitions,
    group_name="drafting",
    kinds={"dspy", "duckdb"},
    pool="lm",
    check_specs=[dg.AssetCheckSpec("usable_rate", asset="candidates", blocking=True)],
)
def candidates(
    context: dg.AssetExecutionContext,
    config: CandidatesConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
):
    """Drafts for the account's topics (`topics.yaml`'s for its author, else the subjects of its
    own posts, else `topics.yaml`'s for any author), with their strategy and
    trace provenance and the usable-draft gate's verdict, from its best tuned program or the
    base program, drafted by its author model when that beat the base, else by proposer_lm."""
    account, layout = account_of(context), warehouse.storage.layout
    paths = layout.account(account)
    with warehouse.get_connection(read_only=True) as con:
        ctx = load_context(con, account, paths.traces)
    own = subject_topics(ctx.own_texts, account)
    topics = account_topics(load_topics(layout.topics), account, own)[: config.max_topics]
    program_config = config.model_dump(include={"generation", "n_angles", "n_samples"})
    session = drafting_session(ctx, paths, language_models, **program_config)
    proposer = session.proposer
    context.log.info(f"{session.model_choice}; {len(topics)} topics, {session.source} program")
    drafts, stats = draft(session.program, proposer, ctx, topics, config.max_tokens)
    with warehouse.get_connection() as con:
        report = save_candidates(con, account, drafts, session.source)
    context.log.info(report["usable_summary"])
    report |= {
        "topics": [t["topic"] for t in topics],
        "cards_replaced": stats.get("cards_replaced", 0),
        "stats": stats,
        "drafted_with": proposer.uri,
        "model_choice": session.model_choice,
        "reviews": summary(ReviewStore(log_path(layout.root)).counts(account)),  # the desk's
    }
    yield dg.MaterializeResult(
        metadata=metadata(report)
        | language_models.usage_metadata()
        | usage_metadata({"drafted_with": proposer})
    )
    yield dg.AssetCheckResult(
        check_name="usable_rate",
        passed=report["usable_rate"] >= config.min_usable_rate,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{report['usable_summary']} (floor {config.min_usable_rate:.0%})",
        metadata={
            "usable_rate": report["usable_rate"],
            "rejected_by_rule": report["rejected_by_rule"],
        },
    )


class CandidateScoresConfig(dg.Config):
    weights: dict[str, float] = DEFAULT_WEIGHTS
    judge: bool = False  # rate drafts with judge_lm too (costs one call per draft)


@dg.asset(
    deps=[candidates, engagement_model],
    partitions_def=account_partitions,
    group_name="drafting",
    kinds={"duckdb"},
    pool="lm",
    check_specs=[dg.AssetCheckSpec("candidates_within_limits", asset="candidate_scores")],
)
def candidate_scores(
    context: dg.AssetExecutionContext,
    config: CandidateScoresConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
):
    """The usable-draft gate, then heuristics, fluency, style fit, topic, predicted engagement
    (and a judge), combined and ranked per topic."""
    account, layout = account_of(context), warehouse.storage.layout
    paths = layout.account(account)
    with warehouse.get_connection(read_only=True) as con:
        ctx = load_context(con, account, paths.traces)
        drafts = read_candidates(con, account)
    scorer = make_scorer(
        ctx,
        language_models.get("scorer_lm"),
        paths.engagement_model,
        language_models.get("judge_lm") if config.judge else None,
        config.weights,
        paths.preference_model,
    )
    context.log.info(f"scoring {len(drafts)} drafts of {account} in one batch")
    scores = score_drafts(scorer, drafts)
    with warehouse.get_connection() as con:
        report = save_scores(con, account, drafts, scores)
    yield dg.MaterializeResult(
        metadata=metadata(report | {"weights": dict(config.weights)})
        | language_models.usage_metadata()
    )
    yield dg.AssetCheckResult(
        check_name="candidates_within_limits",
        passed=report["over_limit"] == 0,
        metadata={"candidates": report["dagster/row_count"], "over_limit": report["over_limit"]},
    )
