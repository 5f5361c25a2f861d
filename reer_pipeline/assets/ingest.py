"""Ingestion assets: one partition per export file, then the `posts` and `top_posts` tables."""

import re
from pathlib import Path

import dagster as dg
import duckdb

from reer_pipeline.assets.metadata import markdown_table, metadata
from reer_pipeline.assets.partitions import account_partitions, export_partitions
from reer_pipeline.ingest.formats import CsvMapping, ExportOptions, file_hash
from reer_pipeline.ingest.report import rebuild_posts
from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import EngagementConfig, build_top_posts
from reer_pipeline.ingest.watch import export_digest
from reer_pipeline.layout import DataLayout
from reer_pipeline.resources.storage import Storage
from reer_pipeline.resources.warehouse import Warehouse

KEY_RE = re.compile(r"^(?P<name>[^/\\]+)@(?P<hash>[0-9a-f]{8})$")


def partition_key(path: Path) -> str:
    """The file name plus a short hash of it and its column mapping, so a changed file (or
    mapping) becomes a new partition."""
    return f"{path.name}@{export_digest(path)[:8]}"


def export_path(key: str, folder: Path) -> Path:
    """The file a partition key names, refusing anything outside the exports folder."""
    folder = folder.resolve()
    match = KEY_RE.match(key)
    if not match or match["name"] in (".", ".."):
        raise ValueError(f"invalid export partition key {key!r}: expected '<file name>@<8 hex>'")
    path = (folder / match["name"]).resolve()
    if path.parent != folder:
        raise ValueError(f"export partition key {key!r} points outside {folder}")
    return path


def staged_path(layout: DataLayout, key: str) -> Path:
    return layout.staging / f"{key}.parquet"


class ExportFilesConfig(dg.Config):
    author: str | None = None  # for formats that do not name their author (LinkedIn, X archive)
    csv_columns: dict[str, str] = {}  # CsvMapping overrides for plain CSV, e.g. {"text": "body"}


@dg.asset(
    partitions_def=export_partitions,
    group_name="ingest",
    kinds={"python", "parquet"},
    check_specs=[dg.AssetCheckSpec("parse_rate_at_least_90pct", asset="export_files")],
)
def export_files(context: dg.AssetExecutionContext, config: ExportFilesConfig, storage: Storage):
    """One export file, parsed and validated into staged posts, with its parse report."""
    key = context.partition_key
    layout = storage.layout
    path = export_path(key, layout.exports)
    if not path.is_file():
        raise dg.Failure(f"export file {path.name} is missing from {path.parent}")
    digest = file_hash(path)
    if not key.endswith("@" + export_digest(path, digest)[:8]):
        raise dg.Failure(f"{path.name} changed since partition {key} was added; a new one will be")
    options = ExportOptions(author=config.author, csv=CsvMapping(**config.csv_columns))
    report = stage_export(path, staged_path(layout, key), options, digest)
    context.log.info(report.summary())
    for sample in report.error_samples[:5]:
        context.log.warning(f"{path.name}: {sample}")
    if (problem := report.failure()) is not None:  # no posts: fail visibly, `posts` untouched
        raise dg.Failure(
            description=problem,
            metadata={"parse_report": dg.MetadataValue.json(report.as_dict())},
        )
    yield dg.MaterializeResult(
        metadata=_staged_summary(staged_path(layout, key))
        | {
            "file": path.name,
            "format": report.format or "unknown",
            "records": report.records,
            "posts": report.posts,
            "errors": report.errors,
            "parse_rate": report.parse_rate,
            "parse_report": dg.MetadataValue.json(report.as_dict()),
        }
    )
    passed = report.error is None and report.parse_rate >= 0.9
    yield dg.AssetCheckResult(
        check_name="parse_rate_at_least_90pct",
        passed=passed,
        description=None
        if passed
        else report.error
        or (f"{path.name}: only {report.posts} of {report.records} records parsed"),
        metadata={"file": path.name, "parse_rate": report.parse_rate},
    )


def _staged_summary(staged: Path) -> dict:
    if not staged.exists():
        return {}
    with duckdb.connect() as con:
        con.read_parquet(str(staged)).create_view("staged")
        return {
            "by_author": markdown_table(
                con,
                """SELECT platform, author, count(*) AS posts,
                    count(*) FILTER (is_repost) AS reposts, count(*) FILTER (is_reply) AS replies,
                    min(created_at) AS first, max(created_at) AS last FROM staged GROUP BY ALL""",
            ),
            "preview": markdown_table(
                con, "SELECT created_at, left(text, 100) AS text, likes FROM staged LIMIT 10"
            ),
        }


class PostsConfig(dg.Config):
    likes_weight: float = 1.0
    reposts_weight: float = 2.0
    replies_weight: float = 3.0
    half_life_days: float | None = None
    followers: dict[str, int] = {}
    min_account_posts: int = 20  # original posts an account needs to get its own partition


@dg.asset(deps=[export_files], group_name="ingest", kinds={"duckdb"}, pool="duckdb")
def posts(
    context: dg.AssetExecutionContext, config: PostsConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Every post of every export, one row per (platform, author, post id), with engagement.

    Registers an `accounts` partition for every account with enough original posts, and says
    in `changed_accounts` which accounts' posts this rebuild changed.
    """
    layout = warehouse.storage.layout
    keys = context.instance.get_dynamic_partitions(export_partitions.name)
    staged = [staged_path(layout, k) for k in keys if staged_path(layout, k).exists()]
    cfg = EngagementConfig(
        likes=config.likes_weight,
        reposts=config.reposts_weight,
        replies=config.replies_weight,
        half_life_days=config.half_life_days,
        followers=config.followers,
    )
    with warehouse.get_connection() as con:
        report = rebuild_posts(con, staged, cfg, config.min_account_posts)
    known = set(context.instance.get_dynamic_partitions(account_partitions.name))
    new = [k for k in report["accounts"] if k not in known]
    if new:
        context.instance.add_dynamic_partitions(account_partitions.name, new)
        context.log.info(f"new account partitions: {new}")
    context.log.info(f"posts: {report['dagster/row_count']} rows from {len(staged)} exports")
    return dg.MaterializeResult(metadata=metadata(report))


@dg.asset_check(asset=posts, description="No (platform, author, post_id) appears twice.")
def posts_unique(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.get_connection() as con:
        dupes = con.execute(
            """SELECT count(*) FROM (SELECT 1 FROM posts
               GROUP BY platform, author, post_id HAVING count(*) > 1)"""
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=dupes == 0, metadata={"duplicate_keys": dupes})


class TopPostsConfig(dg.Config):
    quantile: float = 0.9
    min_count: int = 20


@dg.asset(deps=[posts], group_name="ingest", kinds={"duckdb"}, pool="duckdb")
def top_posts(
    context: dg.AssetExecutionContext, config: TopPostsConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """The best original posts per author; reposts and replies never count."""
    with warehouse.get_connection() as con:
        build_top_posts(con, config.quantile, config.min_count)
        count = con.execute("SELECT count(*) FROM top_posts").fetchone()[0]
        context.log.info(f"top_posts: {count} posts at or above the {config.quantile} quantile")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": count,
                "by_author": markdown_table(
                    con,
                    """SELECT platform, author, count(*) AS top_posts,
                        min(engagement_pct) AS min_pct, median(engagement) AS median_engagement
                    FROM top_posts GROUP BY ALL""",
                ),
                "preview": markdown_table(
                    con,
                    """SELECT author, left(text, 100) AS text, engagement, engagement_pct
                    FROM top_posts ORDER BY engagement DESC LIMIT 10""",
                ),
            }
        )
