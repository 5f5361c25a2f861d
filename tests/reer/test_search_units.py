"""Pure parts of the search: segmentation, score, filters, request parsing, config hash."""

from __future__ import annotations

import math

from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.search import (
    SearchConfig,
    _strip_tags,
    clipped_score,
    concludes,
    copies_post,
    parse_request,
    repeats_ngrams,
    score_prefix,
    segment,
)

POST = PostRef("42", "linkedin", "ada", "Ship small.\n\nTalk to users before you build.")


def test_post_hash_is_stable_and_content_addressed():
    same = PostRef.from_any({**POST.as_dict(), "extra": 1})
    assert same.post_hash == POST.post_hash and len(POST.post_hash) == 64
    assert PostRef("42", "linkedin", "ada", "Ship big.").post_hash != POST.post_hash
    as_dict = PostRef.from_any(
        {"post_id": 42, "platform": "x", "author": "a", "text": "t", "engagement_percentile": 99}
    )
    assert as_dict.post_id == "42" and as_dict.engagement_pct == 99.0


def test_segment_splits_on_blank_lines_and_merges_short_ones_forward():
    long = "L" * 120
    z = f"short one\n\n{long}\n\n   \n\nanother short\n\n{long}\n\ntail"
    segs = segment(z, 100)
    assert segs == [f"short one\n\n{long}", f"another short\n\n{long}\n\ntail"]
    assert all(len(s) >= 100 for s in segs)
    assert segment("", 100) == []
    assert segment("only short", 100) == ["only short"]
    assert segment("line one is here\nline two is here", 5) == [
        "line one is here",
        "line two is here",
    ]


def test_clipped_score_is_negated_mean_of_clipped_logprobs():
    assert clipped_score([-0.5, -5.0, 0.0], -2.0, 0.0) == (0.5 + 2.0 + 0.0) / 3
    assert clipped_score([], -2.0, 0.0) is None
    assert math.isclose(clipped_score([-0.1] * 4, -2.0, 0.0), 0.1)


def test_filters():
    assert repeats_ngrams("I will do it. " * 5, 3, 2)
    assert not repeats_ngrams("I will open with a hook and then tell a story.", 3, 2)
    assert concludes("First I plan.\n\nThen I write it.") and not concludes("Then I write the")
    y = "talk to ten customers before you write a single line of code today"
    assert copies_post(f"So: {y}.", y, 4, 0.5)
    assert not copies_post("I will tell founders to validate first.", y, 4, 0.5)


def test_strip_tags_extracts_the_refinement():
    assert _strip_tags("<analyze>x</analyze><refine> New text. </refine> junk") == "New text."
    assert _strip_tags("<think>\nI plan.\n</think>\n<answer>post") == "I plan."
    assert _strip_tags("Rewritten paragraph: I will start.") == "I will start."


def test_parse_request_reads_fields_and_falls_back():
    x = parse_request(POST, "Topic: shipping fast\n**Audience:** founders\nIntent: persuade.")
    assert (x["topic"], x["audience"], x["intent"]) == ("shipping fast", "founders", "persuade")
    assert x["fallback"] == [] and "LinkedIn" in x["text"] and "shipping fast" in x["text"]
    bad = parse_request(POST, "%%%% ???")
    assert bad["fallback"] == ["topic", "audience", "intent"] and bad["topic"]


def test_score_prefix_shape():
    assert score_prefix("X", "Z") + "Y" == "X\n<think>\nZ\n</think>\n<answer>\nY"


def test_config_hash_is_stable_and_sensitive():
    a, b = SearchConfig(), SearchConfig()
    assert a.config_hash == b.config_hash and len(a.config_hash) == 16
    assert SearchConfig(n_candidates=3).config_hash != a.config_hash
    assert SearchConfig(scorer_uri="hf::other").config_hash != a.config_hash
    assert (a.n_candidates, a.max_steps, a.threshold, a.clip_low, a.clip_high) == (
        2,
        10,
        0.25,
        -2.0,
        0.0,
    )
