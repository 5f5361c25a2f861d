"""Draft posts for an account and score them: the one sequence behind `candidates`,
`candidate_scores`, `reer draft` and tuning's scorer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from reer_pipeline.ingest.accounts import replace_account_rows
from reer_pipeline.ingest.warehouse import fetch_dicts
from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.platforms import Account
from reer_pipeline.program.context import AuthorContext
from reer_pipeline.program.modules import DraftProgram, draft_candidates, load_program
from reer_pipeline.scoring.candidates import SCORE_COMPONENTS, CandidateScorer
from reer_pipeline.scoring.engagement import EngagementModel
from reer_pipeline.scoring.judge import judge_with
from reer_pipeline.tables import query_table, rows_table
from reer_pipeline.text import word_ngrams, words

NEAR_DUPLICATE = 0.5  # a draft sharing this share of its word 3-grams with a better one repeats it
DUPLICATE_NGRAM = 3


def make_scorer(
    ctx: AuthorContext,
    scorer_lm: LanguageModel | None,
    engagement_path: Path | None = None,
    judge_lm: LanguageModel | None = None,
    weights: dict[str, float] | None = None,
    preference_path: Path | None = None,
) -> CandidateScorer:
    """The account's scorer: its own posts, its engagement model when one was trained, its
    preference model where one was saved (only where it beat the total on later decisions),
    and a judge model when one is given."""
    judge = judge_with(judge_lm) if judge_lm is not None else None
    model = (
        EngagementModel.load(engagement_path)
        if engagement_path is not None and engagement_path.exists()
        else None
    )
    kw = {"weights": dict(weights)} if weights else {}
    scorer = CandidateScorer(
        ctx.platform, ctx.own_texts, scorer_lm, model, judge, other_texts=ctx.other_texts, **kw
    )
    if preference_path is not None and preference_path.exists():
        from reer_pipeline.learn.preference import PreferenceModel

        scorer.preference = PreferenceModel.load(preference_path)
    return scorer


def make_program(path: Path | None, **config) -> tuple[DraftProgram, str]:
    """The tuned program at `path` when there is one, else the base program; and its source."""
    if path is None:
        return DraftProgram(**config), "base"
    return load_program(path, **config), str(path)


def draft(
    program: DraftProgram,
    proposer: LanguageModel,
    ctx: AuthorContext,
    topics: Sequence[dict],
    max_tokens: int,
) -> tuple[list[dict], dict]:
    """Drafts for every topic, in the account's voice, with their provenance and stats."""
    return draft_candidates(
        program,
        proposer,
        topics,
        ctx.cards,
        ctx.traces,
        ctx.style,
        ctx.slots,
        max_tokens,
        author_posts=ctx.own_texts,
    )


def overlap(a: str, b: str, topic: str = "", n: int = DUPLICATE_NGRAM) -> float:
    """The share of the shorter text's word n-grams that the other holds, the topic's own
    n-grams left out (two drafts that both name the topic repeat nothing); texts of fewer than
    n words: 1.0 when their words are the same, else 0.0."""
    said = set(word_ngrams(topic, n))
    ga, gb = set(word_ngrams(a, n)) - said, set(word_ngrams(b, n)) - said
    if not ga or not gb:
        return float(words(a) == words(b))
    return len(ga & gb) / min(len(ga), len(gb))


def diverse_order(
    texts: Sequence[str], totals: Sequence[float], topic: str = "", cutoff: float = NEAR_DUPLICATE
) -> list[tuple[int, int | None]]:
    """The drafts of one topic best first, every near-duplicate of a better draft (`overlap` at
    least `cutoff`) after all the drafts that repeat none: (index, index of the draft it repeats
    or None)."""
    kept: list[int] = []
    repeats: list[tuple[int, int]] = []
    for i in sorted(range(len(texts)), key=lambda i: (-totals[i], i)):
        like = next((j for j in kept if overlap(texts[i], texts[j], topic) >= cutoff), None)
        if like is None:
            kept.append(i)
        else:
            repeats.append((i, like))
    return [(i, None) for i in kept] + repeats


def score_drafts(scorer: CandidateScorer, drafts: Sequence[dict]) -> list[dict]:
    """Every draft's scores against its topic (one batched scorer call) and its rank within its
    topic: by total, a near-duplicate of a better draft after the drafts that repeat none
    (`duplicate_of` holds the rank of the draft it repeats)."""
    texts = [d.get("text") or "" for d in drafts]
    scores = scorer.score(
        texts, topics=[d["topic"] for d in drafts], facts=[d.get("facts") or () for d in drafts]
    )
    by_topic: dict[str, list[int]] = {}
    for i, d in enumerate(drafts):
        by_topic.setdefault(d["topic"], []).append(i)
    for topic, members in by_topic.items():
        order = diverse_order(
            [texts[i] for i in members], [scores[i]["total"] for i in members], topic
        )
        rank_of = {k: r for r, (k, _) in enumerate(order, 1)}
        for k, like in order:
            scores[members[k]]["rank"] = rank_of[k]
            scores[members[k]]["duplicate_of"] = None if like is None else rank_of[like]
    return scores


