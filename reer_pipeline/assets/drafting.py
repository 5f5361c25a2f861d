"""Drafting: candidate posts from the DSPy program, then their scores and ranking."""

import dagster as dg
import pyarrow as pa

from reer_pipeline.assets.metadata import markdown_table
from reer_pipeline.assets.strategies import engagement_model, writing_strategies
from reer_pipeline.program.context import load_context, tuned_program_path
from reer_pipeline.program.modules import DraftProgram, draft_candidates, load_program, merge_stats
from reer_pipeline.program.topics import load_topics
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.scoring.candidates import DEFAULT_WEIGHTS, CandidateScorer
from reer_pipeline.scoring.engagement import EngagementModel

CANDIDATE_COLUMNS = """id INTEGER, topic VARCHAR, platform VARCHAR, author VARCHAR,
    audience VARCHAR, angle VARCHAR, strategy VARCHAR, strategy_post_ids VARCHAR[],
    trajectory_post_ids VARCHAR[], generation VARCHAR, program VARCHAR, text VARCHAR,
    parts VARCHAR[], within_limit BOOLEAN, parse_ok BOOLEAN, error VARCHAR, slot JSON,
    selection JSON"""


class CandidatesConfig(dg.Config):
    generation: str = "single"  # single | self_consistency | debate
    n_angles: int = 2
    n_samples: int = 3
    max_tokens: int = 256
    max_topics: int | None = None
    author: str | None = None  # default: the author with the most original posts per platform


def program_for(platform: str, config: CandidatesConfig) -> tuple[DraftProgram, str]:
    """The newest tuned program for the platform, else the base program."""
    kw = {
        "generation": config.generation,
        "n_angles": config.n_angles,
        "n_samples": config.n_samples,
    }
    path = tuned_program_path(platform)
    return (load_program(path, **kw), str(path)) if path else (DraftProgram(**kw), "base")


@dg.asset(deps=[writing_strategies], group_name="drafting", kinds={"dspy", "duckdb"}, pool="lm")
def candidates(
    context: dg.AssetExecutionContext,
    config: CandidatesConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
) -> dg.MaterializeResult:
    """Drafts for every topic in data/topics.yaml, with their strategy and trace provenance."""
    topics = load_topics()[: config.max_topics]
    lm = language_models.get("proposer_lm")
    rows, stats = [], None
    contexts, skipped = {}, []
    with warehouse.get_connection(read_only=True) as con:
        for platform in {t["platform"] for t in topics}:
            try:
                contexts[platform] = load_context(con, platform, config.author)
            except ValueError as exc:  # no posts of the author's on that platform to learn from
                context.log.warning(f"skipping {platform} topics: {exc}")
    for i, topic in enumerate(topics, start=1):
        ctx = contexts.get(topic["platform"])
        if ctx is None:
            skipped.append(f"{topic['platform']}: {topic['topic']}")
            continue
        program, source = program_for(topic["platform"], config)
        context.log.info(f"topic {i} of {len(topics)}: {topic['topic']!r} for {ctx.author}")
        made, topic_stats = draft_candidates(
            program, lm, [topic], ctx.cards, ctx.traces, ctx.style, ctx.slots, config.max_tokens
        )
        stats = merge_stats(stats, topic_stats)
        for c in made:
            rows.append({"id": len(rows), "author": ctx.author, "program": source, **c})
    table = pa.Table.from_pylist(rows) if rows else None
    with warehouse.get_connection() as con:
        con.execute(f"CREATE OR REPLACE TABLE candidates ({CANDIDATE_COLUMNS})")
        if table is not None:
            con.register("new_candidates", table)
            con.execute(
                """INSERT INTO candidates BY NAME SELECT id, topic, platform, author, audience,
                angle, strategy, strategy_post_ids, trajectory_post_ids, generation, program,
                text, parts, within_limit, parse_ok, error, to_json(slot) AS slot,
                to_json(selection) AS selection FROM new_candidates"""
            )
        preview = markdown_table(
            con,
            """SELECT topic, platform, strategy, generation, parse_ok, left(text, 120) AS text
            FROM candidates ORDER BY id LIMIT 12""",
        )
    stats = stats or {}
    return dg.MaterializeResult(
        metadata=language_models.usage_metadata()
        | {
            "dagster/row_count": len(rows),
            "topics": len(topics) - len(skipped),
            "skipped_topics": dg.MetadataValue.json(skipped),
            "generation": config.generation,
            "parse_failures": stats.get("parse_failures", 0),
            "empty_outputs": stats.get("empty_outputs", 0),
            "schema_valid": stats.get("schema_valid", 0),
            "stats": dg.MetadataValue.json(stats),
            "preview": preview,
        }
    )


