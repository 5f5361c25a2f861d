"""The simulated reviewer: real posts as edits, gate-rejected drafts and other authors' posts as
rejections, in a real review log."""

import pytest

from reer_pipeline.learn.reviewer import (
    OTHER_AUTHOR,
    Case,
    decide,
    interleave,
    reason_for,
    record,
    simulate,
    without,
)
from reer_pipeline.program.context import load_context
from reer_pipeline.program.draft import make_scorer
from reer_pipeline.program.modules import DraftProgram
from reer_pipeline.scoring.candidates import CandidateScorer
from reer_pipeline.serve.store import REASONS
from tests.conftest import SAMPLE, embedded_lm
from tests.learn.conftest import ACCOUNT, sample_posts
from tests.scoring.conftest import warehouse


def test_gate_rejected_drafts_edits_and_other_authors(tmp_path, store):
    older, posts = sample_posts(tmp_path, newest=3)
    scorer = CandidateScorer("x", [p["text"] for p in older])
    real = posts[0]["text"]
    looped = " ".join([real.split(".")[0]] * 12)  # a draft the gate rejects as a loop
    drafts = [looped, posts[1]["text"][:60] + " said “we will double it by 2031”."]
    scores = scorer.score([*drafts, real], topics=["the economy"] * 3)
    cases = [
        Case("the economy", looped, scores[0], "2017-01-01", real, scores[2], "p0"),
        Case("the economy", drafts[1], scores[1], "2017-01-02", real, scores[2], "p1"),
        Case("the economy", "Shipping a new CSS library today", scores[2], "2017-01-03"),
    ]
    rows = record(store, ACCOUNT, cases)
    assert rows == store.decisions(ACCOUNT)  # what the log holds is what was decided
    for r, s in zip(rows[:2], scores, strict=False):  # a draft: edited, or rejected with its rule
        expected = ("approved", None) if s["usable"] else ("rejected", reason_for(s["gate_rules"]))
        assert (r["decision"], r["reason"]) == expected
    assert rows[0]["reason"] == reason_for(scores[0]["gate_rules"]) and not scores[0]["usable"]
    assert "loop" in scores[0]["gate_rules"]
    assert rows[2]["reason"] == OTHER_AUTHOR and rows[2]["approved_text"] is None
    assert {r["reason"] for r in rows} <= set(REASONS)
    assert len(store.drafts(ACCOUNT)) == 3


def test_a_usable_draft_is_edited_into_the_real_post(tmp_path):
    older, posts = sample_posts(tmp_path, newest=2)
    scorer = CandidateScorer("x", [p["text"] for p in older])
    draft, real = posts[0]["text"], posts[1]["text"]
    s = scorer.score([draft, real], topics=["the news"] * 2, facts=[[draft], [real]])
    assert s[0]["usable"], s[0]["gate_reasons"]
    d = decide(ACCOUNT, Case("the news", draft, s[0], "t", real, s[1], "p"))
    assert (d.decision, d.drafted_text, d.approved_text, d.scores) == (
        "approved",
        draft,
        real,
        s[1],
    )


def test_invented_claims_are_rejected_as_invented():
    assert reason_for(["loop", "invented"]) == "invented"
    assert reason_for(["off_topic"]) == "off_topic" and reason_for(["echo"]) == "other"


def test_other_authors_are_spread_through_time():
    own = [Case("t", f"{i}", {}, f"2017-01-{i:02d}", "y") for i in range(1, 9)]
    other = [Case("t", f"o{i}", {}, "2010") for i in range(4)]
    out = interleave(own[::-1], other)
    assert [c.created_at for c in out if c.real] == sorted(c.created_at for c in own)
    positions = [i for i, c in enumerate(out) if c.real is None]
    assert len(positions) == 4 and positions[-1] > len(out) // 2


@pytest.mark.slow
def test_simulate_drafts_with_the_embedded_model_into_the_log(tmp_path, store):
    con = warehouse(tmp_path / "w.duckdb", [SAMPLE])
    rows = con.execute(
        """SELECT post_id, platform, author, text, created_at::VARCHAR AS created_at FROM posts
        WHERE is_original ORDER BY created_at DESC LIMIT 2"""
    ).fetchall()
    keys = ("post_id", "platform", "author", "text", "created_at")
    held_out = [dict(zip(keys, r, strict=True)) for r in rows]
    ctx = without(
        load_context(con, ACCOUNT, tmp_path / "traces"), [p["text"] for p in held_out], []
    )
    assert not set(p["text"] for p in held_out) & set(ctx.own_texts)
    lm = embedded_lm()
    decisions = simulate(
        store, ACCOUNT, ctx, held_out, [], DraftProgram(), lm, make_scorer(ctx, lm), 48
    )
    assert decisions == store.decisions(ACCOUNT) and len(decisions) == 2
    by_post = {p["text"]: p for p in held_out}
    for d in decisions:
        if d["decision"] == "approved":
            assert d["approved_text"] in by_post and d["drafted_text"] != d["approved_text"]
        else:
            assert d["reason"] == reason_for(d["scores"]["gate_rules"])
