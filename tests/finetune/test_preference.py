"""The author adapter's preference step (DPO through TRL) on decisions in a real review log:
real sample posts, the embedded model, a tiny adapter and a tiny budget."""

import json
import math

import pytest

from reer_pipeline.finetune import TrainConfig, build_examples, train_adapter
from reer_pipeline.finetune.author import preference_due, step_on_decisions
from reer_pipeline.finetune.data import post_request, post_subject
from reer_pipeline.finetune.preference import REPORT, PreferenceConfig, pairs_from_decisions
from reer_pipeline.finetune.train import CARD
from reer_pipeline.ingest.warehouse import read_account_posts
from reer_pipeline.layout import DataLayout
from reer_pipeline.lm.registry import load_lm
from reer_pipeline.platforms import Account
from reer_pipeline.serve.store import Decision, ReviewStore
from tests.conftest import SAMPLE
from tests.scoring.conftest import warehouse

ACCOUNT = Account("x", "BarackObama")


def decide(store: ReviewStore, posts: list[dict], drafts: list[str]) -> list[dict]:
    """Each post's subject is a topic the person got a draft for (`drafts[i]`). They edited the
    draft into the post they wrote; every third draft they rejected as bland instead, and
    approved their own post on the topic as it was."""
    for i, (p, drafted) in enumerate(zip(posts, drafts, strict=True)):
        topic = post_subject(p["text"], ACCOUNT.author)
        if i % 3 == 2:
            store.record(Decision(f"r{i}", ACCOUNT, topic, drafted, "rejected", {}, reason="bland"))
            store.record(Decision(f"a{i}", ACCOUNT, topic, p["text"], "approved", {}, p["text"]))
        else:
            store.record(Decision(f"e{i}", ACCOUNT, topic, drafted, "approved", {}, p["text"]))
    return store.decisions(ACCOUNT)


def drafts_for(lm, posts: list[dict]) -> list[str]:
    """The adapter's own draft for each post's request, as drafting asks it."""
    requests = [post_request("x", post_subject(p["text"], ACCOUNT.author)) for p in posts]
    prompts = [[{"role": "user", "content": r}] for r in requests]
    return [c[0].strip() or "Read more." for c in lm.generate(prompts, max_tokens=48)]


def test_pairs_are_edits_and_approved_over_rejected_on_a_topic(tmp_path):
    store = ReviewStore(tmp_path / "reviews.sqlite3")
    posts = [
        {"text": "Health care for every family: call Congress today #ACA"},
        {"text": "Climate action cannot wait: clean energy jobs are here https://t.co/Ab1"},
        {"text": "Immigration reform passed the Senate. Now the House must act."},
        {"text": "Raise the minimum wage: nobody who works full time should live in poverty."},
    ]
    decisions = decide(store, posts, ["We can do better.", "Stay tuned!", "LIVE now.", "Hi."])
    pairs = pairs_from_decisions(decisions, "x")
    assert len(pairs) == 4  # 3 edits; 1 approved (as drafted) over the rejected draft
    rejected = {d["drafted_text"] for d in decisions if d["decision"] == "rejected"}
    assert [p.chosen for p in pairs if p.rejected in rejected] == [posts[2]["text"]]
    assert all(p.prompt.startswith("Write an X (Twitter) post about ") for p in pairs)
    # links are not what the person prefers: drafts have none, the packager adds them
    assert "clean energy jobs are here" in " ".join(p.chosen for p in pairs)
    assert not any("link]" in p.chosen or "http" in p.chosen for p in pairs)


@pytest.mark.slow
def test_the_preference_step_lowers_the_loss_of_held_out_pairs(tmp_path, monkeypatch):
    monkeypatch.setenv("REER_TORCH_THREADS", "1")
    con = warehouse(tmp_path / "warehouse.duckdb", [SAMPLE])
    posts = read_account_posts(con, ACCOUNT.platform, ACCOUNT.author)
    con.close()
    examples = build_examples(posts)
    cfg = TrainConfig(max_steps=4, batch_tokens=512, max_val_examples=8, threads=1)
    models = DataLayout.from_env().models
    adapter = train_adapter(examples, "hf::embedded", tmp_path / "adapter", cfg, models_dir=models)
    own = [p for p in posts if p["is_original"] and len(p["text"]) > 60][-32:]
    lm = load_lm(f"hf::embedded+adapter={adapter.adapter_dir}", models_dir=models)
    decisions = decide(ReviewStore(tmp_path / "reviews.sqlite3"), own, drafts_for(lm, own))
    before = (adapter.adapter_dir / "adapter_model.safetensors").read_bytes()
    step = PreferenceConfig(max_steps=6, batch_size=4, learning_rate=2e-4, max_length=160)
    report = step_on_decisions(
        adapter.adapter_dir, decisions, "x", examples.test[:24], step, models
    )
    # 32 decisions' pairs, fewer where a draft and its edit differ only by links
    assert 24 <= report["pairs"] <= 32
    assert report["test"] == round(report["pairs"] * step.test_fraction)
    assert report["heldout_loss_after"] < report["heldout_loss_before"] == math.log(2)
    assert report["reward_accuracy"]["value"] > 0.5  # most held-out margins rose
    assert 0 <= report["accuracy_before"] <= 1 and 0 <= report["accuracy_after"] <= 1
    assert report["train_losses"] and report["heldout_ppl_after"] > 0
    assert report["kept"] == (
        report["heldout_ppl_rise"] <= step.max_ppl_rise
        and report["broken_drafts_after"] <= report["broken_drafts_before"]
    )
    assert report["decisions_seq"] == max(d["seq"] for d in decisions)
    out = adapter.adapter_dir
    stepped = (out / "adapter_model.safetensors").read_bytes()
    assert (stepped != before) == report["kept"]  # swapped in only when it passed its rule
    card = json.loads((out / CARD).read_text())
    assert card["run_key"] == adapter.card["run_key"]  # still the run it stepped from
    assert ("preference" in card) == report["kept"]
    assert report.pop("new") is True
    assert json.loads((out / REPORT).read_text()) == json.loads(json.dumps(report))
    assert load_lm(f"hf::embedded+adapter={out}", models_dir=models).adapter == str(out)
    # The same decisions are not stepped on again: the last report, nothing trained.
    again = step_on_decisions(out, decisions, "x", examples.test[:24], step, models)
    assert again == json.loads(json.dumps(report))
    assert (out / "adapter_model.safetensors").read_bytes() == stepped


def test_the_nightly_step_is_due_only_for_decisions_the_adapter_has_not_stepped_on(tmp_path):
    adapter = tmp_path / "adapter"
    assert not preference_due(tmp_path, 5)  # no adapter: nothing to step
    adapter.mkdir()
    (adapter / CARD).write_text(json.dumps({"run_key": "r1"}))
    assert preference_due(tmp_path, 5)
    (adapter / REPORT).write_text(json.dumps({"decisions_seq": 5, "kept": False}))
    assert not preference_due(tmp_path, 5) and preference_due(tmp_path, 6)
