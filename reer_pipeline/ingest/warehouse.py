"""The `posts` and `top_posts` tables in DuckDB, built from staged exports with SQL."""

from __future__ import annotations

from pathlib import Path

import duckdb
from pydantic import BaseModel


class EngagementConfig(BaseModel):
    """How engagement is weighted, and what an author's follower count is where it is known."""

    likes: float = 1.0
    reposts: float = 2.0
    replies: float = 3.0
    half_life_days: float | None = None  # optional time decay, relative to the author's newest post
    followers: dict[str, int] = {}  # author -> followers, for impressions per follower


def build_posts(con: duckdb.DuckDBPyConnection, staged: list[Path], cfg: EngagementConfig) -> None:
    """Replace `posts` with the union of staged files, one row per (platform, author, post_id).

    The same post seen twice keeps exactly one row, by this rule (the same on every rebuild):
    1. the row from the newest file wins (the export file's modification time), so importing an
       overlapping export again updates the counts;
    2. between files of the same time, the one whose name sorts last, then whose content hash
       sorts last;
    3. within one file, the last record with that id wins (the file's later word on it).
    The swap happens in one transaction, so a failure loses nothing.
    """
    files = [str(p) for p in staged if Path(p).exists()]
    if not files:
        raise ValueError("no staged exports to build posts from")
    decay = (
        "1.0"
        if cfg.half_life_days is None
        else f"pow(0.5, date_diff('second', created_at, max(created_at) OVER author_w)"
        f" / 86400.0 / {float(cfg.half_life_days)})"
    )
    followers = [(a, int(n)) for a, n in cfg.followers.items()] or [("", 0)]
    names = {
        row[0]
        for row in con.execute(
            "DESCRIBE SELECT * FROM read_parquet(?, union_by_name = true)", [files]
        ).fetchall()
    }
    # Files staged before source_row existed carry no record order; theirs ranks after it.
    row_order = "source_row DESC NULLS LAST" if "source_row" in names else "1"
    drop = "source_mtime, source_row" if "source_row" in names else "source_mtime"
    con.execute("BEGIN")
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE followers (author VARCHAR, n BIGINT)")
        con.executemany("INSERT INTO followers VALUES (?, ?)", followers)
        con.execute(
            f"""
            CREATE OR REPLACE TABLE posts AS
            WITH latest AS (
                SELECT * EXCLUDE ({drop})
                FROM read_parquet(?, union_by_name = true)
                QUALIFY row_number() OVER (
                    PARTITION BY platform, author, post_id
                    ORDER BY source_mtime DESC, source_file DESC, source_hash DESC,
                        {row_order}) = 1
            ), threads AS (
                SELECT * REPLACE (
                    is_thread OR post_id IN (
                        SELECT reply_to_id FROM latest t WHERE t.is_thread
                        AND t.author = latest.author AND t.platform = latest.platform
                    ) AS is_thread)
                FROM latest
            ), scored AS (
                SELECT *,
                    NOT is_repost AND NOT is_reply AS is_original,
                    CASE WHEN likes IS NULL AND reposts IS NULL AND replies IS NULL THEN NULL
                        ELSE (coalesce(likes, 0) * {cfg.likes}
                            + coalesce(reposts, 0) * {cfg.reposts}
                            + coalesce(replies, 0) * {cfg.replies}) * {decay}
                    END AS engagement
                FROM threads
                WINDOW author_w AS (PARTITION BY platform, author)
            )
            SELECT s.*,
                CASE WHEN is_original AND engagement IS NOT NULL THEN percent_rank() OVER (
                    PARTITION BY platform, author, is_original AND engagement IS NOT NULL
                    ORDER BY engagement) END AS engagement_pct,
                impressions / nullif(f.n, 0) AS impressions_per_follower
            FROM scored s LEFT JOIN followers f USING (author)
            ORDER BY platform, author, created_at
            """,
            [files],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def ensure_table(con: duckdb.DuckDBPyConnection, table: str, columns: str) -> list[str]:
    """Create `table` with `columns` (DuckDB column definitions), or add to an existing one the
    declared columns it lacks (NULL in its old rows), so an older warehouse takes new columns.
    Returns the names of the columns added."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
    have = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    con.execute(f"CREATE OR REPLACE TEMP TABLE declared_columns ({columns})")
    declared = con.execute("DESCRIBE declared_columns").fetchall()
    con.execute("DROP TABLE declared_columns")
    added = [(name, kind) for name, kind, *_ in declared if name not in have]
    for name, kind in added:
        con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')
    return [name for name, _ in added]


def fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params=()) -> list[dict]:
    """Rows of a query as dicts keyed by column name."""
    rel = con.execute(sql, list(params))
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def read_account_posts(con: duckdb.DuckDBPyConnection, platform: str, author: str) -> list[dict]:
    """Every post of one account, oldest first, as the author model's training data takes them."""
    return fetch_dicts(
        con,
        """SELECT post_id, platform, author, text, created_at::VARCHAR AS created_at, is_original,
            is_reply, is_repost
        FROM posts WHERE platform = ? AND author = ? ORDER BY created_at, post_id""",
        [platform, author],
    )


def read_top_posts(
    con: duckdb.DuckDBPyConnection,
    platform: str | None = None,
    author: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Top posts, best first, as mining and tuning take them (`engagement_pct` 0-100)."""
    where = " AND ".join(
        f"{col} = ?" for col, v in (("platform", platform), ("author", author)) if v is not None
    )
    params = [v for v in (platform, author) if v is not None]
    return fetch_dicts(
        con,
        f"""SELECT post_id, platform, author, text, created_at::VARCHAR AS created_at,
            100 * engagement_pct AS engagement_pct
        FROM top_posts {"WHERE " + where if where else ""}
        ORDER BY engagement DESC, post_id {"LIMIT " + str(int(limit)) if limit else ""}""",
        params,
    )


def build_top_posts(con: duckdb.DuckDBPyConnection, quantile: float, min_count: int) -> None:
    """Best original posts per author: at or above `quantile`, and never fewer than `min_count`."""
    con.execute(
        """
        CREATE OR REPLACE TABLE top_posts AS
        SELECT * EXCLUDE (rank) FROM (
            SELECT *, row_number() OVER (
                PARTITION BY platform, author ORDER BY engagement DESC, post_id) AS rank
            FROM posts WHERE is_original AND engagement IS NOT NULL
        ) WHERE engagement_pct >= ? OR rank <= ?
        ORDER BY platform, author, engagement DESC
        """,
        [quantile, min_count],
    )
