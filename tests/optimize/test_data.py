"""Tuning datasets: split by time, no trace of a later post in any prompt, the right cards."""

import pytest

from reer_pipeline.optimize.data import build_splits, card_for, split_sizes
from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.search import post_subject


def post(i: int, text: str = "") -> dict:
    return {
        "post_id": f"p{i}",
        "platform": "x",
        "author": "ada",
        "text": text or f"Post number {i} about shipping small changes. Ask early.",
        "created_at": f"2024-01-{i + 1:02d} 10:00:00",
        "engagement_pct": 90.0 + i / 10,
    }


def trace(i: int) -> dict:
    return {  # a row of the reer_traces view
        "post_id": f"p{i}",
        "x": f"Write an X (Twitter) post about topic {i} for developers.",
        "topic": f"topic {i}",
        "audience": "developers",
        "trajectory": f"reasoning {i}",
        "score_after": 1.0 + i,
    }


@pytest.mark.parametrize(
    ("n", "sizes"), [(0, (0, 0, 0)), (2, (2, 0, 0)), (3, (1, 1, 1)), (10, (6, 2, 2))]
)
def test_split_sizes(n, sizes):
    assert split_sizes(n, (0.2, 0.2)) == sizes


def test_splits_are_ordered_by_time_and_never_leak_later_traces():
    posts = [post(i) for i in (7, 2, 9, 0, 4, 1, 8, 3, 6, 5)]  # shuffled on purpose
    traces = [trace(i) for i in range(10)]
    splits = build_splits(posts, traces, cards=[])
    train, val, test = splits.train, splits.val, splits.test
    assert [len(train), len(val), len(test)] == [6, 2, 2]
    assert max(e.created_at for e in train) < min(e.created_at for e in val)
    assert max(e.created_at for e in val) < min(e.created_at for e in test)
    train_ids = {e.post_id for e in train}
    for e in train + val + test:
        shown = {t["post_id"] for t in e.traces}
        assert shown <= train_ids  # only traces of train posts are ever shown
        assert e.post_id not in shown  # and never the example's own
        assert set(e.inputs().keys()) == {"topic", "platform", "audience", "strategies", "traces"}
        assert e.topic == f"topic {e.post_id[1:]}"  # x comes from the post's trace
    assert splits.bounds()["test"] == [test[0].created_at, test[-1].created_at]


def test_a_post_without_a_trace_gets_the_searchs_fallback_request():
    splits = build_splits([post(i) for i in range(3)], traces=[], cards=[])
    example = splits.train[0]
    assert example.topic == post_subject(PostRef.from_any(post(0)))  # its subject, no model
    assert example.audience == "a general audience" and not example.has_trace


def test_max_examples_keeps_the_newest_posts():
    splits = build_splits([post(i) for i in range(10)], [], [], max_examples=5)
    ids = [e.post_id for e in splits.train + splits.val + splits.test]
    assert ids == ["p5", "p6", "p7", "p8", "p9"]


def test_card_for_prefers_the_cluster_the_post_came_from():
    cards = [
        {"name": "numbers", "source_post_ids": ["p1"], "key_terms": ["shipping"]},
        {"name": "questions", "source_post_ids": ["p2"], "key_terms": ["ask"]},
    ]
    assert card_for(post(2), cards)["name"] == "questions"
    assert card_for(post(5, "Why ask? Always ask."), cards)["name"] == "questions"
    assert card_for(post(5), [])["name"] == "plain"
    assert card_for(post(5, "Nothing in common"), cards)["name"] == "plain"
