"""The search and mining on the real embedded model (SmolLM2-135M) with tiny budgets.

Model outputs are never asserted; the invariants of the algorithm and of the records are.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.schema import validate_trace
from reer_pipeline.reer.search import Search, SearchConfig, mine, repeats_ngrams
from reer_pipeline.reer.store import TraceStore, trace_id
from tests.conftest import embedded_lm

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

TINY = SearchConfig(
    proposer_uri="hf::embedded",
    scorer_uri="hf::embedded",
    n_candidates=2,
    max_steps=2,
    max_tokens_request=16,
    max_tokens_draft=48,
    max_tokens_rewrite=24,
    min_segment_chars=40,
)

TEXTS = [
    "I shipped a product nobody asked for. It died in 3 weeks.\n\n"
    "Talk to 10 customers before you write code. What do you ask users first?",
    "Hot take: most standups should be a Slack thread.\n\nWe tried it for a month. "
    "Focus time went up, nobody missed the meetings.",
    "Three things I wish I knew as a junior dev:\n\n1. Read the error.\n2. Ask early.\n"
    "3. Ship small.",
    "Our open source repo hit 10k stars today. Thank you all. The next release adds offline mode.",
]


def posts(n: int = len(TEXTS)) -> list[PostRef]:
    return [
        PostRef(
            f"p{i}",
            "linkedin" if i % 2 else "x",
            "ada",
            TEXTS[i % len(TEXTS)],
            "2024-05-01",
            90.0 + i,
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def lm():

    return embedded_lm()


def check_trace(tr: dict, cfg: SearchConfig) -> None:
    """Invariants every trace must satisfy, whatever the model wrote."""
    validate_trace(tr)
    assert tr["config_hash"] == cfg.config_hash
    assert tr["id"] == trace_id(
        PostRef.from_any({**tr, "text": tr["y"]}).post_hash, cfg.config_hash
    )
    assert tr["kept"] == (tr["rejected_reason"] is None)
    assert len(tr["steps"]) <= cfg.max_steps
    u = tr["usage"]
    assert u["generate_calls"] == 2 + len(tr["steps"])  # x, z, then ONE call per step
    batched = sum(any(c["valid"] for c in s["candidates"]) for s in tr["steps"])
    assert u["score_calls"] == (1 if tr["segments"] else 0) + batched  # ONE score call per step
    assert u["completion_tokens"] > 0 and u["prompt_tokens"] > 0
    if tr["segments"]:
        assert u["scored_tokens"] > 0
    assert u["candidates_generated"] == sum(len(s["candidates"]) for s in tr["steps"])
    assert u["candidates_skipped"] == sum(
        not c["valid"] for s in tr["steps"] for c in s["candidates"]
    )
    current = tr["score_before"]
    refined = list(tr["segments"])
    for s in tr["steps"]:
        assert len(s["candidates"]) <= cfg.n_candidates
        assert s["score_in"] == current and s["segment"] == tr["segments"][s["index"]]
        for c in s["candidates"]:
            assert (c["reason"] is None) == c["valid"]
            if not c["valid"]:
                assert c["score"] is None and not c["accepted"]
        valid = [c["score"] for c in s["candidates"] if c["valid"] and c["score"] is not None]
        if s["accepted"] is None:
            assert s["score_out"] == current
            assert all(v >= current for v in valid)  # no better candidate was dropped
        else:
            best = s["candidates"][s["accepted"]]
            assert best["accepted"] and best["score"] == min(valid) < current
            assert s["score_out"] == best["score"]
            refined[s["index"]] = best["text"]
        current = s["score_out"]
    assert tr["score_after"] == current
    if current is not None:
        assert tr["score_after"] <= tr["score_before"]
        assert 0.0 <= tr["score_after"] <= -cfg.clip_low
    assert tr["trajectory"] == "\n\n".join(refined)
    # loops are dropped from the draft and rewrites that add one are invalid: none is left
    assert not repeats_ngrams(tr["trajectory"], cfg.ngram_n, cfg.ngram_max_repeats)
    if tr["stop_reason"] == "threshold":
        assert tr["score_after"] < cfg.threshold


def test_search_records_a_complete_trace(lm):
    # never stops early: walks max_steps segments; a twice-used 6-gram counts as a loop
    cfg = replace(TINY, threshold=-1.0, ngram_max_repeats=1)
    tr = Search(lm, lm, cfg).run(posts(1)[0])
    check_trace(tr, cfg)
    assert tr["stop_reason"] in ("max_steps", "segments_exhausted", "no_segments")
    assert len(tr["steps"]) == min(cfg.max_steps, len(tr["segments"]))
    assert tr["x"]["platform"] == "x" and tr["x"]["text"]
    assert tr["proposer_uri"] == tr["scorer_uri"] == "hf::embedded"
    assert tr["wall_time_s"] > 0


def test_search_stops_early_below_threshold(lm):
    cfg = replace(TINY, threshold=100.0)  # every score (<= 2) is below: no step is taken
    tr = Search(lm, lm, cfg).run(posts(2)[1])
    check_trace(tr, cfg)
    if tr["segments"]:
        assert tr["stop_reason"] == "threshold" and tr["steps"] == []
        assert tr["usage"]["generate_calls"] == 2 and tr["usage"]["score_calls"] == 1


def test_degenerate_proposals_are_counted_never_crash(lm):
    # budgets of a few tokens make empty, short or cut-off drafts and rewrites
    cfg = replace(
        TINY, max_tokens_draft=6, max_tokens_rewrite=1, min_segment_chars=1, threshold=-1.0
    )
    tr = Search(lm, lm, cfg).run(posts(3)[2])
    check_trace(tr, cfg)
    for s in tr["steps"]:
        assert all(not c["valid"] for c in s["candidates"])  # 1 token < min_candidate_chars
        assert s["accepted"] is None
    assert tr["usage"]["candidates_skipped"] == tr["usage"]["candidates_generated"]


# mining tests are about bookkeeping: a threshold every score is under skips the rewrite steps
FAST = replace(TINY, threshold=100.0)


def test_mine_is_incremental_and_reports_progress(lm, tmp_path):
    cfg = FAST
    store = TraceStore(tmp_path)
    seen = []
    report = mine(posts(3), store, lm, lm, cfg, max_posts=2, on_progress=seen.append)
    assert (report.mined, report.failed, report.stopped) == (2, 0, "max_posts")
    assert [(p.i, p.n) for p in seen] == [(1, 2), (2, 2)] and seen[-1].eta_s == 0
    assert seen[0].eta_s is not None and seen[0].eta_s > 0
    first = {r["id"]: r for r in store.read()}
    assert len(first) == 2
    for tr in first.values():
        check_trace(tr, cfg)
    again = mine(posts(3), store, lm, lm, cfg)
    assert (again.skipped_existing, again.mined, again.stopped) == (2, 1, "done")
    records = list(store.read())
    assert len(records) == 3 == len(store.path.read_text().splitlines())
    assert {r["id"]: r for r in records if r["id"] in first} == first  # never recomputed
    none = mine(posts(3), store, lm, lm, cfg, time_limit_s=0)
    assert none.mined == 0 and none.skipped_existing == 3


def test_mine_rejects_a_model_that_is_not_the_configured_one(lm, tmp_path):
    with pytest.raises(ValueError):
        mine(posts(1), TraceStore(tmp_path), lm, lm, replace(TINY, scorer_uri="hf::other"))


MINER = """
import sys
sys.path.insert(0, sys.argv[2])
from test_search_model import FAST, posts
from reer_pipeline.lm.registry import load_lm
from reer_pipeline.reer.search import mine
from reer_pipeline.reer.store import TraceStore
from reer_pipeline.layout import DataLayout
lm = load_lm("hf::embedded", models_dir=DataLayout.from_env().models)
cfg = FAST
r = mine(posts(4), TraceStore(sys.argv[1]), lm, lm, cfg, lockstep=2,
         on_progress=lambda p: print("progress", p.i, p.n, flush=True))
