"""REER trace mining: the reasoning trajectory behind each top post."""

import dagster as dg

from reer_pipeline.assets.ingest import top_posts
from reer_pipeline.assets.metadata import metadata
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.ingest.warehouse import read_top_posts
from reer_pipeline.reer.report import mine_account
from reer_pipeline.reer.search import LOCKSTEP_POSTS, SearchConfig
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.warehouse import Warehouse


class ReerTracesConfig(dg.Config):
    """The search's knobs (defaults are SearchConfig's, after the paper) and this run's budget."""

    n_candidates: int = SearchConfig.n_candidates
    max_steps: int = SearchConfig.max_steps
    threshold: float = SearchConfig.threshold
    clip_low: float = SearchConfig.clip_low
    min_segment_chars: int = SearchConfig.min_segment_chars
    max_tokens_request: int = SearchConfig.max_tokens_request
    max_tokens_draft: int = SearchConfig.max_tokens_draft
    max_tokens_rewrite: int = SearchConfig.max_tokens_rewrite
    temperature: float = SearchConfig.temperature
    seed: int = SearchConfig.seed
    lockstep_posts: int = LOCKSTEP_POSTS  # posts searched at once: speed only, same trace ids
    max_posts: int | None = 20
    time_limit_s: float | None = 3600.0
    min_improved_share: float = 0.5  # the improvement check warns below this share


def search_config(config: ReerTracesConfig, proposer_uri: str, scorer_uri: str) -> SearchConfig:
    fields = ReerTracesConfig.model_fields.keys() - {
        "lockstep_posts",
        "max_posts",
        "time_limit_s",
        "min_improved_share",
    }
    return SearchConfig(
        proposer_uri=proposer_uri,
        scorer_uri=scorer_uri,
        **{name: getattr(config, name) for name in fields},
    )


@dg.asset(
    deps=[top_posts],
    partitions_def=account_partitions,
    group_name="mining",
    kinds={"python", "json"},
    pool="lm",
    check_specs=[
        dg.AssetCheckSpec("no_trace_got_worse", asset="reer_traces"),
        dg.AssetCheckSpec("improved_share", asset="reer_traces"),
    ],
)
def reer_traces(
    context: dg.AssetExecutionContext,
    config: ReerTracesConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
):
    """Append-only JSONL of REER trajectories, mined only for the account's top posts that have
    no trace yet under this search config."""
    account = account_of(context)
    proposer = language_models.get("proposer_lm")
    scorer = language_models.get("scorer_lm")
    with warehouse.get_connection(read_only=True) as con:
        posts = read_top_posts(con, account.platform, account.author)
    summary = mine_account(
        account,
        posts,
        warehouse.storage.layout.traces,
        proposer,
        scorer,
        search_config(config, proposer.uri, scorer.uri),
        config.max_posts,
        config.time_limit_s,
        context.log.info,
        config.lockstep_posts,
    )
    yield dg.MaterializeResult(metadata=metadata(summary) | language_models.usage_metadata())
    yield dg.AssetCheckResult(
        check_name="no_trace_got_worse",
        passed=summary["worse"] == 0,
        metadata={"traces": summary["scored"], "worse": summary["worse"]},
    )
    yield dg.AssetCheckResult(
        check_name="improved_share",
        passed=summary["improved_share"] >= config.min_improved_share,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{summary['improved']} of {summary['scored']} traces lowered their score",
        metadata={"improved_share": summary["improved_share"], "floor": config.min_improved_share},
    )
