"""Normalize N generated posts in the X archive format, streaming, against a naive baseline.

The naive baseline is what one writes first: `json.load` of the whole file, then one pydantic
`Post` per record. Both run in this process on the same file; peak memory is the rise in RSS
above the level before each run, sampled every 5 ms.

    python benchmarks/ingest.py [--posts 1000000]
"""

import argparse
import gc
import json
import random
import tempfile
import threading
import time
from pathlib import Path

import psutil

from reer_pipeline.ingest.formats import parse_x_time
from reer_pipeline.ingest.schema import Post
from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.text import clean_text, find_links

WORDS = "ship build data model post thread launch team learn write test fast small open".split()


def write_archive(path: Path, n: int) -> None:
    rng = random.Random(0)
    with path.open("w") as f:
        f.write("window.YTD.tweets.part0 = [\n")
        for i in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
            tweet = {
                "tweet": {
                    "id_str": str(10**17 + i),
                    "full_text": f"{words} &amp; more https://t.co/x{i % 9973}",
                    "created_at": "Thu Nov 03 08:50:26 +0000 2022",
                    "favorite_count": str(rng.randint(0, 500)),
                    "retweet_count": str(rng.randint(0, 50)),
                    "lang": "en",
                    "entities": {"hashtags": [], "urls": [], "user_mentions": []},
                }
            }
            if i % 5 == 0:
                tweet["tweet"]["in_reply_to_status_id_str"] = str(10**17 + i - 1)
                tweet["tweet"]["in_reply_to_screen_name"] = "bench"
            f.write(("," if i else "") + json.dumps(tweet) + "\n")
        f.write("]\n")


def naive(path: Path) -> int:
    text = path.read_text()
    records = json.loads(text[text.index("[") :])
    posts = []
    for item in records:
        t = item["tweet"]
        raw = t["full_text"]
        text = clean_text(raw)
        posts.append(
            Post(
                platform="x",
                author="bench",
                post_id=t["id_str"],
                created_at=parse_x_time(t["created_at"]),
                text=text,
                raw_text=raw,
                is_repost=raw.startswith("RT @"),
                is_reply="in_reply_to_status_id_str" in t,
                likes=int(t["favorite_count"]),
                reposts=int(t["retweet_count"]),
                links=find_links(text),
                source_file=path.name,
                source_hash="naive",
            )
        )
    return len(posts)


def streaming(path: Path, out: Path) -> int:
    from reer_pipeline.ingest.formats import ExportOptions

    report = stage_export(path, out, ExportOptions(author="bench"), digest="bench")
    assert report.error is None, report.error
    return report.posts


def measure(fn, *args):
    """Wall time and the peak rise of this process's RSS while `fn` runs."""
    gc.collect()
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    count = fn(*args)
    elapsed = time.perf_counter() - start
    done.set()
    thread.join()
    return count, elapsed, (peak[0] - base) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for n in sorted({args.posts // 10, args.posts}):
            path = Path(tmp) / f"tweets_{n}.js"
            write_archive(path, n)
            size = path.stat().st_size / 2**20
            count, secs, mem = measure(streaming, path, Path(tmp) / f"out_{n}.parquet")
            assert count == n
            rows.append(("streaming", n, size, secs, mem))
            print(
                f"streaming  {n:>9,} posts ({size:,.0f} MiB): {n / secs:>9,.0f} posts/s, "
                f"peak +{mem:,.0f} MiB",
                flush=True,
            )
        count, secs, mem = measure(naive, path)
        assert count == args.posts
        print(
            f"naive      {args.posts:>9,} posts ({size:,.0f} MiB): {args.posts / secs:>9,.0f} posts/s, "
            f"peak +{mem:,.0f} MiB",
            flush=True,
        )
        _, n, _, s_secs, s_mem = rows[-1]
        print(
            f"\nratio streaming/naive: speed x{secs / s_secs:.2f}, peak memory x{s_mem / mem:.3f}"
        )
        if len(rows) == 2:
            print(
                f"streaming peak memory at {rows[1][1]:,} vs {rows[0][1]:,} posts: "
                f"x{rows[1][4] / max(rows[0][4], 1):.2f} (bounded: does not grow with the file)"
            )


if __name__ == "__main__":
    main()
