"""Training examples: the tuning time split, trace and post examples, no URL in any target."""

import json

import pytest

from reer_pipeline.finetune.data import (
    LINK,
    THINK_SYSTEM,
    URL,
    build_examples,
    post_request,
    read_splits,
    replace_links,
    write_jsonl,
)
from reer_pipeline.optimize.data import MAX_EXAMPLES, build_splits, holdout_ids, split_sizes
from reer_pipeline.optimize.tune import TuneConfig
from reer_pipeline.program.package import fill_links
from reer_pipeline.text import grounded, request, subject_text, words
from tests.sample_posts import sample_texts


def models():
    """The models folder the embedded model is converted into."""
    from reer_pipeline.layout import DataLayout

    return DataLayout.from_env().models


TOPICS = ["rust compilers", "garden tomatoes", "marathon training", "coffee roasting"]


def post(i: int, **kw) -> dict:
    topic = TOPICS[i % len(TOPICS)]
    return {
        "post_id": f"p{i:03d}",
        "platform": "x",
        "author": "ada",
        "text": f"Day {i}: notes on {topic} and why it matters https://t.co/abc{i} "
        f"pic.twitter.com/x{i}",
        "created_at": f"2024-{1 + i // 28:02d}-{1 + i % 28:02d} 10:00:00",
        "is_original": True,
        **kw,
    }


def trace(i: int, kept: bool = True) -> dict:
    return {
        "post_id": f"p{i:03d}",
        "x": {"text": f"Write an X post about topic {i} for developers."},
        "trajectory": f"I will open with the day number {i}.\n\nThen I will explain why.",
        "y": post(i)["text"],
        "kept": kept,
    }


def test_the_split_is_the_tuning_rule_by_time():
    posts = [post(i) for i in range(50)][::-1]  # newest first on purpose
    s = build_examples(posts)
    assert (len(s.train), len(s.valid), len(s.test)) == split_sizes(50, (0.2, 0.2))
    times = lambda split: [e.created_at for e in split]  # noqa: E731
    assert max(times(s.train)) < min(times(s.valid))
    assert max(times(s.valid)) < min(times(s.test))
    assert s.bounds["test"][1] == max(p["created_at"] for p in posts)


def test_kept_traces_become_deepwriter_examples_and_test_posts_stay_plain():
    posts = [post(i) for i in range(50)]
    traces = [trace(i) for i in (1, 2, 35, 45)] + [trace(3, kept=False)]
    s = build_examples(posts, traces)
    by_id = {e.post_id: e for e in s.train + s.valid + s.test}
    t = by_id["p001"]
    assert t.source == "trace" and t.messages[0] == {"role": "system", "content": THINK_SYSTEM}
    assert t.request == "Write an X post about topic 1 for developers."
    assert t.target.startswith("<think>\nI will open with the day number 1.")
    assert "</think>\n<answer>\n" in t.target and t.target.endswith("</answer>")
    assert by_id["p003"].source == "post"  # a trace that was not kept is not used
    assert by_id["p035"].source == "trace"  # validation posts keep their traces
    assert {e.source for e in s.test} == {"post"}  # 45 is a test post: request -> post
    assert s.counts()["train"] == {"trace": 2, "post": len(s.train) - 2}


def test_targets_never_hold_a_url_and_the_packager_can_fill_or_drop_links():
    s = build_examples([post(i) for i in range(30)], [trace(2)])
    for e in s.train + s.valid + s.test:
        assert not URL.search(e.target), e.target
        assert not URL.search(e.request) and "abc" not in e.request
    assert s.train[0].target.endswith(LINK) and f"{LINK} {LINK}" not in s.train[0].target
    assert replace_links("see https://a.b/c and www.x.org/y") == f"see {LINK} and {LINK}"
    assert fill_links(f"Read this {LINK}", ["https://real.example/1"]) == (
        "Read this https://real.example/1"
    )
    assert fill_links(f"Read this {LINK} now {LINK}") == "Read this now"
    # a URL the model invents never reaches a draft, however it spells the link
    invented = "List: [[Link]](https://twitter.com/facebook_post) and https://bit.ly/x - [Link]"
    assert fill_links(invented) == "List: and"
    assert not URL.search(fill_links("see www.example.com/a and t.co/b"))
    assert fill_links("Big news: [link]", ["https://ok.example"]) == "Big news: https://ok.example"


def test_a_post_request_is_what_drafting_asks_for_the_posts_subject():
    """Real posts: each request is drafting's wording (general audience, no key-term list) for
    a phrase of 2 to 6 of the post's own words."""
    texts = [t for t in sample_texts() if t.isascii() and not t.startswith(("RT @", "@"))][:60]
    rows = [
        post(i, text=t, author="BarackObama", created_at=f"2015-01-01 10:{i:02d}:00")
        for i, t in enumerate(texts)
    ]
    s = build_examples(rows)
    sizes = []
    for e in s.train + s.valid + s.test:
        subject = e.request.removeprefix("Write an X (Twitter) post about ").removesuffix(".")
        assert e.request == request("X (Twitter)", subject) == post_request("x", subject)
        sizes.append(len(subject.split()))
        assert grounded(subject, subject_text(texts[int(e.post_id[1:])]), share=1.0), e.request
        assert "obama" not in words(subject) and "follow" not in e.request
    # a phrase of 2 to 6 words; a post with no such phrase and a long first sentence gets one
    assert max(sizes) <= 6 and sum(n >= 2 for n in sizes) >= 0.9 * len(sizes), sizes


