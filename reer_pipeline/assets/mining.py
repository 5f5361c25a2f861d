"""REER trace mining: the reasoning trajectory behind each top post."""

import statistics
import time

import dagster as dg
import duckdb

from reer_pipeline.assets.ingest import top_posts
from reer_pipeline.assets.metadata import markdown_table
from reer_pipeline.ingest.warehouse import read_top_posts
from reer_pipeline.reer.search import SearchConfig, mine
from reer_pipeline.reer.store import TraceStore, create_duckdb_view
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
    max_posts: int | None = 20
    time_limit_s: float | None = 3600.0
    min_improved_share: float = 0.5  # the improvement check warns below this share


def search_config(config: ReerTracesConfig, proposer_uri: str, scorer_uri: str) -> SearchConfig:
    fields = ReerTracesConfig.model_fields.keys() - {
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
    """Append-only JSONL of REER trajectories, mined only for top posts without a trace yet."""
    proposer = language_models.get("proposer_lm")
    scorer = language_models.get("scorer_lm")
    cfg = search_config(config, proposer.uri, scorer.uri)
    store = TraceStore()
    with warehouse.get_connection(read_only=True) as con:
        posts = read_top_posts(con)
    started = time.monotonic()

    def progress(p):
        eta = "?" if p.eta_s is None else f"{p.eta_s / 60:.1f} min"
        context.log.info(f"post {p.i} of {p.n} ({p.post_id}): {p.status}; about {eta} left")

    report = mine(
        posts,
        store,
        proposer,
        scorer,
        cfg,
        max_posts=config.max_posts,
        time_limit_s=config.time_limit_s,
        on_progress=progress,
    )
    for error in report.errors[:10]:
        context.log.warning(f"mining failed for {error}")
    context.log.info(
        f"mined {report.mined} ({report.kept} kept), skipped {report.skipped_existing} with "
        f"traces, {report.failed} failed in {time.monotonic() - started:.0f}s; {report.stopped}"
    )

    with duckdb.connect() as con:
        create_duckdb_view(con, store.root)
        rows = con.execute(
            "SELECT score_before, score_after FROM reer_traces WHERE config_hash = ?",
            [cfg.config_hash],
        ).fetchall()
        scored = [(b, a) for b, a in rows if b is not None and a is not None]
        worse = sum(a > b + 1e-9 for b, a in scored)
        improved = sum(a < b - 1e-9 for b, a in scored)
        reductions = [(b - a) / b for b, a in scored if b > 0]
        share = improved / len(scored) if scored else 0.0
        totals = con.execute(
            """SELECT count(*), sum(generate_calls + score_calls), sum(prompt_tokens),
                sum(completion_tokens), sum(scored_tokens), count(*) FILTER (kept)
            FROM reer_traces WHERE config_hash = ?""",
            [cfg.config_hash],
        ).fetchone()
        metadata = {
            "dagster/row_count": totals[0],
            "traces_kept": totals[5] or 0,
            "mined_this_run": report.mined,
            "skipped_existing": report.skipped_existing,
            "failed_this_run": report.failed,
            "stopped": report.stopped,
            "config_hash": cfg.config_hash,
            "proposer_uri": proposer.uri,
            "scorer_uri": scorer.uri,
            "median_relative_reduction": statistics.median(reductions) if reductions else 0.0,
            "improved_share": share,
            "model_calls": int(totals[1] or 0),
            "prompt_tokens": int(totals[2] or 0),
            "completion_tokens": int(totals[3] or 0),
            "scored_tokens": int(totals[4] or 0),
            "score_distribution": markdown_table(
                con,
                """SELECT 'before' AS score, min(score_before) AS min,
                    quantile_cont(score_before, 0.25) AS p25, median(score_before) AS p50,
                    quantile_cont(score_before, 0.75) AS p75, max(score_before) AS max
                FROM reer_traces WHERE config_hash = $1
                UNION ALL
                SELECT 'after', min(score_after), quantile_cont(score_after, 0.25),
                    median(score_after), quantile_cont(score_after, 0.75), max(score_after)
                FROM reer_traces WHERE config_hash = $1""",
                [cfg.config_hash],
            ),
            "examples": markdown_table(
                con,
                """SELECT post_id, left(y, 80) AS post, topic, left(trajectory, 160) AS trajectory,
                    score_before, score_after, kept
                FROM reer_traces WHERE config_hash = ?
                ORDER BY score_gain DESC NULLS LAST LIMIT 5""",
                [cfg.config_hash],
            ),
        }
    yield dg.MaterializeResult(metadata=metadata | language_models.usage_metadata())
    yield dg.AssetCheckResult(
        check_name="no_trace_got_worse",
        passed=worse == 0,
        metadata={"traces": len(scored), "worse": worse},
    )
    yield dg.AssetCheckResult(
        check_name="improved_share",
        passed=share >= config.min_improved_share,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{improved} of {len(scored)} traces lowered their score",
        metadata={"improved_share": share, "floor": config.min_improved_share},
    )
