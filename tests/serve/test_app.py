"""The desk's app through HTTP (Starlette's TestClient drives the real ASGI app in-process):
the queue, decisions from the API and the forms, escaping, the token, CSRF, size limits and
one-line JSON errors. No model is needed: nothing here edits a draft's text."""

import json
import re

import pytest
from fastapi.testclient import TestClient

from reer_pipeline.cli import main
from reer_pipeline.learn import retrainings
from reer_pipeline.serve.app import MAX_BODY, create_app
from reer_pipeline.serve.desk import MAX_TEXT_CHARS
from reer_pipeline.serve.security import COOKIE, TOKEN_ENV
from reer_pipeline.serve.store import ReviewStore, log_path
from tests.serve.conftest import ACCOUNT, HOSTILE

KEY = ACCOUNT.key
BASE = "http://127.0.0.1:8000"


@pytest.fixture
def client(layout):
    return TestClient(create_app(layout), base_url=BASE, raise_server_exceptions=False)


def one_line_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "\n" not in response.text and "Traceback" not in response.text
    return response.json()["error"]


def test_queue_ranks_usable_drafts_first_and_counts(client, layout):
    [account] = client.get("/api/accounts").json()
    assert account == {"account": KEY, "pending": 5, "approved": 0, "rejected": 0}
    q = client.get(f"/api/accounts/{KEY}/queue").json()
    usable = [d["usable"] for d in q["drafts"]]
    assert usable == sorted(usable, reverse=True) and not usable[-1]
    d = q["drafts"][0]
    assert d["chars"] == len(d["text"]) and d["limit"] == 280
    assert d["suggested_time"].endswith("15:00:00+00:00") and d["source"] == "run"
    assert client.get(f"/api/accounts/{KEY}/queue?offset=4&limit=10").json()["drafts"] == [
        q["drafts"][4]
    ]


