"""The drafting program end to end on the real embedded model, with tiny budgets."""

import json

import dspy
import pytest

from reer_pipeline.lm.dspy_adapter import PlainTextAdapter, to_dspy
from reer_pipeline.platforms import limit
from reer_pipeline.program.modules import (
    DraftProgram,
    draft_candidates,
    drafting_config,
    load_program,
    merge_stats,
    render_request,
)
from tests.conftest import embedded_lm

CARDS = [
    {
        "name": "contrarian",
        "when_to_use": "a common belief is wrong",
        "structure": "claim, proof, takeaway",
        "example_hook": "Everyone says X. They're wrong.",
        "source_post_ids": ["p2"],
    },
    {
        "name": "story",
        "when_to_use": "a lesson learned the hard way",
        "structure": "setup, twist, lesson",
        "example_hook": "Last year I broke prod.",
        "source_post_ids": ["p1"],
    },
]
TRACES = [
    {
        "x": "A post on outages",
        "y": "I broke prod.",
        "trajectory": "Open on the failure.",
        "post_id": "p1",
    },
    {
        "x": "A post on tests",
        "y": "Tests are docs.",
        "trajectory": "Tests explain code.",
        "post_id": "p2",
    },
]
STYLE = {"hashtag_position": "end", "typical_hashtags": ["testing"], "hashtags_per_post": 1}
SLOTS = [{"weekday": 2, "hour": 9, "lift": 1.3}, {"weekday": 4, "hour": 17, "lift": 1.6}]
POSTS = [  # the author's own posts, shown as examples
    "Unit tests are the only documentation that fails when it goes stale.",
    "Shipped the new release on Friday. Never again on a Friday.",
    "Code review tip: read the tests first, then the diff.",
    "Our outage postmortem is public. We broke prod with one config flag.",
]
KEYS = {
    "topic", "platform", "audience", "angle", "angle_source", "strategy", "strategy_post_ids",
    "trajectory_post_ids", "generation", "temperature", "draft", "text", "parts", "limit",
    "within_limit", "truncated", "hashtags", "parse_ok", "error", "usable", "gate_reasons",
    "selection", "slot",
}  # fmt: skip


def words_gate(texts, *context):
    """A gate for the tests: a draft of at least three words passes."""
    return [(len(t.split()) >= 3, [] if len(t.split()) >= 3 else ["too short"]) for t in texts]


@pytest.fixture(scope="module")
def lm():
    """The embedded model on one torch thread: with other jobs sharing the 2 cores, two threads
    wait on each other at every op (measured here: 32 tokens in 46 s on 2 threads, 5 s on 1)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield embedded_lm()
    torch.set_num_threads(threads)


def run(program, lm, max_tokens, **inputs):
    with dspy.context(lm=to_dspy(lm, max_tokens=max_tokens, sampling=program.sampling)):
        pred = program(
            strategies=CARDS, traces=TRACES, style=STYLE, slots=SLOTS, author_posts=POSTS, **inputs
        )
    return pred.candidates, pred.stats


def check(candidates, stats, platform, generation):
    """Structure, limits, provenance, gate verdicts and consistent counts; never the words."""
    json.dumps([candidates, stats])  # plain data, ready for a table
    assert candidates and stats["candidates"] == len(candidates)
    assert stats["generation"] == generation
    assert stats["calls"] == sum(p["calls"] for p in stats["by_predictor"].values())
    for kind in ("parse_failures", "empty_outputs"):
        assert stats[kind] == sum(p[kind] for p in stats["by_predictor"].values())
    assert stats["by_predictor"]["compose"]["calls"] == sum(
        s["calls"] for s in stats["by_strategy"].values()
    )
    assert stats["schema_valid"] == sum(c["parse_ok"] for c in candidates)
    assert stats["usable"] == sum(c["usable"] for c in candidates)
    for c in candidates:
        assert KEYS <= set(c)
        assert c["platform"] == platform and c["generation"] == generation
        assert c["strategy"] in {card["name"] for card in CARDS}
        card = next(card for card in CARDS if card["name"] == c["strategy"])
        assert c["strategy_post_ids"] == card["source_post_ids"]
        assert set(c["trajectory_post_ids"]) <= {"p1", "p2"}
        assert c["angle"] and c["angle_source"] in ("ideate", "fallback", "topic")
        assert c["limit"] == limit(platform) and c["within_limit"]
        assert all(len(p) <= c["limit"] for p in c["parts"])
        assert (c["error"] is None) == c["parse_ok"]
        assert bool(c["parts"]) == bool(c["text"])
        assert c["usable"] == (not c["gate_reasons"])
        assert c["usable"] == (c["parse_ok"] and len(c["text"].split()) >= 3)
        if not c["parse_ok"]:
            assert c["error"].startswith(("AdapterParseError", "empty output"))
    assert candidates[0]["slot"] == {"weekday": 4, "hour": 17, "lift": 1.6}


@pytest.mark.slow
def test_best_of_n_in_one_batched_call_through_draft_candidates(lm):
    """Two candidates x three samples: one `generate` call, the gate's verdict on each."""
    program = DraftProgram(n_angles=2, best_of=3, gate=words_gate)
    topics = [{"topic": "unit tests as documentation", "platform": "x", "audience": "developers"}]
    calls, trace = lm.usage.calls, []
    with dspy.context(trace=trace):  # what optimizers (GEPA) read the predictors' calls from
        candidates, stats = draft_candidates(
            program, lm, topics, CARDS, TRACES, STYLE, SLOTS, max_tokens=40, author_posts=POSTS
        )
    assert lm.usage.calls - calls == 1  # every sample of every candidate in one batch
    # the sample the gate kept for each candidate: what the program did
    assert [(p, set(i)) for p, i, _ in trace] == [(program.compose, {"request"})] * 2
    assert sorted(o.post for _, _, o in trace) == sorted(c["draft"] for c in candidates)
    check(candidates, stats, "x", "single")
    assert len(candidates) == 2 and stats["samples"] == 6
    assert stats["by_predictor"]["compose"]["calls"] == 6
    assert stats["by_predictor"]["ideate"]["calls"] == 0  # angles are the topic itself
    for c in candidates:
        sel = c["selection"]
        assert sel["samples"] == 3 and 0 <= sel["picked"] < 3
        assert c["usable"] or sel["usable_samples"] == 0  # a usable sample is always preferred
    print("best-of stats:", stats, [c["text"] for c in candidates])


