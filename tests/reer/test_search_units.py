"""Pure parts of the search: segmentation, score, filters, request parsing, config hash."""

from __future__ import annotations

import math
from pathlib import Path

from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.search import (
    SearchConfig,
    _strip_tags,
    clipped_score,
    concludes,
    copies_post,
    drop_repeats,
    parse_request,
    post_subject,
    repeats_ngrams,
    score_prefix,
    segment,
    trim_candidate,
)
from reer_pipeline.text import cut_to_sentence, grounded, words
from tests.sample_posts import sample_post

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
    assert copies_post(f"So I will say: {y}.", y, 4)
    assert not copies_post("I will tell founders to validate first.", y, 4)
    assert not copies_post(f"I keep: {y}.", y, 4, allowed=f"Old: {y}")  # already there


def test_drop_repeats_removes_the_sentences_that_loop_and_keeps_the_rest():
    loop = "Open with the number that surprised you most."
    z = f"First, name the reader.\n\n{loop} {loop}\n{loop}\n\nEnd with one ask."
    kept = drop_repeats(z, 6, 1)
    assert not repeats_ngrams(kept, 6, 1) and repeats_ngrams(z, 6, 1)
    assert kept == f"First, name the reader.\n\n{loop}\n\nEnd with one ask."
    plain = "A plan.\n\nTwo steps, no loop. Then a close."
    assert drop_repeats(plain, 6, 2) == plain


def test_trim_candidate_keeps_the_segment_shape():
    one = "I will open with the failure. It hurts to admit.\n\nThen I will list the cost. And"
    assert (
        trim_candidate(one, "a single paragraph")
        == "I will open with the failure. It hurts to admit."
    )
    assert trim_candidate(one, "two\n\nparagraphs") == one.removesuffix(" And")
    assert trim_candidate("no sentence end at all", "x") == "no sentence end at all"


def test_a_draft_cut_by_its_cap_ends_at_its_last_complete_sentence():
    draft = "I will open with the number.\n\nThen I will ask (why?) what it means.\n\nFinally I"
    cut = cut_to_sentence(draft)
    assert cut == "I will open with the number.\n\nThen I will ask (why?) what it means."
    assert concludes(cut) and cut_to_sentence(cut) == cut
    assert cut_to_sentence("no sentence end at all") == "no sentence end at all"


def test_strip_tags_extracts_the_refinement():
    assert _strip_tags("<analyze>x</analyze><refine> New text. </refine> junk") == "New text."
    assert _strip_tags("<think>\nI plan.\n</think>\n<answer>post") == "I plan."
    assert _strip_tags("Rewritten paragraph: I will start.") == "I will start."


def test_parse_request_reads_answers_and_falls_back():
    x = parse_request(
        POST,
        [
            "This post is about shipping and talking to users.",
            "The intended audience of this post is likely startup founders, as they build.",
            "The author wants readers to talk to users before building.",
        ],
    )
    assert (x["topic"], x["audience"], x["intent"]) == (
        "shipping and talking to users",
        "startup founders",
        "talk to users before building",
    )
    assert x["fallback"] == [] and "LinkedIn" in x["text"] and "talking to users" in x["text"]
    assert len(x["raw"]) == 3
    bad = parse_request(POST, ["", "%%%", "The author wants readers to think, feel, or do it."])
    assert bad["fallback"] == ["topic", "audience", "intent"]
    assert bad["topic"] == post_subject(POST) != "" and len(bad["raw"]) == 3
    assert bad["audience"] == "a general audience" and "for " not in bad["text"]
    assert parse_request(POST, [])["fallback"] == ["topic", "audience", "intent"]


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


def test_reer_package_never_imports_dagster():
    import subprocess
    import sys

    code = "import sys, reer_pipeline.reer; print('dagster' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False"


HELLO = sample_post("Hi everybody! Back to the original handle.")
MANDELA = sample_post("For love comes more naturally to the human heart")


def test_an_answer_about_the_posts_form_falls_back_to_its_subject():
    """The embedded model's answers for two real posts (issue 21) describe the form or invent a
    subject: the request names the post's own subject instead."""
    for text, answer in (
        (
            HELLO,
            "This post is about a fun and lighthearted tweet about a fun and light-hearted "
            "vacation.",
        ),
        (MANDELA, "This post is about a fictional character."),
        (MANDELA, "This post is about a tweet."),
    ):
        post = PostRef("1", "x", "BarackObama", text)
        x = parse_request(post, [answer, "", ""])
        assert "topic" in x["fallback"] and x["topic"] == post_subject(post), answer
        assert not {"tweet", "fun", "fictional", "character"} & set(words(x["topic"]))
        assert grounded(x["topic"], text, share=1.0)


def test_a_subject_after_a_lead_about_the_form_is_kept():
    post = PostRef("1", "x", "BarackObama", HELLO)
    x = parse_request(post, ["This post is about A Tweet about a quick vacation.", "", ""])
    assert x["topic"] == "a quick vacation" and "topic" not in x["fallback"]
    echo = parse_request(post, ["Hi everybody! Back to the original handle", "", ""])
    assert "topic" in echo["fallback"]  # the post's opening is no subject
