"""What worked for each author: feature lift, strategy cards from traces, an engagement model."""

import dagster as dg
import pyarrow as pa
from pydantic import Field

from reer_pipeline.assets.ingest import posts
from reer_pipeline.assets.metadata import markdown_table, metadata
from reer_pipeline.assets.mining import reer_traces
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.ingest.accounts import list_accounts, replace_account_rows
from reer_pipeline.lm.dspy_adapter import to_dspy
from reer_pipeline.program.cards import write_cards
from reer_pipeline.reer.report import kept_traces
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.tracking import Tracking
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.scoring.engagement import train_engagement_model
from reer_pipeline.scoring.features import build_post_features
from reer_pipeline.scoring.lift import build_feature_lift
from reer_pipeline.tables import Markdown
from reer_pipeline.tracking import engagement_record


class PostFeaturesConfig(dg.Config):
    n_boot: int = Field(1000, description="bootstrap resamples of each feature's lift interval")
    seed: int = Field(0, description="seed of the bootstrap")


@dg.asset(deps=[posts], group_name="ingest", kinds={"duckdb"}, pool="duckdb")
def post_features(
    context: dg.AssetExecutionContext, config: PostFeaturesConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Measured features of every original post, and each feature's engagement lift over the
    author's own posts with a bootstrap interval (tables `post_features`, `feature_lift`)."""
    with warehouse.get_connection() as con:
        n_features = build_post_features(con)
        n_lift = build_feature_lift(con, n_boot=config.n_boot, seed=config.seed)
        context.log.info(f"{n_features} posts measured, {n_lift} feature lift rows")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": n_features,
                "feature_lift_rows": n_lift,
                "hooks": markdown_table(
                    con,
                    """SELECT author, hook, count(*) AS posts, median(engagement_pct) AS median_pct
                    FROM post_features GROUP BY ALL ORDER BY author, posts DESC""",
                ),
                "top_lift": markdown_table(
                    con,
                    """SELECT author, feature, value, support, lift, ci_low, ci_high
                    FROM feature_lift WHERE support >= 20 AND ci_low > 1
                    ORDER BY lift DESC LIMIT 12""",
                ),
            }
        )


class WritingStrategiesConfig(dg.Config):
    max_clusters: int = Field(5, description="strategy cards at most (clusters of traces)")
    examples_per_card: int = Field(3, description="traces shown to the model per card")
    max_tokens: int = Field(160, description="tokens of each card the model writes")


CARD_COLUMNS = """platform VARCHAR, author VARCHAR, card_id VARCHAR, name VARCHAR,
    when_to_use VARCHAR, structure VARCHAR, example_hook VARCHAR, source_post_ids VARCHAR[],
    key_terms VARCHAR[], written_by VARCHAR"""


@dg.asset(
    deps=[post_features, reer_traces],
    partitions_def=account_partitions,
    group_name="mining",
    kinds={"duckdb"},
    pool="lm",  # it names its cards with the model; the warehouse resource waits out a writer
)
def writing_strategies(
    context: dg.AssetExecutionContext,
    config: WritingStrategiesConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
) -> dg.MaterializeResult:
    """Strategy cards from clusters of the account's REER trajectories (`strategy_cards`)."""
    account = account_of(context)
    lm = language_models.get("proposer_lm")
    dspy_lm = to_dspy(lm, max_tokens=config.max_tokens, temperature=0.0)
    with warehouse.get_connection() as con:
        traces = kept_traces(con, warehouse.storage.layout.traces, account)
        context.log.info(f"strategy cards for {account} from {len(traces)} traces")
        cards, stats = write_cards(
            traces, dspy_lm, lm.uri, config.max_clusters, config.examples_per_card
        )
        rows = pa.Table.from_pylist([c.as_dict() for c in cards]) if cards else None
        replace_account_rows(con, "strategy_cards", CARD_COLUMNS, account, rows)
        table = markdown_table(
            con,
            """SELECT name, when_to_use, structure, example_hook,
                len(source_post_ids) AS posts, written_by
            FROM strategy_cards WHERE platform = ? AND author = ?""",
            [account.platform, account.author],
        )
    return dg.MaterializeResult(
        metadata=language_models.usage_metadata()
        | {
            "dagster/row_count": len(cards),
            "traces_used": len(traces),
            "card_calls": stats["calls"],
            "card_parse_failures": stats["parse_failures"],
            "degenerate_cards_replaced": stats.get("degenerate", 0),
            "strategy_cards": table,
        }
    )


class EngagementModelConfig(dg.Config):
    test_fraction: float = Field(0.2, description="the newest share of posts held out")
    rolling_window: int = Field(20, description="posts in the rolling-mean baseline")
    min_posts: int = Field(30, description="fewer posts with engagement train no model")


@dg.asset(
    deps=[post_features],
    partitions_def=account_partitions,
    group_name="mining",
    kinds={"scikitlearn"},
    check_specs=[dg.AssetCheckSpec("beats_every_baseline", asset="engagement_model")],
)
def engagement_model(
    context: dg.AssetExecutionContext,
    config: EngagementModelConfig,
    warehouse: Warehouse,
    tracking: Tracking,
):
    """The account's model of a post's engagement, validated on its newest posts."""
    account = account_of(context)
    with warehouse.get_connection(read_only=True) as con:
        model = None
        if list_accounts(con, config.min_posts, account, with_engagement=True):
            model = train_engagement_model(
                con,
                account,
                test_fraction=config.test_fraction,
                rolling_window=config.rolling_window,
            )
    if model is None:
        reason = f"{account} has fewer than {config.min_posts} posts with engagement: no model"
        yield dg.MaterializeResult(metadata={"skipped": reason})
        yield dg.AssetCheckResult(
            check_name="beats_every_baseline",
            passed=False,
            description=reason,
            severity=dg.AssetCheckSeverity.WARN,
        )
        return
    path = model.save(warehouse.storage.layout.account(account).engagement_model)
    png = model.plot(path.with_suffix(".png"))
    context.log.info(f"engagement model {account}: {model.rho}")
    report = {"report": Markdown(model.markdown()), "predicted_vs_actual": png, "model_path": path}
    params = config.model_dump()
    run = tracking.record(context, engagement_record, account, params, model, [png, path])
    yield dg.MaterializeResult(metadata=model.metadata() | metadata(report) | run)
    losing = ", ".join(model.losing_baselines)
    yield dg.AssetCheckResult(
        check_name="beats_every_baseline",
        passed=model.beats_baselines,
        severity=dg.AssetCheckSeverity.WARN,
        description="beats every baseline by its 95% interval"
        if model.beats_baselines
        else f"not beaten by its interval: {losing}",
        metadata={"losing": losing or "none"},
    )
