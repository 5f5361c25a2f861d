"""The author adapter's data: an approved text trains, as drafting's request for its topic."""

from reer_pipeline.finetune.data import build_examples, post_request
from reer_pipeline.serve.store import Decision, draft_id
from tests.learn.conftest import ACCOUNT, sample_posts


def approve(store, topic, draft, text):
    did = draft_id(ACCOUNT.platform, ACCOUNT.author, topic, draft)
    store.record(Decision(did, ACCOUNT, topic, draft, "approved", {}, approved_text=text))


def test_approved_texts_train_and_held_out_posts_never_do(tmp_path, store):
    older, newest = sample_posts(tmp_path, newest=300)
    posts = [p | {"is_original": True} for p in older[-300:] + newest]
    edited = "Health care is a right, not a privilege. Sign up before Friday at LINK."
    approve(store, "health care", "Health care.", edited)
    approve(store, "the farewell", "Bye.", newest[-1]["text"])  # a test post: never trains
    splits = build_examples(posts, decisions=store.decisions(ACCOUNT))
    [approved] = [e for e in splits.train if e.source == "approved"]
    assert approved.target == edited and approved.request == post_request("x", "health care")
    assert splits.skipped["approved text is a held-out post"] == 1
    assert all(e.source != "approved" for e in splits.valid + splits.test)