@pytest.mark.slow
def test_topics_drafted_together_decide_like_one_topic_at_a_time_when_greedy():
    """Three topics x two candidates: one `generate` for all six, the same drafts (greedy, fp32:
    a batched forward pass equals a single one up to float rounding) and the same stats."""
    lm = embedded_lm(dtype="float32")
    program = DraftProgram(n_angles=2, best_of=1, temperature=0.0, gate=words_gate)
    topics = [
        {"topic": "unit tests as documentation", "platform": "x"},
        {"topic": "the cost of a flaky build", "platform": "x", "audience": "developers"},
        {"topic": "reading code aloud", "platform": "linkedin"},
    ]
    args = (CARDS, TRACES, STYLE, None)
    alone = [
        draft_candidates(program, lm, [t], *args, max_tokens=24, author_posts=POSTS) for t in topics
    ]
    calls = lm.usage.calls
    together, stats = draft_candidates(
        program, lm, topics, *args, max_tokens=24, author_posts=POSTS
    )
    assert lm.usage.calls - calls == 1
    assert [c["text"] for c in together] == [c["text"] for cs, _ in alone for c in cs]
    assert [c["topic"] for c in together] == [t["topic"] for t in topics for _ in range(2)]
    assert stats["samples"] == 6 and stats["samples"] == sum(s["samples"] for _, s in alone)
    assert stats["usable"] == sum(s["usable"] for _, s in alone)


@pytest.mark.slow
def test_json_shape_with_ideate_parses_under_the_grammar(lm):
    program = DraftProgram(
        shape="json", ideate=True, n_angles=1, best_of=1, temperature=0.0, gate=words_gate
    )
    candidates, stats = run(program, lm, 48, topic="code review habits", platform="mastodon")
    check(candidates, stats, "mastodon", "single")
    assert stats["by_predictor"]["ideate"]["calls"] >= 1
    assert stats["by_predictor"]["compose"]["parse_failures"] == 0  # the grammar closes the JSON
    print("json stats:", stats, candidates[0]["text"])


@pytest.mark.slow
def test_self_consistency_picks_one_of_n_samples(lm):
    program = DraftProgram(
        generation="self_consistency",
        n_angles=1,
        n_samples=2,
        scorer=lambda ts: [len(t) for t in ts],
        gate=words_gate,
    )
    candidates, stats = run(
        program, lm, 40, topic="code review habits", platform="mastodon", audience="developers"
    )
    check(candidates, stats, "mastodon", "self_consistency")
    assert stats["by_predictor"]["compose"]["calls"] == 2
    sel = candidates[0]["selection"]
    assert sel["samples"] == 2 and sel["method"] == "scorer" and len(sel["scores"]) == 2
    if sel["usable_samples"] == 2:  # both usable: the scorer's (the longest) is picked
        assert sel["scores"][sel["picked"]] == max(sel["scores"])
    print("self_consistency stats:", stats, "selection:", sel)


