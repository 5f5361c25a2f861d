"""The GEPA metric: five arguments, the scorer's total, feedback in words, the judge only on
feedback calls, references scored in one batch."""

import dspy
import pytest

from reer_pipeline.scoring.candidates import CandidateScorer
from reer_pipeline.scoring.metric import DraftMetric, strategy_followed
from tests.conftest import embedded_lm
from tests.scoring.test_candidates import OWN

QUESTION_CARD = {"name": "ask the crowd", "structure": "a claim, then a question", "key_terms": []}


def example(reference: str, card: dict = QUESTION_CARD) -> dspy.Example:
    return dspy.Example(
        topic="code review",
        platform="x",
        audience="developers",
        strategies=[card],
        traces=[],
        reference=reference,
        post_id="gold-1",
    ).with_inputs("topic", "platform", "audience", "strategies", "traces")


def draft(text: str) -> dspy.Prediction:
    return dspy.Prediction(candidates=[{"text": text}], stats={})


@pytest.mark.parametrize(
    ("text", "card", "followed"),
    [
        ("Small PRs win. Do yours?", QUESTION_CARD, True),
        ("Small PRs win.", QUESTION_CARD, False),
        ("Three rules:\n1. small\n2. fast", {"name": "list", "structure": "a list of steps"}, True),
        ("Ship it, in 3 days", {"name": "numbers", "structure": "lead with a statistic"}, True),
        ("Talk to the team", {"name": "story", "key_terms": ["deploy", "team"]}, True),
        ("Talk to people", {"name": "story", "key_terms": ["deploy"]}, False),
        ("Anything", {"name": "plain"}, True),
    ],
)
def test_strategy_followed(text, card, followed):
    assert strategy_followed(text, card) is followed


@pytest.fixture(scope="module")
def lm():
    return embedded_lm()


def test_gepa_accepts_the_metric():
    metric = DraftMetric(CandidateScorer("x", OWN))
    dspy.GEPA(metric=metric, max_metric_calls=1, reflection_lm=dspy.LM("openai/unused"))


@pytest.mark.slow
def test_score_and_feedback_follow_the_scorer(lm):
    judged = []

    def judge(texts):
        judged.extend(texts)
        return [0.4] * len(texts)

    metric = DraftMetric(CandidateScorer("x", OWN, scorer=lm), judge)
    gold = example("Small changes ship faster. Review them in minutes. Do you?")
    text = "Code review goes faster on small changes. Why wait for a big release?"
    good = metric(gold, draft(text))
    plain = CandidateScorer("x", OWN, scorer=lm).score([text], topic="code review")[0]
    assert good.score == pytest.approx(plain["total"], abs=1e-3) and 0 < good.score <= 1
    assert judged == []  # no judge on a plain evaluation (pred_name None)
    assert metric.calls == 1 and metric.references["gold-1"]["style_fit"] >= 0

    ignored = metric(gold, draft("Code review: small changes ship faster."), None, "compose", None)
    assert "ignores the strategy 'ask the crowd'" in ignored.feedback
    assert "judge model rated it 4/10" in ignored.feedback and len(judged) == 1
    assert metric.feedback_calls == 1 and metric.calls == 1

    over = metric(gold, draft("code review " + "a" * 3000))  # no thread can carry the word
    assert over.score == 0.0 and "over_limit" in over.feedback
    empty = metric(gold, dspy.Prediction(candidates=[], stats={}))
    assert empty.score == 0.0 and "no draft" in empty.feedback and "empty" in empty.feedback
    # the gate's rules reach GEPA by name: junk scores 0, and so does a copy of the gold post
    for text, rule in [
        ("That's a great idea, and it's so funny!", "off_topic"),
        ("Code review: think aloud in the first person. Do not copy the post.", "echo"),
        ("{Post.json} code review {Post.json.json.json.", "residue"),
        (gold.reference + " Code review.", "copy"),
    ]:
        junk = metric(gold, draft(text))
        assert junk.score == 0.0 and rule in junk.feedback, (rule, junk.feedback)


@pytest.mark.slow
def test_references_are_scored_once_in_one_batch(lm):
    from tests.scoring.test_candidates import CountingLM

    counting = CountingLM(lm)
    metric = DraftMetric(CandidateScorer("x", OWN, scorer=counting))
    golds = [example(t).copy(post_id=f"g{i}") for i, t in enumerate(OWN)]
    metric.with_references(golds)
    assert counting.calls == 1  # all references and the author's calibration posts in one call
    metric.with_references(golds)
    assert counting.calls == 1 and set(metric.references) == {f"g{i}" for i in range(len(OWN))}
    results = metric.score_texts(golds, [g.reference for g in golds])
    assert counting.calls == 2 and len(results) == len(OWN)
