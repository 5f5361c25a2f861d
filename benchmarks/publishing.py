"""Publishing throughput: posts/s sending `--posts` one-part posts through each publisher to a
local server that implements its platform's endpoints (the fakes of tests/publish/conftest.py,
on pytest-httpserver, 127.0.0.1, in this process), and to the outbox when it exists.

Baseline, measured in the same run: the first request the publisher made, replayed with a raw
`requests.Session.request` to the same server (same method, path, headers and body; no
idempotency key, so each replay makes a post), once per post; for the outbox, one JSON line
appended and fsynced per post. Printed per publisher: the median posts/s over `--rounds`, the
baseline's, their ratio, and where the publisher's thread spent its time in one more
(profiled) round, by file (cProfile self time): the project's code (reer_pipeline/), the
client library (tweepy, Mastodon.py, requests, urllib3, oauthlib, ...), the standard library,
and C calls (socket reads while the server thread answers, fsync, locks).

The server shares this process (and its GIL) with the client, for the baseline too, so the
ratio is fair but absolute posts/s are the loopback's and this busy machine's, not a platform's.

    python benchmarks/publishing.py --posts 200 --rounds 5
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import logging
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import requests
from pytest_httpserver import HTTPServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reer_pipeline.publish import base  # noqa: E402
from reer_pipeline.publish.base import Post  # noqa: E402
from tests.publish.conftest import FakeDiscord  # noqa: E402
from tests.publish.test_clients import CASES  # noqa: E402

LIBRARIES = {
    "tweepy",
    "mastodon",
    "requests",
    "urllib3",
    "oauthlib",
    "requests_oauthlib",
    "idna",
    "charset_normalizer",
    "certifi",
    "dateutil",
    "decorator",
}
SITE_RE = re.compile(r"(?:site|dist)-packages/([^/]+)")
GROUPS = ("project", "client library", "stdlib", "C calls")


def owner(filename: str) -> str:
    """Which group a profiled function's file belongs to."""
    if filename.startswith(("~", "<")):
        return "C calls"
    if "/reer_pipeline/" in filename:
        return "project"
    m = SITE_RE.search(filename)
    if m:
        return "client library" if m.group(1).split(".")[0] in LIBRARIES else "other package"
    return "stdlib"


def shares(profile: cProfile.Profile) -> dict[str, float]:
    """Self time by group, as shares of the thread's total."""
    by = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():
        by[owner(filename)] += tottime
    total = sum(by.values()) or 1.0
    return {g: by[g] / total for g in (*GROUPS, "other package")}


def posts(case_account, n: int, round_: int) -> list[Post]:
    slot = datetime.now(UTC).isoformat()
    return [
        Post(f"bench-{round_}-{i}", case_account, (f"Benchmark post {round_}.{i}: all good",), slot)
        for i in range(n)
    ]


def timed(fn, items) -> float:
    """Items per second running `fn` on each."""
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def replay(server_url: str, seen) -> callable:
    """A raw requests call repeating the recorded request `seen`."""
    session = requests.Session()
    skip = ("host", "content-length", "idempotency-key")  # each replay makes a new post
    headers = {k: v for k, v in seen.headers.items() if k.lower() not in skip}
    url = server_url + seen.path

    def send(_):
        r = session.request(
            seen.method, url, params=seen.args, headers=headers, data=seen.body.encode()
        )
        r.raise_for_status()

    return send


def bench_client(case, server: HTTPServer, n: int, rounds: int) -> dict:
    fake = case.fake(case.secrets())
    server.clear()
    server.expect_request(re.compile(".*")).respond_with_handler(fake)
    url = server.url_for("").rstrip("/")
    secrets = case.secrets()
    if case.name == "discord":
        fake.secrets["token"] = secrets["webhook_url"]
        secrets = {
            "webhook_url": f"{url}/api/webhooks/{FakeDiscord.webhook_id}/{secrets['webhook_url']}"
        }
    env = {f: f"REER_BENCH_{case.name.upper()}_{f.upper()}" for f in secrets}
    os.environ.update({env[f]: v for f, v in secrets.items()})
    publisher = base.build(case.account, case.name, env, **case.options(url))
    publisher.publish(posts(case.account, 1, -1)[0])  # warm up; records the request to replay
    raw = replay(url, next(s for s in fake.seen if s.method == "POST"))
    client, baseline = [], []
    for r in range(rounds):  # alternate, so both see the same machine
        client.append(timed(publisher.publish, posts(case.account, n, r)))
        baseline.append(timed(raw, range(n)))
    profile = cProfile.Profile()
    profile.enable()
    for post in posts(case.account, n, rounds):
        publisher.publish(post)
    profile.disable()
    return {"client": client, "baseline": baseline, "shares": shares(profile)}


def bench_outbox(n: int, rounds: int) -> dict | None:
    """The outbox, when reer_pipeline/publish/outbox.py exists; None otherwise."""
    if importlib.util.find_spec("reer_pipeline.publish.outbox") is None:
        return None
    account = CASES[0].account
    with tempfile.TemporaryDirectory() as tmp:
        outbox = base.build(account, "outbox", path=Path(tmp) / "outbox.jsonl")
        line = json.dumps({"parts": ["Benchmark post"], "account": account.key}) + "\n"

        def raw(_):
            with open(Path(tmp) / "raw.jsonl", "a") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())

        client, baseline = [], []
        for r in range(rounds):
            client.append(timed(outbox.publish, posts(account, n, r)))
            baseline.append(timed(raw, range(n)))
        profile = cProfile.Profile()
        profile.enable()
        for post in posts(account, n, rounds):
            outbox.publish(post)
        profile.disable()
    return {"client": client, "baseline": baseline, "shares": shares(profile)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=200, help="posts per round and publisher")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the server's access log
    results = {}
    server = HTTPServer(host="127.0.0.1")
    server.start()
    try:
        for case in CASES:
            results[case.name] = bench_client(case, server, args.posts, args.rounds)
    finally:
        server.stop()
    outbox = bench_outbox(args.posts, args.rounds)
    if outbox is None:
        print("outbox: TODO, reer_pipeline/publish/outbox.py is not on this branch yet")
    else:
        results["outbox"] = outbox

    print(
        f"{args.posts} one-part posts x {args.rounds} rounds per publisher; medians. Baseline: the "
        "same request by raw requests (outbox: a raw append + fsync). Time shares: one profiled "
        "round, the publisher's thread, cProfile self time."
    )
    head = f"{'publisher':10s} {'posts/s':>8s} {'baseline':>9s} {'ratio':>6s}"
    print(head + "".join(f" {g:>15s}" for g in GROUPS))
    for name, r in results.items():
        med, ref = statistics.median(r["client"]), statistics.median(r["baseline"])
        r.update(median_posts_s=med, median_baseline_posts_s=ref, ratio=med / ref)
        cells = "".join(f" {r['shares'][g]:14.0%} " for g in GROUPS)
        print(f"{name:10s} {med:8.0f} {ref:9.0f} {med / ref:6.2f}{cells}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