@pytest.mark.slow
def test_debate_two_drafters_and_a_judge(lm):
    program = DraftProgram(generation="debate", n_angles=1, gate=words_gate)
    candidates, stats = run(
        program, lm, 40, topic="shipping a side project", platform="linkedin", audience="managers"
    )
    check(candidates, stats, "linkedin", "debate")
    assert stats["by_predictor"]["compose"]["calls"] == 2
    assert set(stats["by_strategy"]) == {"contrarian", "story"}  # the drafters differ
    sel = candidates[0]["selection"]
    assert sel["method"] in ("judge", "walkover")
    assert (stats["by_predictor"]["judge"]["calls"] > 0) == (sel["method"] == "judge")
    if sel["method"] == "judge":
        assert sel["better"] in ("a", "b") and sel["judged"] == (sel["judge_error"] is None)
    print("debate stats:", stats, "selection:", sel)


@pytest.mark.slow
def test_judge_answers_a_or_b(lm):
    """The debate's judge on two fixed drafts: the Literal output is always one of the two."""
    with dspy.context(lm=to_dspy(lm, max_tokens=16), adapter=dspy.JSONAdapter()):
        verdict = DraftProgram(generation="debate").judge(
            topic="unit tests",
            platform="x",
            draft_a="Tests are the only docs that never lie.",
            draft_b="I wrote some tests today.",
        )
    assert verdict.better in ("a", "b") and isinstance(verdict.reason, str)


@pytest.mark.slow
def test_parse_failures_are_counted_never_raised(lm):
    """Two tokens can never hold the JSON answer: every sample fails to parse, is counted, and
    the candidate is marked unusable with the reason."""
    program = DraftProgram(shape="json", n_angles=1, best_of=2, gate=words_gate)
    candidates, stats = run(program, lm, 2, topic="sleep", platform="x", audience="founders")
    check(candidates, stats, "x", "single")
    assert stats["calls"] == stats["parse_failures"] == 2
    c = candidates[0]
    assert not c["parse_ok"] and c["error"].startswith("AdapterParseError")
    assert not c["usable"] and c["gate_reasons"][0] == "parse failure"
    assert c["parts"] == [] and stats["schema_valid"] == 0


def test_save_load_round_trip(tmp_path):
    program = DraftProgram()
    assert [n for n, _ in program.named_predictors()] == ["ideate", "compose", "judge"]
    tuned = "Write like the author: one idea, short sentences."  # what an optimizer changes
    program.compose.signature = program.compose.signature.with_instructions(tuned)
    program.compose.demos = [dspy.Example(request="r", post="p").with_inputs("request")]
    path = tmp_path / "program.json"
    program.save(path)

    loaded = load_program(path, generation="debate")
    assert loaded.generation == "debate"
    assert loaded.compose.signature.instructions == tuned
    assert loaded.ideate.signature.instructions == program.ideate.signature.instructions
    assert loaded.compose.demos[0]["post"] == "p"
    assert loaded.dump_state() == program.dump_state()


def test_tuned_instructions_and_demos_reach_the_plain_prompt():
    """What GEPA tunes (instructions) and the retrieved posts are what the model is shown."""
    program = DraftProgram()
    program.compose.signature = program.compose.signature.with_instructions("Be brief.")
    demos = program._demos(program._post_index(POSTS), "unit tests documentation", "x")
    messages = PlainTextAdapter().format(
        program.compose.signature, demos, {"request": render_request("unit tests", "x")}
    )
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * len(demos) + ["user"]
    assert messages[-2]["content"] == POSTS[0]  # the nearest post is shown last
    assert "unit tests" in messages[-1]["content"] and "X (Twitter)" in messages[-1]["content"]


def test_unknown_generation_shape_platform_or_empty_topic_is_refused_before_any_call():
    with pytest.raises(ValueError, match="generation"):
        DraftProgram(generation="beam")
    with pytest.raises(ValueError, match="shape"):
        DraftProgram(shape="xml")
    with pytest.raises(ValueError, match="x, linkedin, mastodon"):
        DraftProgram()(topic="t", platform="tiktok")
    with pytest.raises(ValueError, match="topic is empty"):
        DraftProgram()(topic="  ", platform="x")
    with pytest.raises(ValueError, match="x, linkedin, mastodon"):  # no LM is configured here
        draft_candidates(DraftProgram(), None, [{"topic": "t", "platform": "myspace"}])
    with pytest.raises(ValueError, match="empty"):
        draft_candidates(DraftProgram(), None, [{"topic": "", "platform": "x"}])


