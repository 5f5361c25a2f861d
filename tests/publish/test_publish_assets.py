"""Publishing in Dagster: a draft approved through the desk's API reaches the outbox through the
`publish` job, `published_posts` records it, and the approvals sensor starts runs only when
something is due. Real Dagster runs, a real warehouse, the real desk app (no model needed)."""

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest
from fastapi.testclient import TestClient

from reer_pipeline.assets.publishing import published_posts
from reer_pipeline.cli import print_desk
from reer_pipeline.definitions import defs
from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.layout import DataLayout
from reer_pipeline.publish import base, outcomes
from reer_pipeline.publish.base import Post, PublishError
from reer_pipeline.publish.ledger import ledger_path
from reer_pipeline.publish.outbox import outbox_path, read
from reer_pipeline.resources.publishing import Publishing
from reer_pipeline.resources.storage import Storage
from reer_pipeline.sensors.approvals import approvals_due_sensor
from reer_pipeline.sensors.outcomes import outcomes_due_sensor
from reer_pipeline.serve.app import create_app
from tests.conftest import SAMPLE
from tests.publish.conftest import FakeX
from tests.scoring.conftest import warehouse
from tests.serve.conftest import ACCOUNT, add_candidates, real_drafts

KEY = ACCOUNT.key


@pytest.fixture
def root(data_root):
    """A data root whose warehouse holds the sample's posts and four drafts of real text."""
    db = data_root / "warehouse.duckdb"
    warehouse(db, [SAMPLE]).close()
    add_candidates(db, real_drafts(db))
    return data_root


@pytest.fixture
def desk(root):
    return TestClient(create_app(DataLayout.from_env()), base_url="http://127.0.0.1:8000")


def approve(desk, draft: dict, slot: datetime) -> dict:
    r = desk.post(
        f"/api/drafts/{draft['draft_id']}/decision",
        json={"account": KEY, "decision": "approved", "slot": slot.isoformat()},
    )
    assert r.status_code == 200, r.text
    return r.json()


def publish(instance, resources=None) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions("accounts", [KEY])
    job = defs.resolve_job_def("publish")
    return job.execute_in_process(
        instance=instance, partition_key=KEY, resources=resources, raise_on_error=False
    )


def table(root) -> list[dict]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        rel = con.execute(
            "SELECT * FROM published_posts WHERE author = ? ORDER BY slot", [ACCOUNT.author]
        )
        names = [d[0] for d in rel.description]
        return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def test_an_approval_through_the_api_reaches_the_outbox_through_the_publish_job(root, desk):
    now = datetime.now(UTC)
    first, second, third = desk.get(f"/api/accounts/{KEY}/queue").json()["drafts"][:3]
    approve(desk, first, now - timedelta(minutes=5))
    approve(desk, second, now + timedelta(days=2))  # not yet
    desk.post(
        f"/api/drafts/{third['draft_id']}/decision",
        json={"account": KEY, "decision": "rejected", "reason": "bland"},
    )
    assert defs.resolve_asset_graph().get(dg.AssetKey("published_posts")).parent_keys == set()
    with dg.instance_for_test() as instance:
        result = publish(instance)
        assert result.success
        meta = result.asset_materializations_for_node(published_posts.op.name)[0].metadata
        [record] = read(outbox_path(root))
        assert record["draft_id"] == first["draft_id"] and record["account"] == KEY
        assert " ".join(p["text"] for p in record["parts"]).startswith(first["text"][:40])
        assert (meta["published"].value, meta["waiting"].value, meta["refused"].value) == (1, 1, 0)
        assert meta["publisher"].value == "outbox"
        assert meta["next_slot"].value.startswith((now + timedelta(days=2)).date().isoformat())
        rows = table(root)
        assert [(r["draft_id"], r["status"]) for r in rows] == [
            (first["draft_id"], "published"),
            (second["draft_id"], "waiting"),
        ]
        assert rows[0]["post_ids"] == [p["id"] for p in record["parts"]]
        assert rows[0]["url"] == record["url"]
        again = publish(instance)  # nothing new is due: nothing is sent again
        assert again.success and len(list(read(outbox_path(root)))) == 1


