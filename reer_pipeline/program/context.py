"""What the drafting program knows about one author, read from the warehouse."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from reer_pipeline.ingest.warehouse import fetch_dicts
from reer_pipeline.program.style import author_style
from reer_pipeline.reer.store import TraceStore, create_duckdb_view
from reer_pipeline.scoring.lift import best_slots


@dataclass
class AuthorContext:
    platform: str
    author: str
    cards: list[dict] = field(default_factory=list)
    traces: list[dict] = field(default_factory=list)
    style: dict = field(default_factory=dict)
    slots: list[dict] = field(default_factory=list)
    own_texts: list[str] = field(default_factory=list)


def _table_exists(con, name: str) -> bool:
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    return con.execute(sql, [name]).fetchone()[0] > 0


def pick_author(con: duckdb.DuckDBPyConnection, platform: str) -> str | None:
    """The author with the most original posts on `platform`."""
    row = con.execute(
        """SELECT author FROM posts WHERE platform = ? AND is_original
        GROUP BY author ORDER BY count(*) DESC, author LIMIT 1""",
        [platform],
    ).fetchone()
    return row[0] if row else None


def load_context(
    con: duckdb.DuckDBPyConnection,
    platform: str,
    author: str | None = None,
    traces_root: Path | None = None,
    max_traces: int = 5,
    own_posts: int = 64,
) -> AuthorContext:
    """Cards, kept traces, hashtag style, best slots and recent posts of one author."""
    author = author or pick_author(con, platform)
    if author is None:
        raise ValueError(f"no original posts on platform {platform!r} in the warehouse")
    ctx = AuthorContext(platform=platform, author=author)
    key = [platform, author]
    if _table_exists(con, "strategy_cards"):
        ctx.cards = fetch_dicts(
            con, "SELECT * FROM strategy_cards WHERE platform = ? AND author = ?", key
        )
    create_duckdb_view(con, traces_root or TraceStore().root)
    ctx.traces = fetch_dicts(
        con,
        """SELECT post_id, x, y, trajectory, engagement_pct FROM reer_traces
        WHERE kept AND platform = ? AND author = ? ORDER BY score_after LIMIT ?""",
        [*key, max_traces],
    )
    ctx.own_texts = [
        r["text"]
        for r in fetch_dicts(
            con,
            """SELECT text FROM posts WHERE platform = ? AND author = ? AND is_original
            ORDER BY created_at DESC LIMIT ?""",
            [*key, own_posts],
        )
    ]
    ctx.style = author_style(ctx.own_texts)
    if _table_exists(con, "feature_lift"):
        ctx.slots = [asdict(s) for s in best_slots(con, author, k=3, platform=platform)]
    return ctx


def tuned_program_path(platform: str, root: Path | None = None) -> Path | None:
    """The newest tuned program for `platform` (`<programs>/<optimizer>__<platform>/`) that did
    not score below the base program on its held-out test split, if any."""
    from reer_pipeline.paths import programs_dir

    found = sorted(
        (root or programs_dir()).glob(f"*__{platform}/program.json"),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in found:
        evaluation = path.parent / "evaluation.json"
        if evaluation.exists() and json.loads(evaluation.read_text()).get("delta_mean", 0) < 0:
            continue
        return path
    return None