def draft_and_score(program, proposer, scorer, ctx, topics, max_tokens):
    """Drafts with their scores, best first within each topic; and the drafting stats."""
    drafts, stats = draft(program, proposer, ctx, topics, max_tokens)
    scores = score_drafts(scorer, drafts)
    ranked = sorted(
        zip(drafts, scores, strict=True), key=lambda ds: (ds[0]["topic"], ds[1]["rank"])
    )
    return ranked, stats


CANDIDATE_COLUMNS = """platform VARCHAR, author VARCHAR, id INTEGER, topic VARCHAR,
    audience VARCHAR, angle VARCHAR, strategy VARCHAR, strategy_post_ids VARCHAR[],
    trajectory_post_ids VARCHAR[], generation VARCHAR, program VARCHAR, text VARCHAR,
    parts VARCHAR[], within_limit BOOLEAN, parse_ok BOOLEAN, usable BOOLEAN,
    gate_reasons VARCHAR[], error VARCHAR, slot JSON, selection JSON, facts VARCHAR[]"""
SCORE_FIELDS = """total DOUBLE, usable BOOLEAN, gate_reasons VARCHAR[], within_limit BOOLEAN,
    feedback VARCHAR, rank INTEGER, duplicate_of INTEGER"""  # after the components' columns
SCORE_COLUMNS = f"""platform VARCHAR, author VARCHAR, candidate_id INTEGER, topic VARCHAR,
    {", ".join(f'"{c.column}" DOUBLE' for c in SCORE_COMPONENTS)}, {SCORE_FIELDS}"""
ACCOUNT = "WHERE platform = ? AND author = ?"


def _names(columns: str) -> list[str]:
    return [c.split()[0].strip('"') for c in columns.replace("\n", " ").split(",")]


def save_candidates(con, account: Account, drafts: Sequence[dict], program: str) -> dict:
    """Replace the account's rows of `candidates`; report how many are usable and why not."""
    names = _names(CANDIDATE_COLUMNS)
    base = {"platform": account.platform, "author": account.author, "program": program}
    rows = [{c: ({**d, **base, "id": i}).get(c) for c in names} for i, d in enumerate(drafts)]
    table = pa.Table.from_pylist(rows) if rows else None
    replace_account_rows(con, "candidates", CANDIDATE_COLUMNS, account, table)
    usable = sum(bool(r["usable"]) for r in rows)
    reasons = Counter(reason.split(":")[0] for r in rows for reason in r["gate_reasons"] or [])
    return {
        "dagster/row_count": len(rows),
        "usable": usable,
        "usable_rate": usable / len(rows) if rows else 0.0,
        "usable_summary": f"usable {usable} of {len(rows)}",
        "rejected_by_rule": dict(reasons),
        "rejected": rows_table(
            [
                {"topic": r["topic"], "why": "; ".join(r["gate_reasons"] or []), "text": r["text"]}
                for r in rows
                if not r["usable"]
            ][:12]
        ),
        "preview": query_table(
            con,
            f"""SELECT topic, strategy, usable, left(text, 120) AS text
            FROM candidates {ACCOUNT} ORDER BY id LIMIT 12""",
            [account.platform, account.author],
        ),
    }


def read_candidates(con, account: Account) -> list[dict]:
    return fetch_dicts(
        con,
        f"SELECT id, topic, text, facts FROM candidates {ACCOUNT} ORDER BY id",
        [account.platform, account.author],
    )


def save_scores(con, account: Account, drafts: Sequence[dict], scores: Sequence[dict]) -> dict:
    """Replace the account's rows of `candidate_scores`; report the top drafts per topic."""
    rows = [
        {
            "platform": account.platform,
            "author": account.author,
            "candidate_id": d["id"],
            "topic": d["topic"],
            **{c.column: s.get(c.name) for c in SCORE_COMPONENTS},
            **{k: s.get(k) for k in _names(SCORE_FIELDS)},
        }
        for d, s in zip(drafts, scores, strict=True)
    ]
    replace_account_rows(
        con,
        "candidate_scores",
        SCORE_COLUMNS,
        account,
        pa.Table.from_pylist(rows) if rows else None,
    )
    return {
        "dagster/row_count": len(rows),
        "usable": sum(bool(r["usable"]) for r in rows),
        "over_limit": sum(not r["within_limit"] for r in rows),
        "top_drafts": query_table(
            con,
            """SELECT s.topic, s.rank, s.duplicate_of, round(s.total, 3) AS total, s.usable,
                round(s.style_fit, 2) AS style, round(s.engagement, 2) AS engagement,
                left(c.text, 140) AS draft
            FROM candidate_scores s JOIN candidates c ON c.id = s.candidate_id
                AND c.platform = s.platform AND c.author = s.author
            WHERE s.platform = ? AND s.author = ? AND s.rank <= 3 ORDER BY s.topic, s.rank""",
            [account.platform, account.author],
        ),
    }
