"""Drafting: candidate posts for each account from the DSPy program, then their scores."""

import dagster as dg
import pyarrow as pa

from reer_pipeline.assets.metadata import markdown_table
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.assets.strategies import engagement_model, writing_strategies
from reer_pipeline.assets.tuning import tuned_program
from reer_pipeline.ingest.accounts import replace_account_rows
from reer_pipeline.optimize.store import best_program
from reer_pipeline.program.context import load_context, own_topics
from reer_pipeline.program.draft import draft, make_program, make_scorer, score_drafts
from reer_pipeline.program.topics import account_topics, load_topics
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.scoring.candidates import DEFAULT_WEIGHTS

CANDIDATE_COLUMNS = """platform VARCHAR, author VARCHAR, id INTEGER, topic VARCHAR,
    audience VARCHAR, angle VARCHAR, strategy VARCHAR, strategy_post_ids VARCHAR[],
    trajectory_post_ids VARCHAR[], generation VARCHAR, program VARCHAR, text VARCHAR,
    parts VARCHAR[], within_limit BOOLEAN, parse_ok BOOLEAN, error VARCHAR, slot JSON,
    selection JSON"""
SCORE_COLUMNS = """platform VARCHAR, author VARCHAR, candidate_id INTEGER, topic VARCHAR,
    heuristics DOUBLE, style_fit DOUBLE, engagement DOUBLE, judge DOUBLE, total DOUBLE,
    within_limit BOOLEAN, feedback VARCHAR, rank INTEGER"""
ACCOUNT = "WHERE platform = ? AND author = ?"


class CandidatesConfig(dg.Config):
    generation: str = "single"  # single | self_consistency | debate
    n_angles: int = 2
    n_samples: int = 3
    max_tokens: int = 256
    max_topics: int | None = None


@dg.asset(
    deps=[
        writing_strategies,
        dg.AssetDep(
            tuned_program,
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping("account"),
        ),
    ],
    partitions_def=account_partitions,
    group_name="drafting",
    kinds={"dspy", "duckdb"},
    pool="lm",
    check_specs=[dg.AssetCheckSpec("candidates_schema_valid", asset="candidates")],
)
def candidates(
    context: dg.AssetExecutionContext,
    config: CandidatesConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
):
    """Drafts for the account's topics (`topics.yaml`, else its own), with their strategy and
    trace provenance, from its best tuned program or the base program."""
    account, layout = account_of(context), warehouse.storage.layout
    with warehouse.get_connection(read_only=True) as con:
        ctx = load_context(con, account, layout.traces)
        own = own_topics(con, account, layout.traces)
    topics = account_topics(load_topics(layout.topics), account, own)[: config.max_topics]
    program, source = make_program(
        best_program(layout.programs(account)),
        generation=config.generation,
        n_angles=config.n_angles,
        n_samples=config.n_samples,
    )
    context.log.info(f"drafting {len(topics)} topics for {account} with the {source} program")
    drafts, stats = draft(
        program, language_models.get("proposer_lm"), ctx, topics, config.max_tokens
    )
    rows = [
        {**d, "platform": account.platform, "author": account.author, "id": i, "program": source}
        for i, d in enumerate(drafts)
    ]
    columns = [c.split()[0] for c in CANDIDATE_COLUMNS.replace("\n", " ").split(",")]
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows]) if rows else None
    with warehouse.get_connection() as con:
        replace_account_rows(con, "candidates", CANDIDATE_COLUMNS, account, table)
        preview = markdown_table(
            con,
            f"""SELECT topic, strategy, parse_ok, left(text, 120) AS text
            FROM candidates {ACCOUNT} ORDER BY id LIMIT 12""",
            [account.platform, account.author],
        )
    valid = sum(bool(r["parse_ok"] and r.get("text")) for r in rows)
    yield dg.MaterializeResult(
        metadata=language_models.usage_metadata()
        | {
            "dagster/row_count": len(rows),
            "topics": dg.MetadataValue.json([t["topic"] for t in topics]),
            "program": source,
            "parse_failures": stats.get("parse_failures", 0),
            "empty_outputs": stats.get("empty_outputs", 0),
            "stats": dg.MetadataValue.json(stats),
            "preview": preview,
        }
    )
    yield dg.AssetCheckResult(
        check_name="candidates_schema_valid",
        passed=bool(rows) and valid >= 0.9 * len(rows),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"candidates": len(rows), "schema_valid": valid},
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
    """Heuristics, style fit, predicted engagement (and a judge), combined and ranked per topic."""
    account, layout = account_of(context), warehouse.storage.layout
    with warehouse.get_connection(read_only=True) as con:
        ctx = load_context(con, account, layout.traces)
        names = ["id", "topic", "text"]
        drafts = [
            dict(zip(names, row, strict=True))
            for row in con.execute(
                f"SELECT id, topic, text FROM candidates {ACCOUNT} ORDER BY id",
                [account.platform, account.author],
            ).fetchall()
        ]
    scorer = make_scorer(
        ctx,
        language_models.get("scorer_lm"),
        layout.engagement_model(account),
        language_models.get("judge_lm") if config.judge else None,
        config.weights,
    )
    context.log.info(f"scoring {len(drafts)} drafts of {account} in one batch")
    scores = score_drafts(scorer, drafts)
    rows = [
        {
            "platform": account.platform,
            "author": account.author,
            "candidate_id": d["id"],
            "topic": d["topic"],
            **{k: s[k] for k in ("heuristics", "style_fit", "engagement", "judge", "total")},
            **{k: s[k] for k in ("within_limit", "feedback", "rank")},
        }
        for d, s in zip(drafts, scores, strict=True)
    ]
    with warehouse.get_connection() as con:
        table = pa.Table.from_pylist(rows) if rows else None
        replace_account_rows(con, "candidate_scores", SCORE_COLUMNS, account, table)
        top = markdown_table(
            con,
            """SELECT s.topic, s.rank, round(s.total, 3) AS total, round(s.style_fit, 2) AS style,
                round(s.engagement, 2) AS engagement, left(c.text, 140) AS draft
            FROM candidate_scores s JOIN candidates c ON c.id = s.candidate_id
                AND c.platform = s.platform AND c.author = s.author
            WHERE s.platform = ? AND s.author = ? AND s.rank <= 3 ORDER BY s.topic, s.rank""",
            [account.platform, account.author],
        )
    yield dg.MaterializeResult(
        metadata=language_models.usage_metadata()
        | {"dagster/row_count": len(rows), "weights": dict(config.weights), "top_drafts": top}
    )
    over = sum(not r["within_limit"] for r in rows)
    yield dg.AssetCheckResult(
        check_name="candidates_within_limits",
        passed=over == 0,
        metadata={"candidates": len(rows), "over_limit": over},
    )
