"""Candidate scoring with the real embedded model: style fit, the judge, totals, feedback."""

import math

import pytest

from reer_pipeline.scoring.candidates import CandidateScorer
from reer_pipeline.scoring.judge import judge_scores
from tests.conftest import embedded_lm

OWN = [
    "Small changes ship faster. Review them in minutes, roll them back in seconds.",
    "Write the test first. It tells you when you are done.",
    "Deploy on Tuesdays, not Fridays. Your weekend will thank you.",
    "Most bugs live where two teams meet. Talk to the other team.",
]


@pytest.fixture(scope="module")
def lm():
    return embedded_lm()


@pytest.mark.slow
def test_style_fit_ranks_the_authors_voice_above_noise(lm):
    scorer = CandidateScorer("x", OWN, scorer=lm)
    noise = "zq xv ktt plm vvv qqq zzk wpx trr lll mnb"
    fit = scorer.style_fit([*OWN, noise])
    assert all(0.0 <= f <= 1.0 for f in fit)
    # the author's own posts fit their own style better than noise does
    assert max(fit[:-1]) > fit[-1]


@pytest.mark.slow
def test_totals_feedback_and_the_limit(lm):
    scorer = CandidateScorer("linkedin", OWN, scorer=lm)
    too_long = "word " * 700
    results = scorer.score(["Why do small changes ship faster? Three reasons.", too_long])
    ok, over = results
    assert 0.0 < ok["total"] <= 1.0 and ok["within_limit"]
    assert over["total"] == 0.0 and not over["within_limit"]
    assert "Over the platform limit" in over["feedback"]
    assert math.isnan(ok["engagement"])  # no engagement model given: left out of the total


@pytest.mark.slow
def test_judge_scores_are_ratings_or_counted_failures(lm):
    before = lm.usage.failures
    scores = judge_scores(lm, ["Ship small changes.", "Deploy on Fridays? Never."])
    assert len(scores) == 2
    failed = sum(math.isnan(s) for s in scores)
    assert all(0.1 <= s <= 1.0 for s in scores if not math.isnan(s))
    assert lm.usage.failures - before == failed
