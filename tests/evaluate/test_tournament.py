"""Tournaments on the real embedded model with tiny budgets, and a judge behind a local
OpenAI-compatible server (any URI judges)."""

import sys

import pytest

from reer_pipeline.evaluate import tournament as tm
from reer_pipeline.lm.registry import load_lm
from tests.lm.conftest import Server, free_port
from tests.sample_posts import sample_post


@pytest.mark.slow
def test_two_systems_on_held_out_requests_both_orders_judged(sample_account, models):
    acct = sample_account
    report = tm.run(
        acct.ctx,
        acct.posts,
        acct.paths,
        models,
        models.get("judge_lm"),
        systems=["base", "self_consistency", "tuned"],  # no tuned program here: skipped
        n_requests=3,
        max_tokens=40,
        best_of=2,
        n_samples=2,
        log=print,
    )
    s = report["summary"]
    assert "tuned" in report["skipped"] and "no tuned program" in report["skipped"]["tuned"]
    names = [r["system"] for r in s["systems"]]
    assert names == ["base", "self_consistency"]
    assert len(report["topics"]) == 3 and s["comparisons"] == 3 and s["judge_calls"] == 6
    # the held-out requests are the newest posts' subjects; drafting saw only older posts
    newest = sorted(acct.posts, key=lambda p: (p["created_at"], p["post_id"]))[
        -len(acct.posts) // 5 :
    ]
    ids = {str(p["post_id"]) for p in newest}
    for c in report["comparisons"]:
        assert 0.0 <= c["forward"] <= 1.0 and 0.0 <= c["backward"] <= 1.0  # both orders, parsed
    topics, cutoff = tm.heldout_topics(acct.posts, 3)
    assert {t["post_id"] for t in topics} <= ids and [t["topic"] for t in topics] == report[
        "topics"
    ]
    before = tm.context_before(acct.ctx, acct.posts, cutoff)
    assert not {t["reference"] for t in topics} & set(before.own_texts)
    # win rates of two systems sum to one, by the judge and by the scorer
    for key in ("win_rate", "scorer_win_rate"):
        assert sum(r[key]["value"] for r in s["systems"]) == pytest.approx(1.0)
        assert all(r[key]["low"] <= r[key]["value"] <= r[key]["high"] for r in s["systems"])
    assert s["position_bias"]["n"] == 3  # the logprob judge always answers
    assert report["judge"]["method"] == "logprob" and report["judge"]["unparsed"] == 0
    assert report["decisions"] is None  # an empty review log
    print(report["table"], s["position_bias"], s["scorer_agreement"], report["drafts"])


@pytest.mark.slow
def test_a_model_behind_an_openai_compatible_server_judges(sample_account, tmp_path):
    """mlx_lm.server serves the embedded model; it ignores echo, so it cannot score and the
    judge reads its replies. Every prompt reaches the server; each reply parses or is counted."""
    from reer_pipeline.lm.embedded import embedded_model_dir

    model_dir = embedded_model_dir(sample_account.layout.models)
    port = free_port()
    args = [sys.executable, "-m", "mlx_lm.server", "--model", str(model_dir)]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    server = Server(args, port, "/v1/models", tmp_path / "mlx_server.log", wait=120)
    try:
        judge_lm = load_lm(f"openai-compatible::http://127.0.0.1:{port}/v1::{model_dir}")
        judge = tm.PairJudge(judge_lm)
        good = sample_post("health care")
        drafts = {
            "author": [
                {"text": good, "total": 0.6},
                {"text": sample_post("climate"), "total": 0.5},
            ],
            "loop": [{"text": "care care care care", "total": 0.0}, {"text": "", "total": 0.0}],
        }
        requests = [
            "Write an X (Twitter) post about health care.",
            "Write an X (Twitter) post about climate.",
        ]
        examples = tm.judge_examples(
            sample_account.ctx, [{"topic": "health care"}, {"topic": "climate"}]
        )
        comparisons = tm.tournament(judge, drafts, requests, examples)
    finally:
        server.stop()
    assert judge.method == "generate" and judge_lm.usage.calls == 4  # 2 pairs x 2 orders
    answered = sum(p is not None for c in comparisons for p in (c.forward, c.backward))
    assert answered + judge.unparsed == 4
    s = tm.summarize(comparisons, list(drafts))
    assert sum(r["win_rate"]["value"] for r in s["systems"]) == pytest.approx(1.0)
    assert s["scorer_agreement"]["n"] <= 2
    print(tm.table(s), [(c.forward, c.backward) for c in comparisons], judge.unparsed)
