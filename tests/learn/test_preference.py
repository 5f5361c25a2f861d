"""The preference model: learns a taste the scorer cannot see, and becomes a component only then."""

import math

from reer_pipeline.learn.preference import PreferenceModel, evaluate, text_of, time_split
from reer_pipeline.learn.reviewer import Case, record, request_of
from reer_pipeline.program.context import AuthorContext
from reer_pipeline.program.draft import make_scorer
from reer_pipeline.scoring.candidates import CandidateScorer, combine
from tests.learn.conftest import ACCOUNT, sample_posts, taste_cases, to_taste, with_taste


def test_a_taste_the_total_cannot_see_is_learned_and_adopted(tmp_path, store):
    decisions = with_taste(store, taste_cases(tmp_path))
    train, test = time_split(decisions)
    assert train[-1]["seq"] < test[0]["seq"]  # judged on later decisions only
    result = evaluate(store.decisions())
    report = result["report"]
    assert report["auc_preference"]["estimate"] > report["auc_total"]["estimate"]
    assert report["auc_gain"]["low"] > 0 and report["adopted"]
    rejected = [d for d in test if d["decision"] == "rejected"]
    assert rejected and not any(to_taste(text_of(d)) for d in rejected)


def test_not_adopted_where_the_total_already_ranks_them(tmp_path, store):
    """Every real post approved, every degenerate draft (the gate's loop) rejected: the total
    alone ranks them all, so the preference adds nothing."""
    older, posts = sample_posts(tmp_path, newest=60)
    scorer = CandidateScorer("x", [p["text"] for p in older])
    cases = []
    for i, p in enumerate(posts):
        text = p["text"] if i % 3 else " ".join([p["text"].split(".")[0]] * 12)
        s = scorer.score([text], topics=[request_of(p)["topic"]], facts=[[p["text"]]])[0]
        cases.append(Case("t", text, s, p["created_at"], p["text"], s, p["post_id"]))
    record(store, ACCOUNT, cases)
    report = evaluate(store.decisions())["report"]
    assert report["auc_total"]["estimate"] == 1.0 and not report["adopted"]


def test_the_adopted_model_is_a_factor_of_the_total(tmp_path, store):
    cases = taste_cases(tmp_path)
    with_taste(store, cases)
    model = evaluate(store.decisions())["model"]
    older, _ = sample_posts(tmp_path)
    texts = [c.text for c in cases[-12:]]
    plain = CandidateScorer("x", [p["text"] for p in older])
    learned = CandidateScorer("x", [p["text"] for p in older], preference=model)
    before, after = plain.score(texts, topic="the news"), learned.score(texts, topic="the news")
    for b, a in zip(before, after, strict=True):
        assert math.isnan(b["preference"]) and 0 < a["preference"] < 1
        parts = {
            k: a[k]
            for k in (
                "heuristics",
                "fluency",
                "ending",
                "style_fit",
                "topic",
                "engagement",
                "judge",
                "preference",
            )
        }
        expected = combine(parts, learned.weights) if a["usable"] and a["within_limit"] else 0.0
        assert a["total"] == expected
        assert a["total"] == (b["total"] * a["preference"] if b["total"] else 0.0)
    path = model.save(tmp_path / "p" / "m.joblib")
    assert PreferenceModel.load(path).predict(texts, after) == model.predict(texts, after)
    # The one scorer constructor (reer score, the desk, candidate_scores, drafting) loads it.
    ctx = AuthorContext("x", "BarackObama", own_texts=[p["text"] for p in older])
    saved = make_scorer(ctx, None, preference_path=path).score(texts, topic="the news")
    assert [s["total"] for s in saved] == [a["total"] for a in after]
    assert make_scorer(ctx, None, preference_path=tmp_path / "none.joblib").preference is None
