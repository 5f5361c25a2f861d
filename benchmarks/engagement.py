"""Train and evaluate the engagement model per account of the given exports, against baselines.

Each file is staged and loaded into a temporary data root (a fresh DuckDB warehouse) with the
project's own ingest code, then every account with enough original posts with engagement is
trained and scored on its newest 20% of posts (see `reer_pipeline.scoring.engagement`).

    python benchmarks/engagement.py PATH... [--columns FIELD=COLUMN ...] [--author NAME]
        [--synthetic 20000] [--min-posts 300] [--level-lag-hours H] [--plots DIR] [--json FILE]

`--columns` maps CSV columns for plain CSV exports (fields of `ingest.formats.CsvMapping`, e.g.
`--columns text="Tweet text" created_at=time likes=likes`). `--synthetic N` adds a generated X
archive of N original posts over eight years (a drifting level, content effects, several
scripts), which measures time and memory at scale. The last line is
`beats_all_baselines: <n> of <m> accounts`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from reer_pipeline.ingest.formats import CsvMapping, ExportOptions
from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts
from reer_pipeline.platforms import Account
from reer_pipeline.scoring.engagement import format_interval as fmt
from reer_pipeline.scoring.engagement import train_engagement_model
from reer_pipeline.scoring.features import build_post_features

# The synthetic account writes pseudo-words in three scripts, drawn with a Zipf law as real
# words are, so its vocabulary grows with its size; some words have a known effect.
SYLLABLES = (
    "ka ri to ne sa mo lu pe di ga "  # Latin
    "ка ри то не са мо лу пе ди га "  # Cyrillic
    "カ リ ト ネ サ モ ル ペ ディ ガ"  # Katakana
).split()
GOOD = ["launch", "lanzamiento", "запуск", "公開", "🚀", "#opensource", "thread"]
BAD = ["sorry", "perdón", "извините", "すみません", "@support"]


def vocabulary(rng: random.Random, size: int = 30_000) -> list[str]:
    words = set()
    while len(words) < size:
        script = rng.randrange(3)
        syllables = SYLLABLES[script * 10 : script * 10 + 10]
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    words = sorted(words)
    rng.shuffle(words)  # the rank of a word is unrelated to its script or spelling
    return words


def write_synthetic(path: Path, n: int, seed: int = 0) -> None:
    """An X archive of `n` original posts by 'synthetic' over eight years: log engagement is a
    random-walk level plus content effects (good and bad words, length, links) plus noise."""
    rng = random.Random(seed)
    words_by_rank = vocabulary(rng)
    cum = list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(len(words_by_rank))))
    start = datetime(2016, 1, 1, tzinfo=UTC)
    step = 8 * 365 * 86400 / n
    level = 3.0
    with path.open("w", encoding="utf-8") as f:
        f.write("window.YTD.tweets.part0 = [\n")
        for i in range(n):
            level += rng.gauss(0.0, 0.03)
            words = rng.choices(words_by_rank, cum_weights=cum, k=rng.randint(3, 30))
            effect = 0.0
            if rng.random() < 0.3:
                words.insert(rng.randrange(len(words) + 1), rng.choice(GOOD))
                effect += 0.8
            if rng.random() < 0.2:
                words.insert(rng.randrange(len(words) + 1), rng.choice(BAD))
                effect -= 0.8
            text = " ".join(words)
            if rng.random() < 0.25:
                text += f" https://t.co/{i:x}"
                effect -= 0.3
            effect += 0.01 * len(words)
            likes = int(math.expm1(max(0.0, level + effect + rng.gauss(0.0, 0.7))))
            when = start + timedelta(seconds=i * step + rng.uniform(0, step / 2))
            tweet = {
                "id_str": str(10**17 + i),
                "full_text": text,
                "created_at": when.strftime("%a %b %d %H:%M:%S +0000 %Y"),
                "favorite_count": str(likes),
                "retweet_count": str(likes // 10),
                "entities": {"hashtags": [], "urls": [], "user_mentions": []},
            }
            f.write(("," if i else "") + json.dumps({"tweet": tweet}, ensure_ascii=False) + "\n")
        f.write("]\n")


def columns(pairs: list[str]) -> CsvMapping:
    fields = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        if not sep or name not in CsvMapping.model_fields:
            raise SystemExit(
                f"--columns takes FIELD=COLUMN with FIELD one of {list(CsvMapping.model_fields)}"
            )
        fields[name] = column or None
    return CsvMapping(**fields)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--columns", nargs="*", default=[], metavar="FIELD=COLUMN")
    parser.add_argument("--author", help="author of exports that do not name one")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N")
    parser.add_argument("--min-posts", type=int, default=300)
    parser.add_argument(
        "--level-lag-hours",
        type=float,
        default=0.0,
        help="leave the posts of the last H hours out of the level and the rolling mean",
    )
    parser.add_argument("--plots", type=Path, help="write one predicted-vs-actual PNG per account")
    parser.add_argument("--json", type=Path, help="write every account's report to this file")
    args = parser.parse_args(argv)
    if not args.paths and not args.synthetic:
        parser.error("give export paths, --synthetic N, or both")
    options = ExportOptions(author=args.author, csv=columns(args.columns))

    with tempfile.TemporaryDirectory(prefix="reer-engagement-") as tmp:
        root = Path(tmp)
        paths = list(args.paths)
        if args.synthetic:
            paths.append(root / "exports" / "synthetic_tweets.js")
            paths[-1].parent.mkdir(parents=True)
            write_synthetic(paths[-1], args.synthetic)
        staged = []
        t0 = time.perf_counter()
        for i, path in enumerate(paths):
            out = root / "staging" / f"{i}_{path.stem}.parquet"
            synthetic = args.synthetic and i == len(paths) - 1
            report = stage_export(
                path, out, ExportOptions(author="synthetic") if synthetic else options
            )
            if report.error:
                print(f"skipped {path.name}: {report.error}", file=sys.stderr)
                continue
            staged.append(out)
        con = duckdb.connect(str(root / "warehouse.duckdb"))
        build_posts(con, staged, EngagementConfig())
        build_post_features(con)
        print(f"ingested {len(staged)} file(s) in {time.perf_counter() - t0:.1f} s")
        accounts = con.execute(
            """SELECT platform, author, count(*) FILTER (WHERE engagement IS NOT NULL) AS scored,
                count(*) AS originals FROM post_features GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
        header = (
            "| account | originals | n_train/n_test | raw: model | length | rolling mean"
            " | rolling mean + length | detrended: model | pairwise (week): model"
            " | beats all | targets met | train+eval s (cpu s) |"
        )
        lines = [header, "|" + "---|" * (header.count("|") - 1)]
        reports, wins, counted = [], 0, 0
        for platform, author, scored, originals in accounts:
            account = Account(platform, author)
            if scored < args.min_posts:
                print(
                    f"skipped {account.key}: {scored} of {originals} originals have engagement"
                    f" (< {args.min_posts})"
                )
                continue
            t, cpu = time.perf_counter(), time.process_time()
            model = train_engagement_model(
                con, account, level_lag=timedelta(hours=args.level_lag_hours)
            )
            seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
            rep = model.report
            raw, det = rep["targets"]["raw"]["scores"], rep["targets"]["detrended"]["scores"]
            met = rep["meets_targets"]
            lines.append(
                f"| {account.key} | {originals} | {model.n_train}/{model.n_test}"
                f" | {fmt(raw['model']['spearman'])} | {fmt(raw['length']['spearman'])}"
                f" | {fmt(raw['rolling_mean']['spearman'])}"
                f" | {fmt(raw['rolling_mean_length']['spearman'])}"
                f" | {fmt(det['model']['spearman'])} | {fmt(raw['model']['pairwise'])}"
                f" | {'yes' if model.beats_baselines else 'no'}"
                f" | {sum(met.values())}/{len(met)} | {seconds:.1f} ({cpu:.1f}) |"
            )
            counted += 1
            wins += model.beats_baselines
            reports.append(
                rep
                | {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2)}
                | {"peak_rss_mb": round(peak_rss_mb())}
            )
            if args.plots:
                model.plot(args.plots / f"{account.slug}.png")
        con.close()
    print("\n".join(lines))
    print(
        "Spearman rho on the newest 20% of each account's original posts, with 95% week-block"
        " bootstrap intervals; raw = log1p(engagement), detrended = raw minus the level of"
        " strictly earlier posts. 'beats all': on both targets the interval of the model's rho"
        " minus each baseline's (constant, length, rolling mean, rolling mean + length) is > 0."
        f" Peak RSS {peak_rss_mb():.0f} MB."
    )
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))
    print(f"beats_all_baselines: {wins} of {counted} accounts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
