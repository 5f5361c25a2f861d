"""The review desk under load: latency of `/api/score` and of the queue page, with 1 and 8
concurrent clients, on the embedded model, with `--drafts` (default 10,000) drafts waiting.

`reer serve` runs in its own process on 127.0.0.1 over a temporary data root: the shipped
sample's posts, and `--drafts` rows of `candidates` written by the project's `save_candidates`
(the sample's original posts as texts, over 20 topics; they are not scored, so the page shows
them unscored). Clients are threads of this process, each sending its requests one after the
other. Printed per case: p50 and p95 latency, requests/s, and the 8-client/1-client throughput
ratio (1 client is the baseline, measured in the same run). Score texts differ per request, so
nothing is served from a cache; concurrent score requests share batched scorer calls.

    REER_TORCH_THREADS=1 python benchmarks/serve.py --drafts 10000 --score-requests 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import duckdb

from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts
from reer_pipeline.platforms import Account
from reer_pipeline.program.draft import save_candidates
from reer_pipeline.scoring.features import build_post_features

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data/samples/fivethirtyeight_BarackObama.csv"
ACCOUNT = Account("x", "BarackObama")
TOPIC = "health care"


def build(root: Path, n_drafts: int) -> list[str]:
    """A data root with the sample's posts and `n_drafts` drafts; returns the posts' texts."""
    (root / "exports").mkdir(parents=True)
    staged = root / "sample.parquet"
    report = stage_export(SAMPLE, staged)
    assert report.error is None, report.error
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        build_posts(con, [staged], EngagementConfig())
        build_post_features(con)
        texts = [
            r[0]
            for r in con.execute(
                "SELECT text FROM posts WHERE is_original ORDER BY created_at DESC"
            ).fetchall()
        ]
        drafts = [
            {
                "topic": f"topic {i % 20}",
                "text": f"{texts[i % len(texts)]} ({i})",
                "usable": i % 3 != 0,
                "gate_reasons": [] if i % 3 else ["bland: says little"],
                "within_limit": True,
                "strategy": "plain",
                "slot": {"weekday": 1 + i % 7, "hour": 9 + i % 8, "lift": 1.0},
            }
            for i in range(n_drafts)
        ]
        save_candidates(con, ACCOUNT, drafts, "base")
    return texts


def request(url: str, body: dict | None = None) -> float:
    """Seconds for one request (its status must be 200)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data)
    if data is not None:
        req.add_header("content-type", "application/json")
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=900) as r:
        r.read()
        assert r.status == 200, r.status
    return time.perf_counter() - start


def load(clients: int, jobs: list[tuple[str, dict | None]]) -> dict:
    """Send `jobs` (url, JSON body or None) from `clients` threads; latency percentiles and
    throughput."""
    times, lock, todo = [], threading.Lock(), list(jobs)

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                job = todo.pop(0)
            t = request(*job)
            with lock:
                times.append(t)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    times.sort()
    return {
        "clients": clients,
        "requests": len(times),
        "p50_s": statistics.median(times),
        "p95_s": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "per_s": len(times) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=10_000)
    parser.add_argument("--score-requests", type=int, default=16, help="per case")
    parser.add_argument("--page-requests", type=int, default=40, help="per case")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        texts = build(root, args.drafts)
        env = os.environ | {"REER_DATA_DIR": str(root), "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(
            [sys.executable, "-m", "reer_pipeline.cli", "serve", "--port", str(args.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{args.port}"
        try:
            for _ in range(240):
                try:
                    cold = request(f"{url}/api/accounts")  # reads the drafts once
                    break
                except OSError:
                    time.sleep(0.5)
            page = f"{url}/accounts/{ACCOUNT.key}"
            score = f"{url}/api/score"
            warm = request(score, {"text": texts[0], "platform": "x", "topic": TOPIC})
            print(
                f"{args.drafts:,} drafts waiting; first read of the queue {cold:.2f} s (later "
                f"views reuse it), first score {warm:.1f} s (loads the model, calibrates)"
            )
            results = []
            for clients in (1, 8):
                k = clients * 1000
                pages = [(page, None)] * args.page_requests
                scores = [
                    (score, {"text": texts[(k + i) % len(texts)], "platform": "x", "topic": TOPIC})
                    for i in range(args.score_requests)
                ]
                results.append(("queue page", load(clients, pages)))
                results.append(("/api/score", load(clients, scores)))
        finally:
            server.terminate()
            server.wait(timeout=60)

    print(f"\n{'endpoint':<12}{'clients':>8}{'requests':>9}{'p50 s':>9}{'p95 s':>9}{'req/s':>9}")
    for name, r in results:
        print(
            f"{name:<12}{r['clients']:>8}{r['requests']:>9}{r['p50_s']:>9.3f}{r['p95_s']:>9.3f}"
            f"{r['per_s']:>9.2f}"
        )
    for name in ("queue page", "/api/score"):
        one, eight = (r for n, r in results if n == name)
        print(f"{name}: 8-client / 1-client throughput {eight['per_s'] / one['per_s']:.2f}x")
    print("(2 shared cores: absolute times are noisy; the ratios are the result)")


if __name__ == "__main__":
    main()
