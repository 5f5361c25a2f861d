"""GEPA learns from decisions: approved texts are gold examples, rejection reasons feedback."""

import dspy
import pytest

from reer_pipeline.optimize.data import build_splits, decision_examples
from reer_pipeline.scoring.candidates import CandidateScorer
from reer_pipeline.scoring.metric import DraftMetric
from reer_pipeline.serve.store import REASONS, Decision, draft_id
from tests.conftest import embedded_lm
from tests.learn.conftest import ACCOUNT, sample_posts

TOPIC = "the Affordable Care Act"


def decide(store, text, decision, **kw):
    did = draft_id(ACCOUNT.platform, ACCOUNT.author, TOPIC, text)
    return store.record(Decision(did, ACCOUNT, TOPIC, text, decision, {"total": 0.5}, **kw))


def decisions_on_one_topic(store, real: str) -> list[dict]:
    """A draft rejected as an invented quote, then another edited into a real post."""
    decide(
        store,
        "Obama said “we signed 40 million up in a day”.",
        "rejected",
        reason="invented",
        note="he never said that",
    )
    decide(store, "Sign up for health care today.", "approved", approved_text=real)
    return store.decisions(ACCOUNT)


def test_approved_texts_become_gold_examples_with_the_rejections_of_their_topic(tmp_path, store):
    older, newest = sample_posts(tmp_path, newest=1)
    decisions = decisions_on_one_topic(store, newest[0]["text"])
    [gold] = decision_examples(decisions, "x")
    assert gold.reference == newest[0]["text"] and gold.topic == TOPIC
    assert [r["why"] for r in gold.rejections] == [REASONS["invented"]]
    posts = [p | {"engagement_pct": 90.0} for p in older[-10:]]
    splits = build_splits(posts, [], [], decisions=decisions)
    assert gold.post_id in {e.post_id for e in splits.train + splits.val + splits.test}


@pytest.mark.slow
def test_a_draft_rejected_as_invented_gets_that_feedback_in_the_metric(tmp_path, store):
    older, newest = sample_posts(tmp_path, newest=1)
    [gold] = decision_examples(decisions_on_one_topic(store, newest[0]["text"]), "x")
    scorer = CandidateScorer("x", [p["text"] for p in older[-200:]], scorer=embedded_lm())
    metric = DraftMetric(scorer)
    pred = dspy.Prediction(candidates=[{"text": "Health care is on the line. Get covered."}])
    result = metric(gold, pred, None, "compose", None)
    assert f"rejected a draft for this request as {REASONS['invented']}" in result.feedback
    assert "he never said that" in result.feedback
    plain = metric(gold.copy(rejections=[]), pred)
    assert REASONS["invented"] not in plain.feedback and plain.score == result.score
