"""Candidate scoring with the real embedded model on the shipped sample's real posts: the gate
zeroes junk and names the rule, style fit is relative, one batched LM call, the judge."""

import math

import duckdb
import pytest

from reer_pipeline.scoring.candidates import CandidateScorer
from reer_pipeline.scoring.judge import judge_scores
from tests.conftest import embedded_lm

# Texts written here, for the tests that need no real author (the metric's tests use them).
OWN = [
    "Small changes ship faster. Review them in minutes, roll them back in seconds.",
    "Write the test first. It tells you when you are done.",
    "Deploy on Tuesdays, not Fridays. Your weekend will thank you.",
    "Most bugs live where two teams meet. Talk to the other team.",
    "Code review is a conversation, not a gate. Ask why before you ask for changes.",
    "Delete more code than you write this week. See what breaks. Usually nothing.",
]
GENERIC = [
    "That's a great idea, and it's so funny!",
    "This is so cool. I love it!",
    "Thank you so much for sharing this.",
    "What a wonderful day it has been.",
]


@pytest.fixture(scope="module")
def lm():
    return embedded_lm()


@pytest.fixture(scope="module")
def obama(sample_db):
    """The sample's original posts, oldest first: (train, held-out newest 20%)."""
    with duckdb.connect(str(sample_db), read_only=True) as con:
        texts = [
            r[0]
            for r in con.execute(
                "SELECT text FROM posts WHERE is_original ORDER BY created_at, post_id"
            ).fetchall()
        ]
    cut = int(len(texts) * 0.8)
    return texts[:cut], texts[cut:]


class CountingLM:  # forwards to the real model, counting score and generate calls
    def __init__(self, inner):
        self.inner, self.uri, self.capabilities = inner, inner.uri, inner.capabilities
        self.calls = self.generates = 0

    def score(self, prefixes, continuations):
        self.calls += 1
        return self.inner.score(prefixes, continuations)

    def generate(self, prompts, **kwargs):
        self.generates += 1
        return self.inner.generate(prompts, **kwargs)


@pytest.mark.slow
def test_unusable_drafts_score_zero_and_the_feedback_names_the_rule(lm, obama):
    train, held_out = obama
    own = train[-64:]
    scorer = CandidateScorer("x", own, scorer=lm)
    real = next(t for t in held_out if "climate" in t.lower())
    junk = {
        "empty": "   ",
        "loop": "This post is about climate action about a fun and lighthearted tweet about a "
        "fun and lighthearted tweet about a fun and lighthearted tweet about a fun and "
        "lighthearted vacation",
        "echo": "Before writing it, think aloud in the first person about climate action.",
        "residue": "###Question###1.1.1.1.1.1 climate {Post.json} {Post.json.json.json.",
        "copy": max(own, key=len),
        "off_topic": "That's a great idea, and it's so funny!",
    }
    texts = [real, *junk.values()]
    topics = ["climate", *["climate"] * (len(junk) - 2), None, "climate"]
    results = scorer.score(texts, topics=topics)
    assert results[0]["usable"] and results[0]["total"] > 0, results[0]["gate_reasons"]
    for (rule, text), r in zip(junk.items(), results[1:], strict=True):
        assert not r["usable"] and r["total"] == 0.0, (rule, text)
        assert rule in r["gate_rules"] and rule in r["feedback"], (rule, r["feedback"])
        assert "Unusable draft" in r["feedback"]


