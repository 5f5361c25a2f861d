"""Normalize N generated posts in the X archive format, streaming, against a naive baseline.

The naive baseline is what one writes first: `json.load` of the whole file, then one pydantic
`Post` per record. Both run on the same file, each in a fresh child process of this run, so
that peak RSS (ru_maxrss) belongs to that variant alone.

    python benchmarks/ingest.py [--posts 1000000]

`--hostile` instead runs `reer parse` (the code under `--code`, default this checkout) on each
case of the hostile corpus (tests/ingest/hostile.py, the big cases grown by `--scale`), one
process per case with its address space capped at `--cap-gib`, and prints peak RSS and time:

    python benchmarks/ingest.py --hostile --scale 60 [--code /path/to/other/checkout]
"""

import argparse
import json
import multiprocessing
import random
import resource
import tempfile
import time
from pathlib import Path

from reer_pipeline.ingest.formats import parse_x_time
from reer_pipeline.ingest.schema import Post
from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.text import clean_text
from reer_pipeline.text import find_links

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


def _child(name: str, args: tuple, queue) -> None:
    fn = {"naive": naive, "streaming": streaming}[name]
    start, cpu = time.perf_counter(), time.process_time()
    count = fn(*args)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((count, elapsed, peak_mib, cpu))


def measure(name: str, *args) -> tuple[int, float, float, float]:
    """Run one variant in a fresh child process: (posts, seconds, peak RSS in MiB, CPU seconds).
    CPU seconds are steadier than wall time on a machine shared with other work.

    Each variant gets its own process so that one's peak memory cannot hide the other's.
    """
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def run_capped(cmd, env, cap: int, timeout: float, tmp: Path):
    """Run `cmd` with its address space capped: (peak RSS MiB, seconds, stdout, stderr)."""
    import os
    import subprocess
    import threading

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    out_path, err_path = tmp / "stdout", tmp / "stderr"
    start = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=tmp, preexec_fn=limit)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return (
        usage.ru_maxrss / 1024,
        time.perf_counter() - start,
        out_path.read_bytes(),
        err_path.read_bytes(),
    )


def hostile(scale: int, code: Path, cap_gib: float, timeout: float, only: list[str]) -> None:
    """Peak RSS and wall time of `reer parse` per hostile case, each in its own process."""
    import os
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.ingest.hostile import CASES

    cap = int(cap_gib * 2**30)
    print(f"code: {code}   scale: {scale}   address-space cap: {cap_gib:g} GiB")
    print(f"{'case':<18} {'file MiB':>9} {'peak MiB':>9} {'seconds':>8}  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        env = dict(os.environ, PYTHONPATH=str(code), REER_DATA_DIR=str(Path(tmp) / "data"))
        for case in CASES:
            if only and case.name not in only:
                continue
            path = case.write(folder, scale)
            size = path.stat().st_size / 2**20
            peak, secs, out, err = run_capped(
                [sys.executable, "-m", "reer_pipeline.cli", "parse", str(path)],
                env,
                cap,
                timeout,
                Path(tmp),
            )
            text = (out + err).decode("utf-8", "replace")
            if secs >= timeout:
                outcome = f"killed after {timeout:.0f} s"
            elif "MemoryError" in text:
                outcome = f"out of memory at the {cap_gib:g} GiB cap"
            elif "Traceback" in text:
                outcome = "traceback: " + text.strip().splitlines()[-1][:80]
            else:
                lines = [json.loads(x) for x in out.decode().splitlines() if x.startswith("{")]
                r = lines[-1] if lines else {}
                outcome = f"posts={r.get('posts')} errors={r.get('errors')}"
                if r.get("error"):
                    outcome += f" | {r['error'][:90]}"
            print(
                f"{case.name:<18} {size:>9,.1f} {peak:>9,.0f} {secs:>8.1f}  {outcome}", flush=True
            )
            path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--hostile", action="store_true")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--cap-gib", type=float, default=4.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--skip-naive", action="store_true", help="streaming figures only")
    args = parser.parse_args()
    if args.hostile:
        hostile(args.scale, args.code, args.cap_gib, args.timeout, args.only)
        return
    with tempfile.TemporaryDirectory() as tmp:
        peaks = {}
        for n in sorted({args.posts // 10, args.posts}):
            path = Path(tmp) / f"tweets_{n}.js"
            write_archive(path, n)
            size = path.stat().st_size / 2**20
            count, s_secs, s_mem, s_cpu = measure("streaming", path, Path(tmp) / f"out_{n}.parquet")
            assert count == n
            peaks[n] = s_mem
            print(
                f"streaming {n:>9,} posts ({size:,.0f} MiB file): {n / s_secs:>8,.0f} posts/s, "
                f"{n / s_cpu:>8,.0f} posts/CPU-s, peak RSS {s_mem:,.0f} MiB",
                flush=True,
            )
        n = args.posts
        if args.skip_naive:
            return
        count, secs, mem, cpu = measure("naive", path)
        assert count == n
        print(
            f"naive     {n:>9,} posts ({size:,.0f} MiB file): {n / secs:>8,.0f} posts/s, "
            f"{n / cpu:>8,.0f} posts/CPU-s, peak RSS {mem:,.0f} MiB"
        )
        print(
            f"\nstreaming vs naive at {n:,} posts: speed x{secs / s_secs:.2f}, "
            f"peak memory x{s_mem / mem:.3f}"
        )
        if len(peaks) == 2:
            small, large = sorted(peaks)
            print(
                f"streaming peak RSS at {large:,} vs {small:,} posts: "
                f"x{peaks[large] / peaks[small]:.2f} (1.00 = bounded, independent of file size)"
            )


if __name__ == "__main__":
    main()
