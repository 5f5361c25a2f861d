"""The publishers of X, Mastodon, LinkedIn, Facebook, Discord and Postiz against local servers
that implement the endpoints each client calls (tests/publish/conftest.py): the exact
requests, threads as reply chains, refusals (401, 429, 500, no server), `find` after a crash,
outcomes, and no credential in any error or log line.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from reer_pipeline.platforms import PLATFORMS, Account
from reer_pipeline.publish import base
from reer_pipeline.publish.base import MissingCredential, Post, PublishError
from reer_pipeline.publish.clients import LIBRARY_LOGGERS, retry_after
from tests.publish.conftest import (
    RETRY_S,
    Fake,
    FakeDiscord,
    FakeFacebook,
    FakeLinkedIn,
    FakeMastodon,
    FakePostiz,
    FakeX,
    reply,
)

TEXT = "Good schools for every child: read the plan at https://example.org/plan-2026 #education"
THREAD = (
    "Part one: health care is a right (1/3)",
    "Part two: it costs less than you think https://example.org/costs (2/3)",
    "Part three: call your senator today #ACA (3/3)",
)


@dataclass(frozen=True)
class Case:
    name: str  # the PUBLISHERS entry
    account: Account
    fake: type[Fake]
    options: Callable[[str], dict]  # the server's base URL -> the publisher's options
    findable: bool = True  # `find` can see a post sent before a crash

    def __str__(self) -> str:
        return self.name

    @property
    def threaded(self) -> bool:
        """Whether a draft for the account's platform is a thread of parts."""
        return PLATFORMS[self.account.platform].threaded

    def secrets(self) -> dict:
        fields = base.PUBLISHERS[self.name].credentials
        return {f: f"{self.name}-{f}-S3cr3t-Zq9" for f in fields}


CASES = [
    Case("x", Account("x", "ann"), FakeX, lambda url: {"base_url": url}),
    Case(
        "mastodon",
        Account("mastodon", "ann@m.example"),
        FakeMastodon,
        lambda url: {"base_url": url, "visibility": "unlisted"},
    ),
    Case(
        "linkedin",
        Account("linkedin", "ann"),
        FakeLinkedIn,
        lambda url: {"base_url": url, "author_urn": "urn:li:person:abc123"},
    ),
    Case(
        "facebook",
        Account("facebook", "ann"),
        FakeFacebook,
        lambda url: {"base_url": url, "page_id": FakeFacebook.page_id},
    ),
    Case("discord", Account("discord", "ann"), FakeDiscord, lambda url: {}, findable=False),
    Case(
        "postiz",
        Account("x", "ann"),
        FakePostiz,
        lambda url: {"base_url": url, "integration_id": FakePostiz.integration},
    ),
]
IDS = [c.name for c in CASES]


def test_cases_cover_the_table():
    """A case for every networked publisher in the table but Bluesky (tested on a real PDS)."""
    assert {c.name for c in CASES} == set(base.PUBLISHERS) - {"outbox", "bluesky"}


class Collect(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def connect(platform_server, monkeypatch):
    """`connect(case)` -> (publisher, fake, build): a fake platform on a local server, the real
    publisher built by `base.build` from env vars, and `build()` to build another as a new
    process would. Afterwards no secret is in any DEBUG record of ours or of the client
    libraries. The handler sits on those loggers themselves, so another test's logging config
    (levels, propagation, disabled loggers) cannot hide a record from the check."""
    collect = Collect()
    for name in ("reer_pipeline", *LIBRARY_LOGGERS):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "disabled", False)
        monkeypatch.setattr(logger, "level", logging.DEBUG)
        logger.addHandler(collect)
    shown = []

    def make(case: Case):
        secrets = case.secrets()
        fake = case.fake(dict(secrets))
        url = platform_server(fake)
        if case.name == "discord":  # the webhook URL holds the token the fake checks
            fake.secrets["token"] = secrets["webhook_url"]
            hook = f"{url}/api/webhooks/{FakeDiscord.webhook_id}/{secrets['webhook_url']}"
            secrets = {"webhook_url": hook}
        env = {f: f"REER_TEST_{case.name.upper()}_{f.upper()}" for f in secrets}
        for f, var in env.items():
            monkeypatch.setenv(var, secrets[f])
        shown.extend([*secrets.values(), *fake.secrets.values()])

        def build():
            return base.build(case.account, case.name, env, **case.options(url))

        return build(), fake, build

    try:
        yield make
    finally:
        for name in ("reer_pipeline", *LIBRARY_LOGGERS):
            logging.getLogger(name).removeHandler(collect)
    assert collect.records  # the client libraries did log at DEBUG: the check looked at something
    logged = "\n".join(r.getMessage() for r in collect.records)
    for secret in shown:
        assert secret not in logged


