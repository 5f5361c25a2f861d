"""A tournament on the shipped sample: the four generation strategies (single = `base`,
self_consistency, debate, manager_worker; add any system or model URI with --system) draft for
the account's newest held-out requests, the embedded model judges every pair in both orders and
the validated scorer judges too.

Prints the table (systems x win rate [95% bootstrap interval], Bradley-Terry rating), the
pairwise win rates, the judge's position-bias figure (pairs whose verdict flips with the order),
the share of verdicts for the first-shown draft, the judge's agreement with the scorer, and each
system's drafting seconds as a ratio to `base` measured in the same run (the machine is shared:
absolute seconds are noisy, ratios less so).

    REER_TORCH_THREADS=1 OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
        .venv/bin/python benchmarks/tournament.py --requests 20
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
import time
from pathlib import Path

import duckdb

from reer_pipeline.evaluate import tournament as tm
from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts, read_account_posts
from reer_pipeline.layout import DataLayout
from reer_pipeline.platforms import Account
from reer_pipeline.program.context import load_context
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.storage import Storage

SAMPLE = Path(__file__).resolve().parent.parent / "data/samples/fivethirtyeight_BarackObama.csv"
STRATEGIES = ["base", "self_consistency", "debate", "manager_worker"]


def sample_account(export: Path, work: Path):
    """(context, posts, paths, layout) of the export's account in a throwaway warehouse."""
    report = stage_export(export, work / "export.parquet")
    assert report.error is None, report.error
    layout = DataLayout(work, DataLayout.from_env().models_root)
    with duckdb.connect(str(work / "warehouse.duckdb")) as con:
        build_posts(con, [work / "export.parquet"], EngagementConfig())
        platform, author = con.execute(
            "SELECT platform, author FROM posts GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        account = Account(platform, author)
        posts = read_account_posts(con, platform, author)
        ctx = load_context(con, account, layout.traces)
    return ctx, posts, layout.account(account), layout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--export", type=Path, default=SAMPLE)
    ap.add_argument("--requests", type=int, default=tm.N_REQUESTS)
    ap.add_argument("--system", action="append", default=[], help="more systems or model URIs")
    ap.add_argument("--judge", default="local", help="judge_lm URI")
    ap.add_argument("--proposer", default="local", help="proposer_lm URI")
    ap.add_argument("--max-tokens", type=int, default=80)
    ap.add_argument("--out", type=Path, help="write the report as JSON (and the plot beside it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ctx, posts, paths, layout = sample_account(args.export, work)
        models = LMRegistryResource(
            storage=Storage(root=str(work), models_dir=str(layout.models)),
            proposer_lm=args.proposer,
            scorer_lm="local",
            judge_lm=args.judge,
        )
        t0 = time.perf_counter()
        report = tm.run(
            ctx,
            posts,
            paths,
            models,
            models.get("judge_lm"),
            systems=STRATEGIES + args.system,
            n_requests=args.requests,
            max_tokens=args.max_tokens,
            log=lambda m: print(m, flush=True),
        )
    s = report["summary"]
    print(
        f"\n{len(report['topics'])} held-out requests (posts from {report['cutoff']} on), "
        f"judge {report['judge']}, {s['judge_calls']} judge prompts, "
        f"{time.perf_counter() - t0:.0f} s in all\n"
    )
    print(report["table"])
    print("\npairwise (judge, row system's win rate):")
    for pair, v in s["pairwise"].items():
        print(f"  {pair}: {tm.fmt(v)}")
    print(f"\nposition bias (verdict flips with the order): {tm.fmt(s['position_bias'])}")
    print(f"verdicts for the first-shown draft: {tm.fmt(s['first_shown_picked'])}")
    print(f"judge agrees with the scorer (decisive pairs): {tm.fmt(s['scorer_agreement'])}")
    base = report["systems"]["base"]["seconds"]
    for name, i in report["systems"].items():
        print(
            f"  {name}: drafting {i['seconds']} s = {i['seconds'] / base:.2f}x base, "
            f"usable best drafts {i['usable']} of {len(report['topics'])}"
        )
    for k, topic in enumerate(report["topics"][:5]):
        print(f"\n{topic}:")
        for name, texts in report["drafts"].items():
            print(f"  {name}: {texts[k]!r}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({k: v for k, v in report.items() if k != "table"}, indent=1, default=str)
        )
        png = tm.plot(s, args.out.with_suffix(".png"), f"tournament on {ctx.platform}")
        print(f"plot: {args.out.with_suffix('.png')} ({len(base64.b64decode(png))} bytes)")


if __name__ == "__main__":
    main()