def test_plain_reply_parses_to_the_post_or_a_list_without_labels():
    from reer_pipeline.program.signatures import Compose, Ideate

    adapter = PlainTextAdapter()
    assert adapter.parse(Compose, 'Post: "Tests are docs."') == {"post": "Tests are docs."}
    assert adapter.parse(Compose, "Here's a tweet about it: Ship on Monday.") == {
        "post": "Ship on Monday."
    }
    assert adapter.parse(Ideate, "1. One angle\n- Two angle\n\n") == {
        "angles": ["One angle", "Two angle"]
    }


def _sample(text, usable, reasons=()):
    return {"text": text, "usable": usable, "parse_ok": True, "gate_reasons": list(reasons)}


def test_pick_prefers_usable_then_distinct_then_fewer_reasons():
    gate = lambda texts, *_: [  # noqa: E731
        ("ok" in t, [] if "ok" in t else ["loops"] * t.count("x")) for t in texts
    ]
    program = DraftProgram(gate=gate)
    ctx = {"topic": "t", "platform": "x", "author_posts": [], "prompt_texts": []}
    groups = [
        [_sample("bad x x", False), _sample("ok one", True)],
        [_sample("ok one", True), _sample("ok two", True)],  # the same text is not picked twice
        [_sample("bad x x x", False), _sample("bad x", False)],  # none usable: fewest reasons
    ]
    stats = {"samples": 0, "usable_samples": 0}
    picked = program._pick(ctx, groups, stats)
    assert [c["text"] for c in picked] == ["ok one", "ok two", "bad x"]
    assert [c["usable"] for c in picked] == [True, True, False]
    assert picked[2]["gate_reasons"] == ["loops"]
    assert stats == {"samples": 6, "usable_samples": 3}
    assert [c["selection"]["usable_samples"] for c in picked] == [1, 2, 0]


def test_drafting_config_turns_each_lever_off():
    on = DraftProgram(**drafting_config())
    assert (on.shape, on.use_ideate) == ("plain", False)
    assert on.n_examples > 0 and on.best_of > 1 and on.sampling
    off = DraftProgram(
        **drafting_config(
            plain=False,
            examples=False,
            penalties=False,
            best_of=False,
            ideate_off=False,
            no_copy=False,
        )
    )
    assert (off.shape, off.n_examples, off.best_of, off.sampling, off.use_ideate) == (
        "json",
        0,
        1,
        {},
        True,
    )


def test_each_sampling_lever_alone():
    assert set(drafting_config(penalties=False)["sampling"]) == {"no_copy_ngram_size"}
    assert "no_copy_ngram_size" not in drafting_config(no_copy=False)["sampling"]


def test_merge_stats_sums_counts_and_marks_mixed_labels():
    a = {"generation": "single", "calls": 2, "by_strategy": {"story": {"calls": 1}}}
    b = {
        "generation": "debate",
        "calls": 3,
        "by_strategy": {"story": {"calls": 2}, "x": {"calls": 1}},
    }
    total = merge_stats(merge_stats(None, a), b)
    assert total == {
        "generation": "mixed",
        "calls": 5,
        "by_strategy": {"story": {"calls": 3}, "x": {"calls": 1}},
    }
    assert a["calls"] == 2  # inputs untouched


def test_the_default_gate_is_the_projects_and_names_its_rules():
    from reer_pipeline.program.modules import gate_texts

    assert DraftProgram().gate is gate_texts
    texts = ["## posts## #1.1.1.1.1", "Unit tests caught the bug before our users did."]
    (bad_ok, bad_why), (good_ok, good_why) = gate_texts(texts, "unit tests", "x", POSTS)
    assert not bad_ok and bad_why and all(":" in r for r in bad_why)
    assert good_ok and good_why == []
    [(copy_ok, copy_why)] = gate_texts([POSTS[0]], "unit tests documentation", "x", POSTS)
    assert not copy_ok and any(r.startswith("copy") for r in copy_why)


def test_trim_drops_only_a_sentence_the_budget_cut_off():
    from reer_pipeline.program.modules import MIN_KEPT
    from reer_pipeline.text import cut_to_sentence

    done = "Tests are docs. They never lie."
    assert cut_to_sentence(done, MIN_KEPT) == done
    cut = "Unit tests are the best documentation we have. They tell you what the code was"
    assert cut_to_sentence(cut, MIN_KEPT) == "Unit tests are the best documentation we have."
    short = "Ship it. Now we wait for the"  # its only full sentence is under MIN_KEPT
    assert cut_to_sentence(short, MIN_KEPT) == short