def test_decisions_through_the_api_leave_the_queue_and_land_in_the_log(client, layout):
    first, second = client.get(f"/api/accounts/{KEY}/queue").json()["drafts"][:2]
    r = client.post(
        f"/api/drafts/{first['draft_id']}/decision",
        json={"account": KEY, "decision": "approved", "slot": "2026-12-24T09:00:00+00:00"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["approved_text"] == first["text"] and r.json()["slot"].startswith("2026-12-24")
    r = client.post(
        f"/api/drafts/{second['draft_id']}/decision",
        json={
            "account": KEY,
            "decision": "rejected",
            "reason": "invented",
            "note": "no such event",
        },
    )
    assert r.status_code == 200, r.text
    q = client.get(f"/api/accounts/{KEY}/queue").json()
    assert (q["pending"], q["approved"], q["rejected"]) == (3, 1, 1)
    assert {first["draft_id"], second["draft_id"]}.isdisjoint(d["draft_id"] for d in q["drafts"])
    log = ReviewStore(log_path(layout.root)).decisions(ACCOUNT)
    assert [(d["draft_id"], d["decision"], d["reason"]) for d in log] == [
        (first["draft_id"], "approved", None),
        (second["draft_id"], "rejected", "invented"),
    ]
    assert log[1]["note"] == "no such event" and log[1]["drafted_text"] == second["text"]
    assert log[0]["scores"]["usable"] is True  # the scorer's view the desk showed


def test_the_forms_approve_at_the_slot_or_a_chosen_time_and_reject_with_a_reason(client, layout):
    drafts = client.get(f"/api/accounts/{KEY}/queue").json()["drafts"]
    page = f"/accounts/{KEY}"
    browser = {"sec-fetch-site": "same-origin"}  # what a browser sends from the desk's page
    r = client.post(
        f"{page}/drafts/{drafts[0]['draft_id']}/approve",
        data={"text": drafts[0]["text"], "when": "slot"},
        headers=browser,
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/accounts/{KEY.replace(':', '%3A')}"
    r = client.post(
        f"{page}/drafts/{drafts[1]['draft_id']}/approve",
        data={"text": drafts[1]["text"], "when": "time", "time": "2026-12-25T08:30"},
        headers=browser,
    )
    assert r.status_code == 200  # the redirect lands on the desk page
    r = client.post(
        f"{page}/drafts/{drafts[2]['draft_id']}/reject",
        data={"reason": "not_my_voice", "note": "too formal"},
        headers=browser,
    )
    assert r.status_code == 200
    log = ReviewStore(log_path(layout.root)).decisions(ACCOUNT)
    assert [d["slot"] for d in log] == [
        drafts[0]["suggested_time"],
        "2026-12-25T08:30:00+00:00",
        None,
    ]
    assert (log[2]["reason"], log[2]["note"]) == ("not_my_voice", "too formal")
    assert "approved 2, rejected 1" in r.text


def test_a_hostile_draft_renders_as_text(client):
    r = client.get(f"/accounts/{KEY}")
    assert r.status_code == 200
    assert "<img src=x" not in r.text and "<script>alert" not in r.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    queue = client.get(f"/api/accounts/{KEY}/queue").json()
    assert HOSTILE in [d["text"] for d in queue["drafts"]]  # the API gives the text as it is


def test_cross_site_state_changes_are_refused(client, layout):
    did = client.get(f"/api/accounts/{KEY}/queue").json()["drafts"][0]["draft_id"]
    body = {"account": KEY, "decision": "rejected", "reason": "bland"}
    url = f"/api/drafts/{did}/decision"
    for headers in (
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "http://evil.example"},
        {"origin": "null"},
    ):
        error = one_line_error(client.post(url, json=body, headers=headers), 403)
        assert "refused" in error
    assert ReviewStore(log_path(layout.root)).decisions(ACCOUNT) == []
    # a browser on the desk's own page, and a script (no browser headers), may decide
    assert client.post(url, json=body, headers={"sec-fetch-site": "same-origin"}).status_code == 200
    assert client.post(url, json=body, headers={"origin": BASE}).status_code == 200
    assert client.post(url, json=body).status_code == 200
    # reading across sites is not a state change
    assert client.get("/api/accounts", headers={"sec-fetch-site": "cross-site"}).status_code == 200


def test_sizes_have_limits_with_a_clear_error(client):
    did = client.get(f"/api/accounts/{KEY}/queue").json()["drafts"][0]["draft_id"]
    url = f"/api/drafts/{did}/decision"
    big = json.dumps({"account": KEY, "decision": "approved", "text": "a" * MAX_BODY})
    error = one_line_error(
        client.post(url, content=big, headers={"content-type": "application/json"}), 413
    )
    assert f"{MAX_BODY:,} bytes" in error
    long_text = {"account": KEY, "decision": "approved", "text": "a" * (MAX_TEXT_CHARS + 1)}
    assert "at most" in one_line_error(client.post(url, json=long_text), 413)
    topic = {"text": "Hi.", "platform": "x", "topic": "t" * 301}
    assert "topic" in one_line_error(client.post("/api/score", json=topic), 413)


def test_errors_are_one_line_of_json(client, layout):
    assert "no posts of x:nobody" in one_line_error(client.get("/api/accounts/x:nobody/queue"), 404)
    assert "invalid account" in one_line_error(client.get("/api/accounts/nobody/queue"), 404)
    assert one_line_error(client.get("/nowhere"), 404) == "Not Found"
    url = "/api/drafts/0000/decision"
    assert "no draft" in one_line_error(
        client.post(url, json={"account": KEY, "decision": "approved"}), 404
    )
    bad = client.post(url, content=b"{not json", headers={"content-type": "application/json"})
    one_line_error(bad, 422)
    unknown = client.post("/api/score", json={"text": "Hi.", "platform": "myspace", "topic": "a"})
    assert "unknown platform" in one_line_error(unknown, 404)
    layout.warehouse.write_bytes(b"this is not a DuckDB file")
    crash = one_line_error(client.get("/api/accounts"), 500)
    assert "internal error" in crash and str(layout.root) not in crash


def test_only_loopback_names_are_served_on_loopback(client):
    assert "loopback" in one_line_error(client.get("/", headers={"host": "evil.example"}), 400)
    assert client.get("/", headers={"host": "localhost:8000"}).status_code == 200


def test_the_token_is_checked_on_every_request(layout):
    token = "s3cret-token-for-the-test"
    client = TestClient(
        create_app(layout, token=token, loopback_only=False), base_url="http://desk.example"
    )
    for path in ("/", "/api/accounts", f"/accounts/{KEY}", "/docs", "/openapi.json"):
        error = one_line_error(client.get(path), 401)
        assert TOKEN_ENV in error and token not in error
    wrong = client.get("/api/accounts", headers={"authorization": "Bearer s3cret-token-for-thX"})
    one_line_error(wrong, 401)
    assert client.get("/api/accounts", headers={"authorization": f"Bearer {token}"}).json()
    assert client.post("/login", data={"token": "nope"}).status_code == 401
    r = client.post("/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    assert client.cookies.get(COOKIE) == token
    page = client.get(f"/accounts/{KEY}")
    assert page.status_code == 200 and token not in page.text


def test_serve_refuses_another_address_without_a_token(monkeypatch, capsys, data_root):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert TOKEN_ENV in err and err.count("\n") == 1
    monkeypatch.setenv(TOKEN_ENV, "short;bad")
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "at least 16" in err and "short;bad" not in err


def test_openapi_lists_the_api_and_docs_load_nothing_from_elsewhere(client):
    spec = client.get("/openapi.json").json()
    assert {
        "/api/accounts",
        "/api/accounts/{account}/queue",
        "/api/draft",
        "/api/score",
        "/api/drafts/{draft_id}/decision",
    } <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "https://" not in docs.text
    for url in re.findall(r'(?:src|href)="([^"]+)"', docs.text):
        assert url.startswith("/") and client.get(url).status_code == 200, url


def test_the_account_page_says_what_the_pipeline_knows(client, layout, sample_facts):
    did = client.get(f"/api/accounts/{KEY}/queue").json()["drafts"][0]["draft_id"]
    client.post(f"/api/drafts/{did}/decision", json={"account": KEY, "decision": "approved"})
    o = client.get(f"/api/accounts/{KEY}").json()
    assert o["posts"] == sample_facts.posts and o["originals"] <= o["posts"]
    assert o["top_posts"] and o["top_posts"][0]["engagement"] >= o["top_posts"][-1]["engagement"]
    assert [(d["approved"], d["rejected"]) for d in o["decisions_per_day"]] == [(1, 0)]
    assert o["adapter"] is None and o["engagement"] is None  # nothing trained in this data root
    page = client.get(f"/accounts/{KEY}/about")
    assert page.status_code == 200 and "None trained yet" in page.text
    assert "approved 1, rejected 0" in page.text and "100%" in page.text
    one_line_error(client.get(f"/accounts/{KEY}/engagement.png"), 404)


def test_the_account_page_shows_the_approval_rate_around_each_retraining(client, layout):
    drafts = client.get(f"/api/accounts/{KEY}/queue").json()["drafts"]
    decide = "/api/drafts/{}/decision"
    client.post(decide.format(drafts[0]["draft_id"]), json={"account": KEY, "decision": "approved"})
    retrainings.record(layout.root, ACCOUNT, "preference model", used=False, note="not adopted")
    for d in drafts[1:3]:
        body = {"account": KEY, "decision": "rejected", "reason": "bland"}
        assert client.post(decide.format(d["draft_id"]), json=body).status_code == 200
    [change] = client.get(f"/api/accounts/{KEY}").json()["retrainings"]
    assert (change["what"], change["used"]) == ("preference model", False)
    assert change["before"] == {"approved": 1, "decided": 1, "rate": 1.0}
    assert change["after"] == {"approved": 0, "decided": 2, "rate": 0.0}
    page = client.get(f"/accounts/{KEY}/about").text
    assert "Approval rate around each retraining" in page and "0% of 2" in page


def test_a_streamed_draft_request_ends_with_one_line_saying_why_it_failed(client):
    """Streaming through the guard: the response ends (the guard hands the client's disconnect
    on to a streaming response, which waits for it) with the error as its last line."""
    r = client.post("/api/draft?stream=true", json={"topic": " ", "platform": "x"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    *beats, last = [json.loads(line) for line in r.text.splitlines()]
    assert {b["status"] for b in beats} <= {"drafting"}
    assert last == {"status": "error", "error": "the topic is empty", "code": 400}
