"""The learning loop with the simulated reviewer (`learn/reviewer.py`) on real accounts.

For each account: its newest `--held-out` original posts are held out; the base program drafts
for each one's request on the embedded model, and the simulated reviewer decides (a usable draft
is edited into the real post, a gate-rejected draft is rejected with its reason, another
author's post is rejected as not my voice) into a real review log. The preference model is then
trained on the earlier decisions and judged on the later ones (time split) by ROC AUC with a
bootstrap interval, against the scorer's total alone, on the same held-out decisions.

Measured 2026-12-03 (--held-out 40, the shared exports; docs/learning.md has the table): AUC of
the later 18 decisions, total vs total with preference: x:BarackObama 1.000 vs 1.000;
x:andreruffert 0.715 [0.481, 0.946] vs 0.743 [0.508, 0.974] (preference alone 1.000); adopted
on neither. About 28 and 11 minutes of drafting under a shared load.

Run (1 thread; drafting is most of the time):
    REER_TORCH_THREADS=1 OMP_WAIT_POLICY=PASSIVE REER_MODELS_DIR=/work/models-cache \\
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH=$PWD \\
    .venv/bin/python benchmarks/learning.py [--held-out 40] \\
        [--exports ../shared/data/exports] [--accounts x:BarackObama x:andreruffert]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "exports"
SAMPLE = ROOT / "data" / "samples" / "fivethirtyeight_BarackObama.csv"


def exports(folder: Path = SHARED) -> list[Path]:
    """The real exports in `folder` (../shared beside the checkout) when present, else the
    shipped sample."""
    if folder.is_dir():
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("LIC"))
    return [SAMPLE]


def warehouse(paths: list[Path], workdir: Path):
    """A DuckDB warehouse with `posts` and `post_features` of the exports `paths`."""
    import duckdb

    from reer_pipeline.ingest.stage import stage_export
    from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts
    from reer_pipeline.scoring.features import build_post_features

    staged = []
    for path in paths:
        out = workdir / f"{path.stem}.parquet"
        if stage_export(path, out).error is None:
            staged.append(out)
    con = duckdb.connect(str(workdir / "warehouse.duckdb"))
    build_posts(con, staged, EngagementConfig())
    build_post_features(con)
    return con


def originals(con, account=None, exclude=None) -> list[dict]:
    """Original posts (of `account`, or of every account but `exclude`), oldest first."""
    from reer_pipeline.ingest.warehouse import fetch_dicts

    rows = fetch_dicts(
        con,
        """SELECT post_id, platform, author, text, created_at::VARCHAR AS created_at FROM posts
        WHERE is_original AND length(trim(text)) > 0 ORDER BY created_at, post_id""",
    )
    if account is not None:
        return [
            r for r in rows if (r["platform"], r["author"]) == (account.platform, account.author)
        ]
    return [r for r in rows if (r["platform"], r["author"]) != (exclude.platform, exclude.author)]


def loop(con, account, workdir: Path, lm, held_out: int, seed: int = 0) -> dict:
    """The simulated reviewer's decisions for `account` in a fresh review log; their counts."""
    from reer_pipeline.learn.reviewer import simulate, without
    from reer_pipeline.program.context import load_context
    from reer_pipeline.program.draft import make_scorer
    from reer_pipeline.program.modules import DraftProgram
    from reer_pipeline.serve.store import ReviewStore

    own = originals(con, account)[-held_out:]
    pool = originals(con, exclude=account)
    others = random.Random(seed).sample(pool, min(len(pool), held_out // 2))
    ctx = without(
        load_context(con, account, workdir / "traces"),
        [p["text"] for p in own],
        [p["text"] for p in others],
    )
    scorer = make_scorer(ctx, lm)
    store = ReviewStore(workdir / f"{account.slug}.sqlite3")
    t0 = time.perf_counter()
    rows = simulate(store, account, ctx, own, others, DraftProgram(), lm, scorer)
    return {"store": store, "decisions": rows, "seconds": time.perf_counter() - t0}


def adapter_loop(con, account, workdir: Path, decisions: list[dict], args) -> dict:
    """The author adapter before and after its preference step on the reviewer's decisions:
    an adapter of `--adapter-steps` on the account's posts (no decisions), then
    `--preference-steps` of DPO on the decisions' pairs (`finetune.author.step_on_decisions`),
    and both adapters' drafts for the first held-out pairs' requests."""
    import shutil

    from reer_pipeline.finetune import TrainConfig, read_splits, train_author_model
    from reer_pipeline.finetune.author import step_on_decisions
    from reer_pipeline.finetune.preference import (
        PreferenceConfig,
        pairs_from_decisions,
        split_pairs,
    )
    from reer_pipeline.ingest.warehouse import read_account_posts
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.registry import build_lm

    models = DataLayout.from_env().models
    posts = read_account_posts(con, account.platform, account.author)
    t0 = time.perf_counter()
    folder = workdir / account.slug
    cfg = TrainConfig(max_steps=args.adapter_steps, batch_tokens=2048)
    model = train_author_model(posts, [], folder, config=cfg, max_test=150, models_dir=models)
    before = folder / "before"
    shutil.copytree(model.adapter_dir, before)
    test = read_splits(folder / "examples").test[:150]
    step = PreferenceConfig(max_steps=args.preference_steps)
    report = step_on_decisions(model.adapter_dir, decisions, account.platform, test, step, models)
    _, held = split_pairs(pairs_from_decisions(decisions, account.platform), step.test_fraction)
    prompts = [[{"role": "user", "content": p.prompt}] for p in held[:10]]
    drafts = {}
    for name, path in (("before", before), ("after", model.adapter_dir)):
        lm = build_lm(f"hf::embedded+adapter={path}", models_dir=models)
        drafts[name] = [c[0].strip() for c in lm.generate(prompts, max_tokens=80)]
        del lm
    report["drafts"] = [
        {"request": p.prompt, "before": b, "after": a}
        for p, b, a in zip(held, drafts["before"], drafts["after"], strict=False)
    ]
    report["adapter"] = model.verdict
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def main(argv=None) -> int:
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.learn.preference import evaluate
    from reer_pipeline.lm.registry import load_lm
    from reer_pipeline.platforms import Account

    ap = argparse.ArgumentParser()
    ap.add_argument("--held-out", type=int, default=60)
    ap.add_argument("--accounts", nargs="+", default=["x:BarackObama", "x:andreruffert"])
    ap.add_argument("--exports", type=Path, default=SHARED, help="folder of real exports")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--adapter-steps", type=int, default=40, help="0: no adapter step")
    ap.add_argument("--preference-steps", type=int, default=40)
    args = ap.parse_args(argv)
    lm = load_lm("hf::embedded", models_dir=DataLayout.from_env().models)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        con = warehouse(exports(args.exports), workdir)
        for key in args.accounts:
            account = Account.parse(key)
            run = loop(con, account, workdir, lm, args.held_out)
            counts = {}
            for d in run["decisions"]:
                k = d["decision"] + (f":{d['reason']}" if d["reason"] else "")
                counts[k] = counts.get(k, 0) + 1
            results[key] = {"decisions": counts, "simulate_s": round(run["seconds"], 1)}
            results[key]["examples"] = [
                {k: d[k] for k in ("decision", "reason", "topic", "drafted_text", "approved_text")}
                for d in run["decisions"][:6]
            ]
            try:
                results[key] |= evaluate(run["decisions"])["report"]
            except ValueError as e:
                results[key]["preference"] = str(e)
            if args.adapter_steps:
                results[key]["adapter_step"] = adapter_loop(
                    con, account, workdir, run["decisions"], args
                )
            print(key, json.dumps(results[key]), file=sys.stderr)
    print(json.dumps(results, indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    from reer_pipeline.tracking import benchmark_record, track

    figures = {k: {m: v for m, v in r.items() if m != "examples"} for k, r in results.items()}
    for r in figures.values():
        if "adapter_step" in r:
            skip = ("drafts", "train_losses", "config", "why", "adapter")
            r["adapter_step"] = {m: v for m, v in r["adapter_step"].items() if m not in skip}
    files = [args.out] if args.out else []
    track(benchmark_record, "learning", vars(args), figures, files, root=DataLayout.from_env().root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
