"""Valid synthetic trace records for store tests (data, not a stand-in for project code)."""

from __future__ import annotations

import hashlib

from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.schema import SCHEMA_VERSION

CONFIG_HASH = hashlib.sha256(b"store-test-config").hexdigest()[:16]


def post(i: int) -> PostRef:
    return PostRef(
        post_id=f"p{i}",
        platform="x",
        author="ada",
        text=f"Post number {i}: shipping beats polishing.\n\nHere's why.",
        created_at="2024-05-01T12:00:00Z",
        engagement_pct=90.0 + i % 10,
    )


def trace(i: int, config_hash: str = CONFIG_HASH) -> dict:
    p = post(i)
    return {
        "schema_version": SCHEMA_VERSION,
        "id": f"{p.post_hash}-{config_hash}",
        "post_hash": p.post_hash,
        "config_hash": config_hash,
        "post_id": p.post_id,
        "platform": p.platform,
        "author": p.author,
        "post_created_at": p.created_at,
        "engagement_pct": p.engagement_pct,
        "y": p.text,
        "x": {
            "platform": "x",
            "topic": "shipping",
            "audience": "founders",
            "intent": "persuade",
            "text": "Write an X post about shipping for founders.",
            "fallback": [],
            "raw": ["shipping", "founders", "persuade"],
        },
        "z_initial": "I want to open with a claim.\n\nThen I back it up with a story.",
        "trajectory": "I want to open with a bold claim.\n\nThen I back it up with a story.",
        "segments": ["I want to open with a claim.", "Then I back it up with a story."],
        "score_before": 1.5,
        "score_after": 1.25,
        "steps": [
            {
                "index": 0,
                "segment": "I want to open with a claim.",
                "score_in": 1.5,
                "candidates": [
                    {
                        "text": "I want to open with a bold claim.",
                        "score": 1.25,
                        "valid": True,
                        "reason": None,
                        "accepted": True,
                    },
                    {
                        "text": "",
                        "score": None,
                        "valid": False,
                        "reason": "empty",
                        "accepted": False,
                    },
                ],
                "accepted": 0,
                "score_out": 1.25,
            }
        ],
        "stop_reason": "max_steps",
        "kept": True,
        "rejected_reason": None,
        "usage": {
            "generate_calls": 3,
            "score_calls": 2,
            "prompt_tokens": 900,
            "completion_tokens": 300,
            "scored_tokens": 40,
        },
        "wall_time_s": 0.5,
        "config": {"n_candidates": 2},
        "proposer_uri": "hf::embedded",
        "scorer_uri": "hf::embedded",
        "created_at": "2024-06-01T00:00:00+00:00",
    }