print("report", r.mined, r.skipped_existing, flush=True)
"""


def test_mining_killed_with_sigkill_resumes_without_loss_or_duplicates(lm, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    here = str(Path(__file__).parent)
    proc = subprocess.Popen(
        [sys.executable, "-c", MINER, str(tmp_path), here],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    store = TraceStore(tmp_path)
    deadline = time.monotonic() + 900
    while len(store) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # mid-run: the second group of 2 posts is in flight
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    survived = {r["id"]: r for r in TraceStore(tmp_path).read()}
    assert 1 <= len(survived) < 4
    cfg = FAST
    report = mine(posts(4), TraceStore(tmp_path), lm, lm, cfg, lockstep=3)
    assert report.skipped_existing == len(survived) and report.failed == 0
    assert report.mined == 4 - len(survived)
    final = TraceStore(tmp_path)
    records = list(final.read())
    assert len(records) == 4 == len(final.path.read_text().splitlines())
    assert {r["post_id"] for r in records} == {p.post_id for p in posts(4)}
    assert all(survived[r["id"]] == r for r in records if r["id"] in survived)


def _decisions(tr: dict) -> dict:
    """What the search decided for a post: everything but scores, usage and timing."""
    keys = ("id", "x", "z_initial", "segments", "trajectory", "stop_reason", "rejected_reason")
    steps = [
        (s["index"], s["accepted"], [(c["text"], c["valid"], c["reason"]) for c in s["candidates"]])
        for s in tr["steps"]
    ]
    return {k: tr[k] for k in keys} | {"steps": steps}


def _scores(tr: dict) -> list[float | None]:
    cands = [c["score"] for s in tr["steps"] for c in s["candidates"]]
    return [tr["score_before"], tr["score_after"], *cands]


def test_lockstep_search_decides_like_one_post_at_a_time_when_greedy(tmp_path):
    # fp32: a batched forward pass equals a single one up to float rounding
    lm = embedded_lm(dtype="float32")
    cfg = replace(TINY, temperature=0.0, threshold=-1.0, max_tokens_rewrite=40)
    ps = posts(2)
    alone = [Search(lm, lm, cfg).run(p) for p in ps]
    finished = []
    together = Search(lm, lm, cfg).run_many(ps, on_trace=finished.append)
    assert sorted(t["id"] for t in finished) == sorted(t["id"] for t in together)
    assert sum(len(t["steps"]) for t in together) > 0
    for a, b in zip(alone, together, strict=True):
        check_trace(b, cfg)
        assert _decisions(b) == _decisions(a)
        assert _scores(b) == pytest.approx(_scores(a), abs=1e-3)
    mine(ps, TraceStore(tmp_path), lm, lm, cfg, lockstep=2)
    stored = sorted(TraceStore(tmp_path).read(), key=lambda t: t["post_id"])
    assert [_decisions(t) for t in stored] == [_decisions(t) for t in alone]