def parts_for(case: Case) -> tuple[str, ...]:
    return THREAD if case.threaded else (TEXT,)


def post_for(case: Case, draft="d1", parts=None) -> Post:
    slot = datetime.now(UTC).isoformat()
    return Post(draft, case.account, parts or parts_for(case), slot)


def no_secret(case: Case, error: Exception, publisher) -> None:
    shown = f"{error} {error!r} {error.reason} {publisher!r} {publisher} {vars(publisher)}"
    for secret in case.secrets().values():
        assert secret not in shown


# ---- what goes out ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_publish_sends_each_part_as_a_reply_to_the_one_before(case, connect):
    publisher, fake, _ = connect(case)
    post = post_for(case)
    receipt = publisher.publish(post)

    if case.name == "postiz":  # one call carries every part as the integration's values
        assert [p.text for p in fake.posts.values()] == ["\n\n".join(post.parts)]
        assert receipt.ids == tuple(fake.posts)
        return
    sent = list(fake.posts.values())
    assert [p.text for p in sent] == list(post.parts)
    assert receipt.ids == tuple(p.id for p in sent)
    if case.name == "discord":  # a webhook has no reply chain: successive messages
        assert all(p.reply_to is None for p in sent)
    else:
        assert [p.reply_to for p in sent] == [None, *receipt.ids[:-1]]
    assert receipt.url and receipt.ids[0] in receipt.url


@pytest.mark.slow
def test_x_request(connect):
    publisher, fake, _ = connect(CASES[0])
    receipt = publisher.publish(post_for(CASES[0]))
    posts = [s for s in fake.seen if s.method == "POST"]
    assert [s.path for s in posts] == ["/2/tweets"] * 3
    assert posts[0].json() == {"text": THREAD[0]}
    assert posts[1].json() == {"text": THREAD[1], "reply": {"in_reply_to_tweet_id": receipt.ids[0]}}
    assert all(s.headers["Authorization"].startswith("OAuth ") for s in posts)
    # the secrets sign the request and never travel
    for secret in ("consumer_secret", "access_token_secret"):
        assert CASES[0].secrets()[secret] not in str(fake.seen)


@pytest.mark.slow
def test_mastodon_request_and_idempotency_key(connect):
    case = CASES[1]
    publisher, fake, _ = connect(case)
    post = post_for(case)
    first = publisher.publish(post)
    posts = [s for s in fake.seen if s.method == "POST"]
    assert [s.path for s in posts] == ["/api/v1/statuses"] * 3
    assert [s.headers["Idempotency-Key"] for s in posts] == [post.key(i) for i in range(3)]
    form = {"visibility": "unlisted", "sensitive": "0"}
    assert posts[0].form() == {"status": THREAD[0], **form}
    assert posts[1].form() == {"status": THREAD[1], **form, "in_reply_to_id": first.ids[0]}
    assert all(
        s.headers["Authorization"] == f"Bearer {case.secrets()['access_token']}" for s in posts
    )
    # a retry with the same keys makes nothing new: the server answers the statuses it made
    again = publisher.publish(post)
    assert again.ids == first.ids and len(fake.posts) == 3


@pytest.mark.slow
def test_linkedin_request(connect):
    case = CASES[2]
    publisher, fake, _ = connect(case)
    receipt = publisher.publish(post_for(case))
    (sent,) = [s for s in fake.seen if s.method == "POST"]
    assert sent.path == "/rest/posts"
    assert sent.headers["Authorization"] == f"Bearer {case.secrets()['access_token']}"
    assert (
        sent.headers["Linkedin-Version"].isdigit()
        and sent.headers["X-Restli-Protocol-Version"] == "2.0.0"
    )
    body = sent.json()
    assert body["author"] == "urn:li:person:abc123" and body["lifecycleState"] == "PUBLISHED"
    assert body["commentary"] == TEXT.replace("#", "\\#")  # little text: markup escaped
    assert (
        body["visibility"] == "PUBLIC" and body["distribution"]["feedDistribution"] == "MAIN_FEED"
    )
    assert receipt.ids[0].startswith("urn:li:share:")
    assert receipt.url == f"https://www.linkedin.com/feed/update/{receipt.ids[0]}"
    with pytest.raises(PublishError, match="no threads"):
        publisher.publish(Post("d2", case.account, THREAD, ""))


@pytest.mark.slow
def test_facebook_request(connect):
    case = CASES[3]
    publisher, fake, _ = connect(case)
    publisher.publish(post_for(case))
    (sent,) = [s for s in fake.seen if s.method == "POST"]
    assert sent.path.endswith(f"/{FakeFacebook.page_id}/feed") and sent.path.startswith("/v")
    assert sent.form() == {"message": TEXT}
    assert sent.headers["Authorization"] == f"Bearer {case.secrets()['page_access_token']}"
    assert "access_token" not in sent.args  # the token is never in a URL


