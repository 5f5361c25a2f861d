"""What the trace store holds for one account and search config, as report values."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import duckdb

from reer_pipeline.platforms import Account
from reer_pipeline.reer.search import LOCKSTEP_POSTS, SearchConfig, bind_models, mine
from reer_pipeline.reer.store import TraceStore, create_duckdb_view
from reer_pipeline.tables import query_table


def trace_report(traces_root, config_hash: str, account: Account) -> dict:
    """Counts, score changes, cost and examples of the account's traces under `config_hash`.

    `worse` and `improved` count traces whose score rose or fell (lower is better)."""
    params = [config_hash, account.platform, account.author]
    where = "WHERE config_hash = $1 AND platform = $2 AND author = $3"
    with duckdb.connect() as con:
        create_duckdb_view(con, traces_root)
        rows = con.execute(f"SELECT score_before, score_after FROM reer_traces {where}", params)
        scored = [(b, a) for b, a in rows.fetchall() if b is not None and a is not None]
        totals = con.execute(
            f"""SELECT count(*), sum(generate_calls + score_calls), sum(prompt_tokens),
                sum(completion_tokens), sum(scored_tokens), count(*) FILTER (kept)
            FROM reer_traces {where}""",
            params,
        ).fetchall()[0]
        reductions = [(b - a) / b for b, a in scored if b > 0]
        improved = sum(a < b - 1e-9 for b, a in scored)
        return {
            "dagster/row_count": totals[0],
            "traces_kept": totals[5] or 0,
            "scored": len(scored),
            "worse": sum(a > b + 1e-9 for b, a in scored),
            "improved": improved,
            "improved_share": improved / len(scored) if scored else 0.0,
            "median_relative_reduction": statistics.median(reductions) if reductions else 0.0,
            "model_calls": int(totals[1] or 0),
            "prompt_tokens": int(totals[2] or 0),
            "completion_tokens": int(totals[3] or 0),
            "scored_tokens": int(totals[4] or 0),
            "score_distribution": query_table(
                con,
                f"""SELECT 'before' AS score, min(score_before) AS min,
                    quantile_cont(score_before, 0.25) AS p25, median(score_before) AS p50,
                    quantile_cont(score_before, 0.75) AS p75, max(score_before) AS max
                FROM reer_traces {where}
                UNION ALL
                SELECT 'after', min(score_after), quantile_cont(score_after, 0.25),
                    median(score_after), quantile_cont(score_after, 0.75), max(score_after)
                FROM reer_traces {where}""",
                params,
            ),
            "examples": query_table(
                con,
                f"""SELECT post_id, left(y, 80) AS post, topic,
                    left(trajectory, 160) AS trajectory, score_before, score_after, kept
                FROM reer_traces {where} ORDER BY score_gain DESC NULLS LAST LIMIT 5""",
                params,
            ),
        }


def kept_traces(con: duckdb.DuckDBPyConnection, traces_root, account: Account) -> list[dict]:
    """The account's kept traces, oldest post first."""
    create_duckdb_view(con, traces_root)
    rel = con.execute(
        """SELECT post_id, platform, author, x, topic, audience, y, trajectory, engagement_pct,
            score_after
        FROM reer_traces WHERE kept AND platform = ? AND author = ?
        ORDER BY post_created_at, post_id""",
        [account.platform, account.author],
    )
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def accounts_with_untraced_top_posts(con: duckdb.DuckDBPyConnection, traces_root) -> list[str]:
    """Account keys with a top post that has no trace yet (under any search config)."""
    create_duckdb_view(con, traces_root)
    rows = con.execute(
        """SELECT DISTINCT platform || ':' || author FROM top_posts t
        WHERE NOT EXISTS (SELECT 1 FROM reer_traces r WHERE r.platform = t.platform
            AND r.author = t.author AND r.post_id = t.post_id)
        ORDER BY 1"""
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class MiningRun:
    """One mining run's budget and what its checks expect."""

    max_posts: int | None = field(default=20, metadata={"help": "posts mined at most this run"})
    time_limit_s: float | None = field(
        default=3600.0, metadata={"help": "no new group of posts starts after this many seconds"}
    )
    lockstep_posts: int = field(
        default=LOCKSTEP_POSTS,
        metadata={"help": "posts searched at once: speed only, the same trace ids"},
    )
    min_improved_share: float = field(
        default=0.5, metadata={"help": "the improvement check warns below this share of traces"}
    )


def mine_account(
    account: Account,
    posts: list[dict],
    *,
    traces_root,
    proposer,
    scorer,
    search: SearchConfig,
    run: MiningRun = MiningRun(),
    log=print,
) -> dict:
    """Mine the account's top posts that have no trace under `search` (bound to the models'
    URIs), logging progress and failures; report this run's counts and the store's state for
    the account."""

    def progress(p):
        eta = "?" if p.eta_s is None else f"{p.eta_s / 60:.1f} min"
        log(f"post {p.i} of {p.n} ({p.post_id}): {p.status}; about {eta} left")

    search = bind_models(search, proposer, scorer)
    report = mine(
        posts,
        TraceStore(traces_root),
        proposer,
        scorer,
        search,
        max_posts=run.max_posts,
        time_limit_s=run.time_limit_s,
        on_progress=progress,
        lockstep=run.lockstep_posts,
    )
    for error in report.errors[:10]:
        log(f"mining failed for {error}")
    return trace_report(traces_root, search.config_hash, account) | {
        "mined_this_run": report.mined,
        "skipped_existing": report.skipped_existing,
        "failed_this_run": report.failed,
        "stopped": report.stopped,
        "config_hash": search.config_hash,
    }
