"""What worked for each author: feature lift, strategy cards from traces, an engagement model."""

import dagster as dg
import duckdb
import pyarrow as pa

from reer_pipeline.assets.ingest import posts
from reer_pipeline.assets.metadata import markdown_table
from reer_pipeline.assets.mining import reer_traces
from reer_pipeline.lm.dspy_adapter import to_dspy
from reer_pipeline.paths import engagement_dir, engagement_model_path
from reer_pipeline.program.cards import write_cards
from reer_pipeline.reer.store import TraceStore, create_duckdb_view
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.scoring.engagement import train_engagement_model
from reer_pipeline.scoring.features import build_post_features
from reer_pipeline.scoring.lift import build_feature_lift


class PostFeaturesConfig(dg.Config):
    n_boot: int = 1000
    seed: int = 0


@dg.asset(deps=[posts], group_name="mining", kinds={"duckdb"}, pool="duckdb")
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
    max_clusters: int = 5
    examples_per_card: int = 3
    max_tokens: int = 160


def _kept_traces(con: duckdb.DuckDBPyConnection) -> list[dict]:
    create_duckdb_view(con, TraceStore().root)
    rel = con.execute(
        """SELECT post_id, platform, author, y, trajectory, engagement_pct
        FROM reer_traces WHERE kept ORDER BY platform, author, created_at"""
    )
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


@dg.asset(deps=[post_features, reer_traces], group_name="mining", kinds={"duckdb"}, pool="duckdb")
def writing_strategies(
    context: dg.AssetExecutionContext,
    config: WritingStrategiesConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
) -> dg.MaterializeResult:
    """One strategy card per cluster of each author's REER trajectories (`strategy_cards`)."""
    lm = language_models.get("proposer_lm")
    dspy_lm = to_dspy(lm, max_tokens=config.max_tokens, temperature=0.0)
    with warehouse.get_connection() as con:
        traces = _kept_traces(con)
        by_author: dict[tuple, list[dict]] = {}
        for trace in traces:
            by_author.setdefault((trace["platform"], trace["author"]), []).append(trace)
        cards, failures, calls = [], 0, 0
        for (platform, author), group in by_author.items():
            context.log.info(f"strategy cards for {platform}:{author} from {len(group)} traces")
            made, stats = write_cards(
                group, dspy_lm, lm.uri, config.max_clusters, config.examples_per_card
            )
            cards += made
            failures += stats["parse_failures"]
            calls += stats["calls"]
        table = pa.Table.from_pylist([c.as_dict() for c in cards]) if cards else None
        con.execute(
            """CREATE OR REPLACE TABLE strategy_cards (platform VARCHAR, author VARCHAR,
            card_id VARCHAR, name VARCHAR, when_to_use VARCHAR, structure VARCHAR,
            example_hook VARCHAR, source_post_ids VARCHAR[], key_terms VARCHAR[],
            written_by VARCHAR)"""
        )
        if table is not None:
            con.register("new_cards", table)
            con.execute("INSERT INTO strategy_cards BY NAME SELECT * FROM new_cards")
        return dg.MaterializeResult(
            metadata=language_models.usage_metadata()
            | {
                "dagster/row_count": len(cards),
                "traces_used": len(traces),
                "card_calls": calls,
                "card_parse_failures": failures,
                "strategy_cards": markdown_table(
                    con,
                    """SELECT author, name, when_to_use, structure, example_hook,
                        len(source_post_ids) AS posts, written_by FROM strategy_cards""",
                ),
            }
        )


class EngagementModelConfig(dg.Config):
    test_fraction: float = 0.2
    rolling_window: int = 20
    min_posts: int = 30


@dg.asset(
    deps=[post_features],
    group_name="mining",
    kinds={"scikitlearn"},
    check_specs=[dg.AssetCheckSpec("beats_every_baseline", asset="engagement_model")],
)
def engagement_model(
    context: dg.AssetExecutionContext, config: EngagementModelConfig, warehouse: Warehouse
):
    """Per-author model of a post's engagement percentile, validated on the newest posts."""
    rows, losers = [], []
    with warehouse.get_connection(read_only=True) as con:
        authors = con.execute(
            """SELECT platform, author FROM posts WHERE is_original AND engagement IS NOT NULL
            GROUP BY ALL HAVING count(*) >= ? ORDER BY ALL""",
            [config.min_posts],
        ).fetchall()
        for platform, author in authors:
            model = train_engagement_model(
                con,
                author,
                platform=platform,
                test_fraction=config.test_fraction,
                rolling_window=config.rolling_window,
            )
            model.save(engagement_model_path(platform, author))
            rho = model.rho
            rows.append(
                {
                    "platform": platform,
                    "author": author,
                    "n_train": model.n_train,
                    "n_test": model.n_test,
                    **{f"rho_{k}": v for k, v in rho.items()},
                }
            )
            context.log.info(f"engagement model {platform}:{author}: {rho}")
            if not model.beats_baselines:
                losers.append(f"{platform}:{author}")
    with duckdb.connect() as mem:
        mem.register("report", pa.Table.from_pylist(rows) if rows else pa.table({"author": []}))
        table = markdown_table(mem, "SELECT * FROM report")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "models_dir": str(engagement_dir()),
            "spearman": table,
        }
    )
    yield dg.AssetCheckResult(
        check_name="beats_every_baseline",
        passed=not losers and bool(rows),
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "no author has enough posts"
            if not rows
            else f"does not beat every baseline for {losers}"
            if losers
            else "beats the constant, length and rolling-mean baselines for every author"
        ),
        metadata={"authors": len(rows), "losing_authors": len(losers)},
    )