@pytest.mark.slow
def test_discord_request(connect):
    case = CASES[4]
    publisher, fake, _ = connect(case)
    publisher.publish(post_for(case))
    posts = [s for s in fake.seen if s.method == "POST"]
    assert all(s.args == {"wait": "true"} for s in posts)
    assert [s.json() for s in posts] == [
        {"content": part, "allowed_mentions": {"parse": []}} for part in THREAD
    ]


@pytest.mark.slow
def test_discord_webhook_query_is_kept_on_every_call(connect, monkeypatch):
    _, fake, build = connect(CASES[4])
    var = "REER_TEST_DISCORD_WEBHOOK_URL"
    monkeypatch.setenv(var, os.environ[var] + "?thread_id=77")  # a webhook into a thread
    publisher = build()
    receipt = publisher.publish(post_for(CASES[4]))
    assert publisher.outcomes(receipt.ids)
    assert [s.args.get("thread_id") for s in fake.seen] == ["77"] * 6  # 3 posts, 3 reads


@pytest.mark.slow
def test_postiz_request(connect):
    case = CASES[5]
    publisher, fake, _ = connect(case)
    post = post_for(case)
    publisher.publish(post)
    (sent,) = [s for s in fake.seen if s.method == "POST"]
    assert sent.path == "/public/v1/posts"
    assert sent.headers["Authorization"] == case.secrets()["api_key"]
    body = sent.json()
    assert body["type"] == "now" and body["shortLink"] is False and body["tags"] == []
    assert datetime.fromisoformat(body["date"].replace("Z", "+00:00"))
    assert body["posts"] == [
        {
            "integration": {"id": FakePostiz.integration},
            "value": [{"content": part, "image": []} for part in THREAD],
            "settings": {"__type": "x", "who_can_reply_post": "everyone"},
        }
    ]


# ---- refusals -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("status", [401, 429, 500])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_refusal_carries_the_platforms_reason(case, status, connect):
    publisher, fake, _ = connect(case)
    fake.refuse(status)
    with pytest.raises(PublishError) as raised:
        publisher.publish(post_for(case))
    error = raised.value
    assert error.status == status
    assert error.retryable == (status != 401)
    if status == 429:
        assert RETRY_S - 5 <= error.retry_after <= RETRY_S + 1
        if case.name == "discord":
            assert "rate limited" in error.reason
    else:
        assert error.retry_after is None
        assert f"refused {len(fake.seen)}" in error.reason  # the fake's message, in the reason
    assert not fake.posts
    no_secret(case, error, publisher)


@pytest.mark.slow
def test_a_503_with_retry_after_names_the_wait(connect):
    publisher, fake, _ = connect(CASES[2])
    fake.route = lambda request: reply({"message": "Service busy"}, 503, {"Retry-After": "120"})
    with pytest.raises(PublishError) as raised:
        publisher.publish(post_for(CASES[2]))
    assert raised.value.retryable and raised.value.retry_after == 120


