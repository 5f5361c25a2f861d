"""Real decisions in a real review log, made on the shipped sample's real posts."""

import functools
import tempfile
from pathlib import Path

import pytest

from reer_pipeline.learn.reviewer import Case, record, request_of
from reer_pipeline.platforms import Account
from reer_pipeline.scoring.candidates import CandidateScorer
from reer_pipeline.serve.store import Decision, ReviewStore, draft_id
from reer_pipeline.text import words
from tests.conftest import SAMPLE
from tests.scoring.conftest import warehouse

ACCOUNT = Account("x", "BarackObama")
# the simulated person rejects posts naming the president as off topic: no scorer knows that
TASTE = {"obama", "president"}


def to_taste(text: str) -> bool:
    """Whether the simulated person rejects `text` (TASTE's words)."""
    return not TASTE & {w.lower() for w in words(text)}


def sample_posts(tmp_path, newest: int = 140) -> tuple[list[dict], list[dict]]:
    """(older, newest) original posts of the sample, oldest first."""
    posts = [dict(p) for p in _sample_originals()]
    return posts[:-newest], posts[-newest:]


@functools.cache
def _sample_originals() -> tuple[dict, ...]:
    """The sample's original posts, read once per process through a real warehouse."""
    con = warehouse(Path(tempfile.mkdtemp()) / "warehouse.duckdb", [SAMPLE])
    rows = con.execute(
        """SELECT post_id, platform, author, text, created_at::VARCHAR FROM posts
        WHERE is_original AND length(trim(text)) > 0 ORDER BY created_at, post_id"""
    ).fetchall()
    con.close()
    keys = ("post_id", "platform", "author", "text", "created_at")
    return tuple(dict(zip(keys, r, strict=True)) for r in rows)


def taste_cases(tmp_path, newest: int = 400) -> list[Case]:
    """The newest posts the gate passes as cases a person decides on, scored by a model-free
    scorer on the older posts (so the total cannot tell them apart by the gate)."""
    return list(_taste_cases(newest))


@functools.cache
def _taste_cases(newest: int) -> tuple[Case, ...]:
    older, posts = sample_posts(None, newest)
    scorer = CandidateScorer("x", [p["text"] for p in older])
    topics = [request_of(p)["topic"] for p in posts]
    texts = [p["text"] for p in posts]
    scores = scorer.score(texts, topics=topics, facts=[[t] for t in texts])
    return tuple(
        Case(t, p["text"], s, p["created_at"], p["text"], s, p["post_id"])
        for t, p, s in zip(topics, posts, scores, strict=True)
        if s["usable"]
    )


def with_taste(store: ReviewStore, cases: list[Case]) -> list[dict]:
    """Each case approved as the real post, except those on TASTE: rejected as off topic though
    the scorer passed them."""
    rows = []
    for c in cases:
        if not to_taste(c.text):
            did = draft_id(ACCOUNT.platform, ACCOUNT.author, c.topic, c.text)
            decision = Decision(
                did, ACCOUNT, c.topic, c.text, "rejected", c.scores, reason="off_topic"
            )
            rows.append(store.record(decision))
        else:
            rows += record(store, ACCOUNT, [c])
    return rows


@pytest.fixture
def store(tmp_path) -> ReviewStore:
    return ReviewStore(tmp_path / "reviews.sqlite3")
