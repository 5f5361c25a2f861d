"""Accounts in the warehouse: which have enough posts to learn from, and which changed."""

from __future__ import annotations

import duckdb

from reer_pipeline import platforms
from reer_pipeline.ingest.warehouse import ensure_table
from reer_pipeline.platforms import Account


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    return con.execute(sql, [table]).fetchall()[0][0] > 0


def list_accounts(
    con: duckdb.DuckDBPyConnection,
    min_originals: int = 1,
    only: Account | None = None,
    with_engagement: bool = False,
) -> list[Account]:
    """Accounts with at least `min_originals` original posts (with engagement counts, if
    asked), most posts first; `only` limits the list to that account."""
    if not table_exists(con, "posts"):
        return []
    where = " AND engagement IS NOT NULL" if with_engagement else ""
    if only is not None:
        where += " AND platform = $platform AND author = $author"
    rows = con.execute(
        f"""SELECT platform, author FROM posts WHERE is_original {where} GROUP BY ALL
        HAVING count(*) >= $n ORDER BY count(*) DESC, platform, author""",
        {"n": min_originals} | ({"platform": only.platform, "author": only.author} if only else {}),
    ).fetchall()
    return [Account(p, a) for p, a in rows]


def fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """account key -> a digest of its posts (ids, text and engagement), to tell what changed."""
    if not table_exists(con, "posts"):
        return {}
    rows = con.execute(
        """SELECT platform || ':' || author, md5(string_agg(
            post_id || '|' || md5(text) || '|' || coalesce(engagement::VARCHAR, ''), ','
            ORDER BY post_id))
        FROM posts GROUP BY ALL"""
    ).fetchall()
    return dict(rows)


def changed_accounts(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Accounts that are new or whose posts differ."""
    return sorted(k for k, v in after.items() if before.get(k) != v)


def find_account(
    con: duckdb.DuckDBPyConnection, platform: str, author: str | None = None
) -> Account:
    """The account of `author` on `platform` (default: the one with the most original posts
    there), or a ValueError that names what the warehouse has instead."""
    platform = platforms.get(platform).name
    accounts = list_accounts(con)
    here = [a for a in accounts if a.platform == platform]
    if not here:
        have = sorted({a.platform for a in accounts})
        raise ValueError(
            f"no posts on {platform}; platforms with posts: {', '.join(have) or 'none'}"
        )
    if author is None:
        return here[0]
    if Account(platform, author) not in here:
        names = ", ".join(a.author for a in here[:10])
        raise ValueError(f"no posts by {author!r} on {platform}; authors there: {names}")
    return Account(platform, author)


def replace_account_rows(
    con: duckdb.DuckDBPyConnection, table: str, columns: str, account: Account, rows
) -> None:
    """Replace `account`'s rows of `table` (created with `columns` if missing) with the Arrow
    table `rows`, in one transaction. A table of an older shape gains the declared columns it
    lacks; one without `platform` and `author` columns is recreated."""
    exists = table_exists(con, table)
    names = (
        {d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description}
        if exists
        else set()
    )
    con.execute("BEGIN")
    try:
        if exists and not {"platform", "author"} <= names:
            con.execute(f"DROP TABLE {table}")
        ensure_table(con, table, columns)
        con.execute(
            f"DELETE FROM {table} WHERE platform = ? AND author = ?",
            [account.platform, account.author],
        )
        if rows is not None and rows.num_rows:
            con.register("new_rows", rows)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM new_rows")
            con.unregister("new_rows")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
