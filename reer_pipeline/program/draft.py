"""Draft posts for an account and score them: the one sequence behind `candidates`,
`candidate_scores`, `reer draft` and tuning's scorer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.program.context import AuthorContext
from reer_pipeline.program.modules import DraftProgram, draft_candidates, load_program
from reer_pipeline.scoring.candidates import CandidateScorer
from reer_pipeline.scoring.engagement import EngagementModel
from reer_pipeline.scoring.judge import judge_with


def make_scorer(
    ctx: AuthorContext,
    scorer_lm: LanguageModel | None,
    engagement_path: Path | None = None,
    judge_lm: LanguageModel | None = None,
    weights: dict[str, float] | None = None,
) -> CandidateScorer:
    """The account's scorer: its own posts, its engagement model when one was trained, and a
    judge model when one is given."""
    judge = judge_with(judge_lm) if judge_lm is not None else None
    model = (
        EngagementModel.load(engagement_path)
        if engagement_path is not None and engagement_path.exists()
        else None
    )
    kw = {"weights": dict(weights)} if weights else {}
    return CandidateScorer(
        ctx.platform, ctx.own_texts, scorer_lm, model, judge, other_texts=ctx.other_texts, **kw
    )


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
        program, proposer, topics, ctx.cards, ctx.traces, ctx.style, ctx.slots, max_tokens
    )


def score_drafts(scorer: CandidateScorer, drafts: Sequence[dict]) -> list[dict]:
    """Every draft's scores (one batched scorer call) and its rank within its topic."""
    scores = scorer.score([d.get("text") or "" for d in drafts])
    order = sorted(range(len(drafts)), key=lambda i: (drafts[i]["topic"], -scores[i]["total"], i))
    rank, previous = 0, None
    for i in order:
        rank = rank + 1 if drafts[i]["topic"] == previous else 1
        previous = drafts[i]["topic"]
        scores[i]["rank"] = rank
    return scores


def draft_and_score(program, proposer, scorer, ctx, topics, max_tokens):
    """Drafts with their scores, best first within each topic; and the drafting stats."""
    drafts, stats = draft(program, proposer, ctx, topics, max_tokens)
    scores = score_drafts(scorer, drafts)
    ranked = sorted(
        zip(drafts, scores, strict=True), key=lambda ds: (ds[0]["topic"], ds[1]["rank"])
    )
    return ranked, stats