@dg.asset_check(asset=candidates, description="At least 90% of candidates are schema-valid.")
def candidates_schema_valid(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.get_connection(read_only=True) as con:
        n, valid = con.execute(
            "SELECT count(*), count(*) FILTER (parse_ok AND text <> '') FROM candidates"
        ).fetchone()
    share = valid / n if n else 0.0
    return dg.AssetCheckResult(
        passed=share >= 0.9,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"candidates": n, "schema_valid": valid, "share": share},
    )


class CandidateScoresConfig(dg.Config):
    weights: dict[str, float] = DEFAULT_WEIGHTS
    judge: bool = False  # rate drafts with judge_lm too (costs one call per draft)


@dg.asset(deps=[candidates, engagement_model], group_name="drafting", kinds={"duckdb"}, pool="lm")
def candidate_scores(
    context: dg.AssetExecutionContext,
    config: CandidateScoresConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
) -> dg.MaterializeResult:
    """Heuristics, style fit, predicted engagement (and a judge), combined and ranked per topic."""
    scorer_lm = language_models.get("scorer_lm")
    judge = None
    if config.judge:
        from reer_pipeline.scoring.judge import judge_scores

        judge_lm = language_models.get("judge_lm")
        judge = lambda texts: judge_scores(judge_lm, texts)  # noqa: E731
    with warehouse.get_connection(read_only=True) as con:
        drafts = con.execute(
            "SELECT id, topic, platform, author, text FROM candidates ORDER BY id"
        ).fetchall()
        groups: dict[tuple, list] = {}
        for row in drafts:
            groups.setdefault((row[2], row[3]), []).append(row)
        contexts = {key: load_context(con, *key) for key in groups}
    rows = []
    for (platform, author), group in groups.items():
        model = EngagementModel.for_author(platform, author)
        scorer = CandidateScorer(
            platform,
            contexts[(platform, author)].own_texts,
            scorer_lm,
            model,
            judge,
            dict(config.weights),
        )
        texts = [r[4] or "" for r in group]
        context.log.info(f"scoring {len(texts)} drafts of {platform}:{author} in one batch")
        for r, s in zip(group, scorer.score(texts), strict=True):
            rows.append(
                {
                    "candidate_id": r[0],
                    "topic": r[1],
                    "platform": platform,
                    "author": author,
                    "heuristics": s["heuristics"],
                    "style_fit": s["style_fit"],
                    "engagement": s["engagement"],
                    "judge": s["judge"],
                    "total": s["total"],
                    "within_limit": s["within_limit"],
                    "feedback": s["feedback"],
                }
            )
    with warehouse.get_connection() as con:
        con.execute(
            """CREATE OR REPLACE TABLE candidate_scores (candidate_id INTEGER, topic VARCHAR,
            platform VARCHAR, author VARCHAR, heuristics DOUBLE, style_fit DOUBLE,
            engagement DOUBLE, judge DOUBLE, total DOUBLE, within_limit BOOLEAN,
            feedback VARCHAR, rank INTEGER)"""
        )
        if rows:
            con.register("new_scores", pa.Table.from_pylist(rows))
            con.execute(
                """INSERT INTO candidate_scores BY NAME SELECT *, CAST(row_number() OVER (
                    PARTITION BY topic, platform ORDER BY total DESC, candidate_id) AS INTEGER)
                    AS rank FROM new_scores"""
            )
        top = markdown_table(
            con,
            """SELECT s.topic, s.platform, s.rank, round(s.total, 3) AS total,
                round(s.style_fit, 2) AS style, round(s.engagement, 2) AS engagement,
                left(c.text, 140) AS draft
            FROM candidate_scores s JOIN candidates c ON c.id = s.candidate_id
            WHERE s.rank <= 3 ORDER BY s.topic, s.rank""",
        )
    return dg.MaterializeResult(
        metadata=language_models.usage_metadata()
        | {"dagster/row_count": len(rows), "weights": dict(config.weights), "top_drafts": top}
    )


@dg.asset_check(asset=candidate_scores, description="Every candidate is within its limits.")
def candidates_within_limits(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.get_connection(read_only=True) as con:
        n, over = con.execute(
            "SELECT count(*), count(*) FILTER (NOT within_limit) FROM candidate_scores"
        ).fetchone()
    return dg.AssetCheckResult(passed=over == 0, metadata={"candidates": n, "over_limit": over})
