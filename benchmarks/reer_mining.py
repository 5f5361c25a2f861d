"""REER mining on real data: the top N posts of the FiveThirtyEight sample, default SearchConfig.

Stages the shipped sample, builds `posts` and `top_posts` in a throwaway DuckDB with the same
SQL the assets use, then mines the top N by engagement with `reer.search.mine` into a throwaway
trace store (or --store, which makes a rerun resume). Prints the figures the REER issue asks for:
median relative score reduction, traces per hour, model calls per trace. The baseline is the
search's own starting point, each post's unrefined draft trajectory scored in the same process
(the after/before ratio). For speed, the baseline is the one-post-at-a-time search (lockstep 1)
on the first --baseline-posts posts, run first in the same process into its own store: the
traces/hour ratio of lockstep K to it.

    .venv/bin/python benchmarks/reer_mining.py --posts 20 --baseline-posts 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import duckdb

from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import (
    EngagementConfig,
    build_posts,
    build_top_posts,
    read_top_posts,
)
from reer_pipeline.layout import DataLayout
from reer_pipeline.lm.registry import load_lm
from reer_pipeline.reer.search import LOCKSTEP_POSTS, SearchConfig, concludes, mine
from reer_pipeline.reer.store import TraceStore

SAMPLE = Path(__file__).resolve().parent.parent / "data/samples/fivethirtyeight_BarackObama.csv"


def top_posts(n: int, work: Path) -> list[dict]:
    report = stage_export(SAMPLE, work / "sample.parquet")
    assert report.error is None, report.error
    with duckdb.connect(str(work / "warehouse.duckdb")) as con:
        build_posts(con, [work / "sample.parquet"], EngagementConfig())
        build_top_posts(con, 0.9, 20)
        return read_top_posts(con, limit=n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=20)
    ap.add_argument("--uri", default="hf::embedded", help="proposer and scorer URI")
    ap.add_argument("--store", type=Path, help="trace store folder (default: a temporary one)")
    ap.add_argument("--lockstep", type=int, default=LOCKSTEP_POSTS, help="posts searched at once")
    ap.add_argument("--baseline-posts", type=int, default=2, help="posts mined one at a time")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        posts = top_posts(args.posts, work)
        lm = load_lm(args.uri, models_dir=DataLayout.from_env().models)
        store = TraceStore(args.store or work / "traces")
        cfg = SearchConfig(proposer_uri=args.uri, scorer_uri=args.uri)

        def progress(p):
            print(
                f"post {p.i}/{p.n} {p.post_id}: {p.status}, {p.elapsed_s:.0f}s elapsed, "
                f"~{(p.eta_s or 0) / 60:.1f} min left",
                flush=True,
            )

        base_hour = None
        if args.baseline_posts:
            t0 = time.perf_counter()
            base = posts[: args.baseline_posts]
            one = mine(base, TraceStore(work / "baseline"), lm, lm, cfg, lockstep=1)
            base_hour = one.mined / (time.perf_counter() - t0) * 3600
            print(f"baseline, one post at a time: {one.mined} traces, {base_hour:.1f}/hour")
        t0 = time.perf_counter()
        report = mine(posts, store, lm, lm, cfg, on_progress=progress, lockstep=args.lockstep)
        wall = time.perf_counter() - t0
        traces = [t for t in store.read() if t["id"] in set(report.ids)]
    reductions = [
        (t["score_before"] - t["score_after"]) / t["score_before"]
        for t in traces
        if t["score_before"] and t["score_after"] is not None
    ]
    calls = [t["usage"]["generate_calls"] + t["usage"]["score_calls"] for t in traces]
    result = {
        "posts": len(posts),
        "traces": len(traces),
        "kept": report.kept,
        "failed": report.failed,
        "config_hash": cfg.config_hash,
        "wall_s": round(wall, 1),
        "lockstep": args.lockstep,
        "traces_per_hour": round(len(traces) / wall * 3600, 2) if traces else 0.0,
        "baseline_traces_per_hour": round(base_hour, 2) if base_hour else None,
        "ratio_to_baseline": round(len(traces) / wall * 3600 / base_hour, 2)
        if base_hour and traces
        else None,
        "kept_share": round(report.kept / len(traces), 3) if traces else None,
        "rejected": dict(Counter(t["rejected_reason"] for t in traces if not t["kept"])),
        "drafts_cut_at_a_sentence": sum(not concludes(t["z_initial"]) for t in traces),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "median_relative_reduction": round(statistics.median(reductions), 4)
        if reductions
        else None,
        "improved": sum(r > 1e-9 for r in reductions),
        "model_calls_per_trace": statistics.median(calls) if calls else None,
        "median_score_before": statistics.median(t["score_before"] for t in traces),
        "median_score_after": statistics.median(t["score_after"] for t in traces),
        # the baseline is each post's unrefined draft trajectory, scored in the same search
        "median_ratio_after_to_before": round(
            statistics.median(t["score_after"] / t["score_before"] for t in traces), 4
        ),
        "median_steps": statistics.median(len(t["steps"]) for t in traces),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