@pytest.mark.slow
def test_style_fit_is_relative_not_a_prize_for_short_generic_text(lm, obama):
    train, held_out = obama
    scorer = CandidateScorer("x", train[-64:], scorer=lm)
    real = held_out[:12]
    results = scorer.score(real + GENERIC)
    style = [r["style_fit"] for r in results]
    assert all(0.0 <= s <= 1.0 for s in style)
    real_style, generic_style = style[: len(real)], style[len(real) :]
    # the author's own held-out posts gain more from the author's context than generic text
    assert sum(real_style) / len(real) > sum(generic_style) / len(GENERIC)
    assert sorted(generic_style)[len(GENERIC) // 2] < sorted(real_style)[len(real) // 2]


@pytest.mark.slow
def test_the_scorer_lm_flags_most_posts_cut_mid_word_and_few_whole_ones(lm, obama):
    train, held_out = obama
    scorer = CandidateScorer("x", train[-64:], scorer=lm)
    whole, cut = [], []
    for t in held_out:  # cut inside a word of 5+ letters in the second half of the post
        spots = [i + 2 for i in range(len(t) // 2, len(t) - 5) if t[i - 1] == " "]
        spots = [i for i in spots if t[i - 2 : i + 3].isalpha()]
        if len(t.split()) >= 10 and "…" not in t and spots and len(whole) < 12:
            whole.append(t)
            cut.append(t[: spots[0]])
    results = scorer.score(whole + cut)
    flagged = [bool({"cut", "garbled"} & set(r["gate_rules"])) for r in results]
    assert sum(flagged[: len(whole)]) <= 1
    assert sum(flagged[len(whole) :]) > len(cut) / 2


@pytest.mark.slow
def test_all_lm_scoring_is_one_batched_call(lm, obama):
    train, held_out = obama
    counting = CountingLM(lm)
    scorer = CandidateScorer("x", train[-64:], scorer=counting)
    scorer.score(held_out[:3])  # calibration posts ride along in the same call
    assert counting.calls == 1 and counting.generates <= 1  # one greedy token for the cut rule
    scorer.score(held_out[3:6] + [held_out[6][: len(held_out[6]) // 2]])
    assert counting.calls == 2 and counting.generates <= 2


@pytest.mark.slow
def test_totals_feedback_and_the_limit(lm):
    scorer = CandidateScorer("linkedin", OWN, scorer=lm)
    too_long = "word " * 700
    ok, over = scorer.score(["Why do small code reviews ship faster? Three reasons.", too_long])
    assert 0.0 < ok["total"] <= 1.0 and ok["within_limit"] and ok["usable"]
    assert over["total"] == 0.0 and not over["within_limit"] and not over["usable"]
    assert "over_limit" in over["gate_rules"] and "over_limit" in over["feedback"]
    assert math.isnan(ok["engagement"])  # no engagement model given: left out of the total


@pytest.mark.slow
def test_judge_scores_are_ratings_or_counted_failures(lm):
    before = lm.usage.failures
    scores = judge_scores(lm, ["Ship small changes.", "Deploy on Fridays? Never."])
    assert len(scores) == 2
    failed = sum(math.isnan(s) for s in scores)
    assert all(0.1 <= s <= 1.0 for s in scores if not math.isnan(s))
    assert lm.usage.failures - before == failed


def test_style_fit_multiplies_the_total():
    """Voice is a factor: an engaging post in another voice ranks below a plainer one in the
    author's voice, and a style_fit weight of 0 leaves it out."""
    from reer_pipeline.scoring.candidates import DEFAULT_WEIGHTS, combine

    quality = dict(heuristics=0.8, fluency=0.7, ending=0.7, topic=1.0, judge=math.nan)
    own = combine({**quality, "style_fit": 0.9, "engagement": 0.4}, DEFAULT_WEIGHTS)
    other = combine({**quality, "style_fit": 0.2, "engagement": 0.9}, DEFAULT_WEIGHTS)
    assert 0 < other < own <= 1
    no_voice = {**DEFAULT_WEIGHTS, "style_fit": 0.0}
    assert combine({**quality, "style_fit": 0.2, "engagement": 0.9}, no_voice) > own
    assert combine({k: math.nan for k in DEFAULT_WEIGHTS}, DEFAULT_WEIGHTS) == 0.0


@pytest.mark.slow
def test_scores_are_saved_one_column_per_component(lm, tmp_path):
    """Every declared component lands in its own `candidate_scores` column, beside the total."""
    from reer_pipeline.ingest.warehouse import fetch_dicts
    from reer_pipeline.platforms import Account
    from reer_pipeline.program.draft import save_candidates, save_scores, score_drafts
    from reer_pipeline.scoring.candidates import SCORE_COMPONENTS

    texts = ["Why do small code reviews ship faster? Three reasons.", "That's a great idea!"]
    drafts = [
        {"id": i, "topic": "code review", "text": t, "usable": True, "gate_reasons": []}
        for i, t in enumerate(texts)
    ]
    scores = score_drafts(CandidateScorer("x", OWN, scorer=lm), drafts)
    account = Account("x", "someone")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        save_candidates(con, account, drafts, "base")
        report = save_scores(con, account, drafts, scores)
        rows = fetch_dicts(con, "SELECT * FROM candidate_scores ORDER BY candidate_id")
    assert report["dagster/row_count"] == len(rows) == 2
    for row, score in zip(rows, scores, strict=True):
        for c in SCORE_COMPONENTS:
            stored, value = row[c.column], score[c.name]
            assert stored == value or (math.isnan(stored) and math.isnan(value)), c.name
        assert (row["total"], row["feedback"], row["rank"]) == (
            score["total"],
            score["feedback"],
            score["rank"],
        )
    assert rows[0]["topic_fit"] > rows[1]["topic_fit"]  # the topic's adherence, not its text