def test_a_missing_credential_fails_the_run_naming_its_variable(root, desk, monkeypatch):
    monkeypatch.delenv("REER_TEST_MASTODON_TOKEN", raising=False)
    first = desk.get(f"/api/accounts/{KEY}/queue").json()["drafts"][0]
    approve(desk, first, datetime.now(UTC) - timedelta(minutes=1))
    configured = Publishing(
        storage=Storage(),
        accounts={KEY: {"publisher": "x", "credentials": {"consumer_key": "REER_TEST_X_KEY"}}},
    )
    monkeypatch.delenv("REER_TEST_X_KEY", raising=False)
    with dg.instance_for_test() as instance:
        result = publish(instance, {"publishing": configured})
        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
        assert "REER_TEST_X_KEY" in str(failure.event_specific_data.error.message)
    assert list(read(outbox_path(root))) == []  # it did not fall back to the outbox


def tick(instance, cursor=None):
    resources = {"publishing": Publishing(storage=Storage())}
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return approvals_due_sensor(context)


def test_the_sensor_starts_a_publish_run_only_when_an_approval_is_due(root, desk):
    drafts = desk.get(f"/api/accounts/{KEY}/queue").json()["drafts"]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("accounts", [KEY])
        assert tick(instance).run_requests == []  # the desk made the log; nothing decided
        approve(desk, drafts[0], datetime.now(UTC) + timedelta(days=1))
        first = tick(instance)
        assert first.run_requests == []  # approved, not yet at its slot
        assert tick(instance, first.cursor).run_requests == []
        approve(desk, drafts[1], datetime.now(UTC) - timedelta(minutes=1))
        second = tick(instance, first.cursor)
        assert [r.partition_key for r in second.run_requests] == [KEY]
        running = instance.create_run_for_job(
            defs.resolve_job_def("publish"),
            tags={"dagster/partition": KEY},
            status=dg.DagsterRunStatus.STARTED,
        )
        assert tick(instance, first.cursor).run_requests == []  # one is publishing it already
        instance.report_run_canceled(running)
        assert publish(instance).success
        assert tick(instance, second.cursor).run_requests == []  # published; the other waits


def test_the_demo_ends_saying_how_many_drafts_wait_on_the_desk(root, desk, capsys):
    print_desk(DataLayout.from_env(), [ACCOUNT])
    waiting, serve, outbox = capsys.readouterr().out.strip().splitlines()
    pending = desk.get(f"/api/accounts/{KEY}/queue").json()["pending"]
    assert waiting == f"{pending} drafts wait on the desk ({KEY}: {pending})." and pending > 0
    assert "`make serve`" in serve and "127.0.0.1:8000" in serve
    assert str(outbox_path(root)) in outbox


def test_the_desk_shows_what_publishing_did_with_each_approval(root, desk):
    first, second, third = desk.get(f"/api/accounts/{KEY}/queue").json()["drafts"][:3]
    now = datetime.now(UTC)
    approve(desk, first, now - timedelta(minutes=5))
    approve(desk, second, now - timedelta(minutes=4))
    approve(desk, third, now + timedelta(days=1))
    # the platform refused the second one (recorded in the real ledger, as `send` records it)
    ledger = Publishing(storage=Storage()).ledger()
    refused = Post(second["draft_id"], ACCOUNT, (second["text"],), now.isoformat())
    ledger.intent(refused, 1, "x")
    ledger.refused(refused, 1, PublishError("Text is too long <b>284</b>", status=422), None)
    with dg.instance_for_test() as instance:
        assert publish(instance).success
    states = {
        a["draft_id"]: a for a in desk.get(f"/api/accounts/{KEY}/queue").json()["approved_drafts"]
    }
    assert states[first["draft_id"]]["status"] == "published"
    assert states[first["draft_id"]]["post_id"] == f"outbox:{first['draft_id']}:0"
    assert states[second["draft_id"]]["reason"] == "Text is too long <b>284</b>"
    assert states[third["draft_id"]]["status"] == "waiting"
    page = desk.get(f"/accounts/{KEY}").text
    assert f"published outbox:{first['draft_id']}:0" in page
    assert "refused: Text is too long &lt;b&gt;284&lt;/b&gt;" in page and "<b>284" not in page
    assert "waiting for" in page
    assert [r["draft_id"] for r in read(outbox_path(root))] == [first["draft_id"]]


# ---- outcomes -----------------------------------------------------------------------------------
X_ENV = {f: f"REER_TEST_X_{f.upper()}" for f in base.PUBLISHERS["x"].credentials}


