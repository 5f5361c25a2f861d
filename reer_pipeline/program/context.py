"""What the drafting program knows about one author, read from the warehouse."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from reer_pipeline.ingest.accounts import table_exists
from reer_pipeline.ingest.warehouse import fetch_dicts
from reer_pipeline.platforms import Account
from reer_pipeline.program.style import author_style
from reer_pipeline.reer.store import create_duckdb_view
from reer_pipeline.scoring.lift import best_slots

STYLE_POSTS = 64  # the newest posts that say how the author uses hashtags


@dataclass
class AuthorContext:
    platform: str
    author: str
    cards: list[dict] = field(default_factory=list)
    traces: list[dict] = field(default_factory=list)
    style: dict = field(default_factory=dict)
    slots: list[dict] = field(default_factory=list)
    own_texts: list[str] = field(default_factory=list)  # every original post, newest first
    other_texts: list[str] = field(default_factory=list)  # other accounts' posts, for style


def load_context(
    con: duckdb.DuckDBPyConnection,
    account: Account,
    traces_root: Path,
    max_traces: int = 5,
    other_posts: int = 3000,
) -> AuthorContext:
    """Cards, kept traces, hashtag style, best slots and recent posts of one account."""
    platform, author = account.platform, account.author
    key = [platform, author]
    n = con.execute(
        "SELECT count(*) FROM posts WHERE platform = ? AND author = ? AND is_original", key
    ).fetchall()[0][0]
    if not n:
        raise ValueError(f"no original posts of {account} in the warehouse")
    ctx = AuthorContext(platform=platform, author=author)
    if table_exists(con, "strategy_cards"):
        ctx.cards = fetch_dicts(
            con, "SELECT * FROM strategy_cards WHERE platform = ? AND author = ?", key
        )
    create_duckdb_view(con, traces_root)
    ctx.traces = fetch_dicts(
        con,
        """SELECT post_id, x, y, trajectory, engagement_pct FROM reer_traces
        WHERE kept AND platform = ? AND author = ? ORDER BY score_after LIMIT ?""",
        [*key, max_traces],
    )
    texts = fetch_dicts(
        con,
        """SELECT platform = ? AND author = ? AS own, text FROM posts WHERE is_original
        ORDER BY created_at DESC, post_id""",
        key,
    )
    ctx.own_texts = [r["text"] for r in texts if r["own"]]
    ctx.other_texts = [r["text"] for r in texts if not r["own"]][:other_posts]
    ctx.style = author_style(ctx.own_texts[:STYLE_POSTS])
    if table_exists(con, "feature_lift"):
        ctx.slots = [asdict(s) for s in best_slots(con, author, k=3, platform=platform)]
    return ctx
