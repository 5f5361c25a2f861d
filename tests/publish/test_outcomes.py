"""Outcomes: a published post's engagement is read at about 1 h, 24 h and 7 d through its real
client (against the local Mastodon stand-in), recorded once per horizon, compared with the
prediction at approval, and written back as an export that `posts` ingests without duplicates."""

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts
from reer_pipeline.platforms import Account
from reer_pipeline.publish import base, outcomes
from reer_pipeline.publish.base import Post
from reer_pipeline.publish.ledger import Ledger, send
from reer_pipeline.publish.outbox import Outbox
from tests.ingest.hostile import note, outbox
from tests.publish.conftest import FakeMastodon

ACCOUNT = Account("mastodon", "ann")
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("age", "read", "expected"),
    [
        (timedelta(minutes=30), set(), None),
        (2 * H, set(), "1h"),
        (30 * H, set(), "24h"),  # first read late: the newest horizon reached, not 1 h
        (30 * H, {"1h"}, "24h"),
        (30 * H, {"24h"}, None),
        (8 * 24 * H, {"1h"}, "7d"),
        (9 * 24 * H, {"7d"}, None),
    ],
)
def test_a_post_is_read_at_the_newest_horizon_it_reached(age, read, expected):
    assert outcomes.horizon_due(age, read) == expected


@pytest.fixture
def mastodon(platform_server, monkeypatch):
    """The real Mastodon publisher, its token from the environment, on the local stand-in."""
    fake = FakeMastodon({"access_token": "tok-S3cr3t"})
    url = platform_server(fake)
    monkeypatch.setenv("REER_TEST_MASTODON_TOKEN", "tok-S3cr3t")
    publisher = base.build(
        ACCOUNT, "mastodon", {"access_token": "REER_TEST_MASTODON_TOKEN"}, base_url=url
    )
    return publisher, fake


def post(i: int) -> Post:
    return Post(f"d{i}", ACCOUNT, (f"Post {i}: health care for working families #ACA",), "")


@pytest.mark.slow
def test_each_horizon_is_read_once_and_the_posts_flow_back_without_duplicates(mastodon, tmp_path):
    publisher, fake = mastodon
    ledger = Ledger(tmp_path / "publishing.sqlite3")
    t0 = datetime.now(UTC)
    receipts = [send(ledger, publisher, post(i), t0, "mastodon") for i in range(3)]
    first = fake.posts[receipts[0].ids[0]]
    first.likes, first.reposts, first.replies = 4, 1, 2

    assert outcomes.read_due(ledger, publisher, "mastodon", ACCOUNT, t0 + H / 2) == 0
    assert outcomes.read_due(ledger, publisher, "mastodon", ACCOUNT, t0 + 2 * H) == 3
    assert outcomes.read_due(ledger, publisher, "mastodon", ACCOUNT, t0 + 3 * H) == 0  # read
    first.likes = 40
    del fake.posts[receipts[2].ids[0]]  # the person deleted it
    assert outcomes.read_due(ledger, publisher, "mastodon", ACCOUNT, t0 + 25 * H) == 3
    readings = ledger.outcomes(ACCOUNT)
    assert [(r["draft_id"], r["horizon"]) for r in readings] == [
        *((f"d{i}", "1h") for i in range(3)),
        *((f"d{i}", "24h") for i in range(3)),
    ]
    assert [(r["likes"], r["found"]) for r in readings if r["draft_id"] == "d0"] == [
        (4, 1),
        (40, 1),
    ]
    gone = [r for r in readings if r["draft_id"] == "d2" and r["horizon"] == "24h"]
    assert gone[0]["found"] == 0 and gone[0]["likes"] is None
    posts = outcomes.published(ledger, ACCOUNT, "mastodon")
    assert outcomes.next_due(posts, readings) == min(p.published_at for p in posts) + 7 * 24 * H

    rows = outcomes.table_rows(posts, readings, {"d0": 0.9, "d1": 0.2})
    assert [r["engagement"] for r in rows if r["draft_id"] == "d0"] == [
        outcomes.engagement({"likes": 4, "reposts": 1, "replies": 2}),
        outcomes.engagement({"likes": 40, "reposts": 1, "replies": 2}),
    ]
    compared = outcomes.compare(rows, min_posts=2)
    assert compared["24h"]["posts"] == 2 and "spearman" in compared["24h"]  # d2 was not found
    assert compared["7d"] == {"posts": 0}
    assert outcomes.compare(rows)["24h"] == {"posts": 2}  # fewer than MIN_POSTS: no figure

    exports = tmp_path / "exports"
    path = outcomes.write_export(exports, ACCOUNT, posts, readings)
    assert outcomes.write_export(exports, ACCOUNT, posts, readings) is None  # unchanged
    # A later Mastodon export of the account holds the first post, with newer counts.
    later = exports / "outbox.json"
    item = note(0, id=f"https://m.example/users/ann/statuses/{receipts[0].ids[0]}")
    item["actor"] = "https://m.example/users/ann"
    item["object"]["published"] = (t0 + H).isoformat()
    later.write_text(outbox([item]))
    db = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    staged = []
    for i, export in enumerate((path, later)):
        report = stage_export(export, tmp_path / f"staged{i}.parquet")
        assert report.error is None, report.as_dict()
        staged.append(tmp_path / f"staged{i}.parquet")
    build_posts(db, staged, EngagementConfig())
    got = db.execute(
        "SELECT post_id, author, platform, count(*) FROM posts GROUP BY ALL ORDER BY post_id"
    ).fetchall()
    assert got == [(r.ids[0], "ann", "mastodon", 1) for r in receipts]


def test_the_outbox_has_no_outcomes(tmp_path):
    ledger = Ledger(tmp_path / "publishing.sqlite3")
    outbox_publisher = Outbox(ACCOUNT, None, path=str(tmp_path / "outbox.jsonl"))
    send(ledger, outbox_publisher, post(0), datetime.now(UTC), "outbox")
    assert outcomes.published(ledger, ACCOUNT, "outbox") == []
    later = datetime.now(UTC) + 2 * H
    assert outcomes.read_due(ledger, outbox_publisher, "outbox", ACCOUNT, later) == 0
    assert ledger.outcomes(ACCOUNT) == []