def test_non_originals_short_posts_and_tuning_holdouts_are_left_out():
    posts = [post(i) for i in range(40)]
    posts[0]["is_original"] = False
    posts[1]["text"] = "https://t.co/onlyalink ok"
    top = posts[10:30]
    held = holdout_ids(top)
    s = build_examples(posts, top_posts=top)
    used = {e.post_id for e in s.train + s.valid}
    assert held and not held & used
    assert "p000" not in used and "p001" not in used
    # the held-out top posts fall in this split's validation window: each counted once
    assert s.skipped == {
        "not original": 1,
        "too short without links": 1,
        "held out for tuning": len(held),
    }
    with pytest.raises(ValueError, match="one account"):
        build_examples([post(1), post(2, author="bob")])


def test_replies_before_the_validation_period_train_without_their_handles():
    posts = [post(i) for i in range(40)]
    reply = {"is_original": False, "is_reply": True, "is_repost": False}
    posts[2].update(reply, text="@bob @carol thanks, the rust compilers talk was great!")
    posts[3].update(reply, text="@bob ok")  # nothing left without the handle
    posts[4].update(is_original=False, is_reply=False, is_repost=True)
    posts[39].update(reply, text="@bob a reply from the test period about coffee roasting")
    s = build_examples(posts)
    replies = [e for e in s.train if e.source == "reply"]
    assert [e.post_id for e in replies] == ["p002"]
    assert replies[0].target == "thanks, the rust compilers talk was great!"
    subject = replies[0].request.removeprefix("Write a reply on X (Twitter) about ")
    assert subject != replies[0].request and grounded(subject, replies[0].target, share=1.0)
    assert all(e.source != "reply" for e in s.valid + s.test)
    assert s.skipped["reply too short without handles and links"] == 1
    assert s.skipped["reply after the training period"] == 1
    assert s.skipped["not original"] == 1  # the repost
    assert build_examples(posts, replies=False).counts()["train"] == {"post": len(s.train) - 1}


def test_jsonl_files_round_trip_and_are_what_mlx_lm_reads(tmp_path):
    s = build_examples([post(i) for i in range(30)], [trace(3)])
    hashes = write_jsonl(s, tmp_path)
    assert hashes == write_jsonl(s, tmp_path / "again")  # same examples, same bytes
    back = read_splits(tmp_path)
    assert back.train == s.train and back.test == s.test
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["sizes"] == s.sizes() and manifest["sha256"] == hashes
    datasets = pytest.importorskip("mlx_lm.tuner.datasets")
    from transformers import AutoTokenizer

    from reer_pipeline.lm.embedded import embedded_model_dir

    tok = AutoTokenizer.from_pretrained(embedded_model_dir(models()))
    rows = [json.loads(x) for x in (tmp_path / "train.jsonl").read_text().splitlines()]
    ds = datasets.ChatDataset(rows, tok, mask_prompt=True)
    ids, offset = ds.process(rows[0])
    assert 0 < offset < len(ids)  # mlx-lm finds the prompt/target boundary in our rows


def test_a_real_export_gives_examples_without_urls(shared_exports, tmp_path):
    import duckdb

    from reer_pipeline.ingest.stage import stage_export
    from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts, fetch_dicts

    src = shared_exports / "x_archive_andreruffert_tweets.js"
    if not src.exists():
        pytest.skip(f"{src.name} is absent")
    assert stage_export(src, tmp_path / "a.parquet").error is None
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        build_posts(con, [tmp_path / "a.parquet"], EngagementConfig())
        posts = fetch_dicts(
            con,
            "SELECT post_id, platform, author, text, created_at::VARCHAR AS created_at,"
            " is_original FROM posts",
        )
    s = build_examples(posts)
    n_orig = sum(bool(p["is_original"]) for p in posts)
    assert sum(s.sizes().values()) + s.skipped.get("too short without links", 0) == n_orig
    assert all(not URL.search(e.target) for e in s.train + s.valid + s.test)


@pytest.mark.parametrize("max_examples", [3, 6, 10, MAX_EXAMPLES])
def test_the_author_model_never_trains_on_a_post_tuning_validates_or_tests_on(max_examples):
    posts = [post(i) for i in range(100)]
    top = posts[::2]  # 50 top posts spread over the whole history
    splits = build_splits(top, [], [], max_examples)
    tuned_on = {e.post_id for e in splits.val + splits.test}
    s = build_examples(posts, top_posts=top)
    assert tuned_on and not tuned_on & {e.post_id for e in s.train + s.valid}


def test_tuning_refuses_a_window_larger_than_the_author_models_holdout():
    with pytest.raises(ValueError, match="max_examples"):
        TuneConfig(max_examples=MAX_EXAMPLES + 1)
