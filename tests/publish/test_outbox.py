"""The outbox publisher: what it writes, what `find` reads back, torn lines, concurrent writers."""

import json
import multiprocessing

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Post, build
from reer_pipeline.publish.outbox import Outbox, outbox_path, read

ACCOUNT = Account("x", "someone")


def thread_post(draft_id: str = "d1") -> Post:
    parts = ("first part 1/3", "second 2/3", "third 3/3")
    return Post(draft_id, ACCOUNT, parts, "2026-12-24T09:00")


def test_it_records_exactly_what_would_be_sent(tmp_path):
    box = build(ACCOUNT, "outbox", path=str(outbox_path(tmp_path)))  # the PUBLISHERS entry
    post = thread_post()
    receipt = box.publish(post)
    [record] = read(outbox_path(tmp_path))
    assert receipt.ids == tuple(f"outbox:d1:{i}" for i in range(3))
    assert [p["text"] for p in record["parts"]] == list(post.parts)
    assert [p["reply_to"] for p in record["parts"]] == [None, *receipt.ids[:2]]
    assert [p["idempotency_key"] for p in record["parts"]] == [post.key(i) for i in range(3)]
    assert (record["platform"], record["account"], record["draft_id"], record["slot"]) == (
        "x",
        "x:someone",
        "d1",
        post.slot,
    )
    assert record["sent_at"] and receipt.url.endswith("#outbox:d1:0")


def test_find_reads_the_file_and_outcomes_are_empty(tmp_path):
    box = Outbox(ACCOUNT, None, path=tmp_path / "o.jsonl")
    assert box.find(thread_post()) is None
    sent = box.publish(thread_post())
    assert box.find(thread_post()) == sent
    assert box.find(thread_post("other")) is None
    other_account = Post("d1", Account("mastodon", "someone"), ("x",), "2026-12-24T09:00")
    assert box.find(other_account) is None
    assert box.outcomes(list(sent.ids)) == []


def test_a_torn_line_is_skipped_and_closed_before_the_next_record(tmp_path):
    path = tmp_path / "o.jsonl"
    box = Outbox(ACCOUNT, None, path=path)
    box.publish(thread_post("a"))
    with path.open("ab") as f:  # what a writer killed mid-line leaves
        f.write(b'{"platform": "x", "acc')
    assert [r["draft_id"] for r in read(path)] == ["a"]
    box.publish(thread_post("b"))
    assert [r["draft_id"] for r in read(path)] == ["a", "b"]
    assert path.read_bytes().endswith(b"\n")


def _publish_many(path, prefix: str, n: int) -> None:
    box = Outbox(ACCOUNT, None, path=path)
    for i in range(n):
        box.publish(thread_post(f"{prefix}{i}"))


def test_concurrent_processes_write_whole_records(tmp_path):
    path = tmp_path / "o.jsonl"
    procs = [
        multiprocessing.get_context("spawn").Process(target=_publish_many, args=(path, p, 40))
        for p in "ab"
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    lines = path.read_bytes().splitlines()
    assert len(lines) == 80 and all(json.loads(line) for line in lines)
    assert {r["draft_id"] for r in read(path)} == {f"{p}{i}" for p in "ab" for i in range(40)}