@pytest.fixture
def x_platform(platform_server, monkeypatch):
    """The local X stand-in and a `publishing` resource that sends the account's posts to it."""
    secrets = {f: f"x-{f}-S3cr3t" for f in X_ENV}
    for f, var in X_ENV.items():
        monkeypatch.setenv(var, secrets[f])
    fake = FakeX(secrets)
    url = platform_server(fake)
    setting = {"publisher": "x", "credentials": X_ENV, "options": {"base_url": url}}
    return fake, Publishing(storage=Storage(), accounts={KEY: setting})


def published_hours_ago(root, draft: dict, post_id: str, hours: float) -> None:
    """Record in the ledger that `draft` went out as `post_id` `hours` ago: the publish job's two
    events, as it writes them, but earlier than any test can wait."""
    at = (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="milliseconds")
    common = {"draft_id": draft["draft_id"], "platform": "x", "author": ACCOUNT.author}
    rows = [
        common
        | {"attempt": 1, "event": "intent", "publisher": "x", "at": at}
        | {"parts": json.dumps([draft["text"]]), "slot": at},
        common
        | {"attempt": 1, "event": "published", "at": at, "found": 0}
        | {"ids": json.dumps([post_id]), "url": f"https://x.com/BarackObama/status/{post_id}"},
    ]
    with sqlite3.connect(ledger_path(root)) as con:
        for row in rows:
            con.execute(
                f"INSERT INTO events ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )


def outcomes_run(instance, publishing) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions("accounts", [KEY])
    return defs.resolve_job_def("outcomes").execute_in_process(
        instance=instance, partition_key=KEY, resources={"publishing": publishing}
    )


def outcomes_tick(instance, publishing):
    with dg.build_sensor_context(instance=instance, resources={"publishing": publishing}) as c:
        return outcomes_due_sensor(c)


@pytest.mark.slow
def test_outcomes_are_read_at_their_horizon_compared_and_flow_back(root, desk, x_platform):
    fake, publishing = x_platform
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:  # what `candidate_scores` holds
        con.execute(
            """CREATE TABLE candidate_scores AS SELECT id AS candidate_id, platform, author,
            0.1 + id / 100 AS engagement FROM candidates"""
        )
    old, new = desk.get(f"/api/accounts/{KEY}/queue").json()["drafts"][:2]
    approve(desk, old, datetime.now(UTC) - timedelta(hours=2))
    posted = fake.add(old["text"])
    posted.likes, posted.reposts, posted.replies, posted.impressions = 12, 3, 1, 400
    publishing.ledger()  # creates the ledger's tables
    published_hours_ago(root, old, posted.id, 2)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("accounts", [KEY])
        ticked = outcomes_tick(instance, publishing)
        assert [r.partition_key for r in ticked.run_requests] == [KEY]
        result = outcomes_run(instance, publishing)
        meta = result.asset_materializations_for_node("post_outcomes")[0].metadata
        assert meta["new_readings"].value == 1 and meta["published_posts"].value == 1
        assert meta["rank_correlation"].value["1h"] == f"1 posts, needs {outcomes.MIN_POSTS}"
        with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
            rows = con.execute(
                "SELECT draft_id, post_id, horizon, likes, reposts, replies, impressions,"
                " predicted FROM post_outcomes"
            ).fetchall()
        predicted = old["scores"]["engagement"]  # what the model said when it was approved
        assert rows == [(old["draft_id"], posted.id, "1h", 12, 3, 1, 400, predicted)]
        assert (root / "outcomes" / ACCOUNT.slug / "predicted_vs_actual.png").stat().st_size

        approve(desk, new, datetime.now(UTC) - timedelta(minutes=1))
        assert publish(instance, {"publishing": publishing}).success
        assert [p.text for p in fake.posts.values()] == [old["text"], new["text"]]  # once each
        assert isinstance(outcomes_tick(instance, publishing), dg.SkipReason)  # none due
        again = outcomes_run(instance, publishing)
        meta = again.asset_materializations_for_node("post_outcomes")[0].metadata
        assert meta["new_readings"].value == 0 and meta["published_posts"].value == 2
        # The published posts are an export now: ingested, they are the account's own posts.
        export = outcomes.export_path(root / "exports", ACCOUNT)
        report = stage_export(export, root / "published.parquet")
        assert (report.error, report.posts) == (None, 2)
        got = duckdb.sql(
            f"SELECT post_id, author, platform, likes FROM '{root / 'published.parquet'}'"
        ).fetchall()
        assert sorted(got) == sorted(
            [(posted.id, ACCOUNT.author, "x", 12), (list(fake.posts)[1], ACCOUNT.author, "x", None)]
        )