@pytest.mark.slow
def test_facebook_throttling_is_retryable_with_the_wait_it_names(connect):
    """The Graph API throttles with a 400 and code 32, and names the wait in minutes."""
    publisher, fake, _ = connect(CASES[3])
    usage = {FakeFacebook.page_id: [{"type": "pages", "estimated_time_to_regain_access": 2}]}
    limit = {"message": "Page request limit reached", "type": "OAuthException", "code": 32}
    headers = {"X-Business-Use-Case-Usage": json.dumps(usage)}
    fake.route = lambda request: reply({"error": limit}, 400, headers)
    with pytest.raises(PublishError) as raised:
        publisher.publish(post_for(CASES[3]))
    assert raised.value.status == 400 and raised.value.retryable
    assert raised.value.retry_after == 120 and "Page request limit reached" in raised.value.reason
    limit["code"] = 100  # an invalid parameter: final
    with pytest.raises(PublishError) as raised:
        publisher.publish(post_for(CASES[3]))
    assert not raised.value.retryable and raised.value.retry_after is None


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_wrong_credential_is_a_final_401(case, connect):
    publisher, fake, _ = connect(case)
    fake.secrets.update({f: "another-value" for f in fake.secrets})  # the platform revoked it
    with pytest.raises(PublishError) as raised:
        publisher.publish(post_for(case))
    assert raised.value.status == 401 and not raised.value.retryable
    assert fake.unauthorized in raised.value.reason
    no_secret(case, raised.value, publisher)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_no_server_is_retryable_and_names_no_secret(case, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    secrets = case.secrets()
    if case.name == "discord":
        secrets = {"webhook_url": f"{url}/api/webhooks/1/{secrets['webhook_url']}"}
    env = {f: f"REER_TEST_{f.upper()}" for f in secrets}
    for f, var in env.items():
        monkeypatch.setenv(var, secrets[f])
    publisher = base.build(case.account, case.name, env, **case.options(url))
    with pytest.raises(PublishError) as raised:
        publisher.publish(post_for(case))
    assert raised.value.retryable and raised.value.status is None
    shown = f"{raised.value} {raised.value!r} {caplog.text}"
    for secret in (*case.secrets().values(), *secrets.values()):
        assert secret not in shown


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.findable and c.threaded and c.name != "postiz"], ids=str
)
def test_a_refusal_mid_thread_names_the_parts_sent_and_the_thread_resumes(case, connect):
    publisher, fake, _ = connect(case)
    post = post_for(case)
    serve = fake.route

    def fail_after_one(request):
        if request.method == "POST" and len(fake.posts) == 1:
            return fake.error(500, "over capacity")
        return serve(request)

    fake.route = fail_after_one
    with pytest.raises(PublishError) as raised:
        publisher.publish(post)
    (first,) = fake.posts
    assert raised.value.retryable and f"after 1 of 3 parts: {first}" in raised.value.reason
    fake.route = serve
    found = publisher.find(post)
    assert found.ids == (first,)  # the thread broke off after part 1
    done = publisher.publish(post, sent=found.ids)
    assert done.ids[0] == first and len(done.ids) == 3
    assert [p.reply_to for p in fake.posts.values()] == [None, *done.ids[:2]]


# ---- after a crash: find ------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_find_sees_a_post_sent_before_a_crash(case, connect):
    publisher, fake, rebuild = connect(case)
    post = post_for(case)
    # the same words, posted a month ago: an older post, not this one
    for sent in publisher.publish(post_for(case, draft="a-month-ago")).ids:
        fake.posts[sent].created -= timedelta(days=30)
    restarted = rebuild()  # a new process reads the platform
    assert restarted.find(post) is None  # the crash came before the call
    receipt = publisher.publish(post)
    restarted = rebuild()
    if not case.findable:
        assert restarted.find(post) is None  # a webhook cannot list what it sent
        return
    found = restarted.find(post)
    assert found is not None and found.ids == receipt.ids
    never = tuple(f"Another post, never sent {i}" for i in range(len(post.parts)))
    assert restarted.find(post_for(case, draft="d9", parts=never)) is None


# ---- outcomes -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_outcomes_parse_the_platforms_counts(case, connect):
    publisher, fake, _ = connect(case)
    receipt = publisher.publish(post_for(case))
    first = fake.posts[receipt.ids[0]]
    first.likes, first.reposts, first.replies, first.impressions = 5, 2, 3, 140
    (outcome,) = publisher.outcomes([receipt.ids[0], "999999"])  # an unknown id is left out
    assert outcome.post_id == receipt.ids[0]
    assert outcome.likes == 5
    says = {  # what each platform reports at all (None: it does not say)
        "x": (2, 3, 140),
        "mastodon": (2, 3, None),
        "linkedin": (None, 3, None),
        "facebook": (2, 3, None),
        "discord": (None, None, None),
        "postiz": (2, 3, 140),
    }[case.name]
    assert (outcome.reposts, outcome.replies, outcome.impressions) == says


# ---- credentials and rate-limit headers (no server) ---------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_missing_env_var_is_named(case, monkeypatch):
    spec = base.PUBLISHERS[case.name]
    env = {f: f"REER_TEST_UNSET_{case.name.upper()}_{f.upper()}" for f in spec.credentials}
    for var in env.values():
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(MissingCredential, match=next(iter(env.values()))):
        base.build(case.account, case.name, env, **case.options("http://127.0.0.1:9"))


def test_retry_after_reads_seconds_dates_and_reset_headers():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    t = now.timestamp()
    later = now + timedelta(seconds=90)
    assert retry_after({"Retry-After": "12"}, t) == 12
    assert retry_after({"Retry-After": format_datetime(later, usegmt=True)}, t) == 90
    assert retry_after({"x-rate-limit-reset": str(int(later.timestamp()))}, t) == 90
    assert retry_after({"X-RateLimit-Reset": later.isoformat().replace("+00:00", "Z")}, t) == 90
    assert retry_after({"x-rate-limit-reset": str(int(later.timestamp()))}, t, reset=False) is None
    assert retry_after({"Retry-After": "soon"}, t) is None
    assert retry_after({}, t) is None
