"""Rebuild `posts` and report what it holds and which accounts changed."""

from __future__ import annotations

from pathlib import Path

import duckdb

from reer_pipeline.ingest.accounts import changed_accounts, fingerprints, list_accounts
from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts
from reer_pipeline.tables import query_table


def rebuild_posts(
    con: duckdb.DuckDBPyConnection, staged: list[Path], cfg: EngagementConfig, min_posts: int
) -> dict:
    """Rebuild `posts` from the staged exports. Reports its accounts (with at least `min_posts`
    originals), the accounts whose posts changed, and tables by author."""
    before = fingerprints(con)
    build_posts(con, staged, cfg)
    accounts = [a.key for a in list_accounts(con, min_posts)]
    changed = changed_accounts(before, fingerprints(con))
    return {
        "dagster/row_count": con.execute("SELECT count(*) FROM posts").fetchall()[0][0],
        "exports": len(staged),
        "accounts": accounts,
        "changed_accounts": [k for k in changed if k in set(accounts)],
        "by_author": query_table(
            con,
            """SELECT platform, author, count(*) AS posts,
                count(*) FILTER (is_original) AS originals,
                count(*) FILTER (is_repost) AS reposts, count(*) FILTER (is_reply) AS replies,
                count(*) FILTER (is_thread) AS in_threads
            FROM posts GROUP BY ALL ORDER BY posts DESC""",
        ),
        "engagement": query_table(
            con,
            """SELECT platform, author, count(engagement) AS scored,
                quantile_cont(engagement, 0.5) AS p50, quantile_cont(engagement, 0.9) AS p90,
                max(engagement) AS max
            FROM posts WHERE is_original GROUP BY ALL""",
        ),
        "preview": query_table(
            con,
            """SELECT platform, author, created_at, left(text, 100) AS text,
                likes, reposts, replies, engagement_pct
            FROM posts ORDER BY created_at DESC LIMIT 10""",
        ),
    }
