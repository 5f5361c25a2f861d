"""The author model on real data: LoRA-train the embedded model on one account's older posts,
then compare the held-out perplexity of its newest 20% posts under the base model and the
adapter, and draft for held-out requests with the drafting program (what `candidates` runs):
usable-draft rate, the validated scorer's mean and the scorer's win rate of adapter drafts over
base drafts, with bootstrap intervals over requests.

Stages the export, builds `posts` in a throwaway DuckDB with the assets' SQL, builds the examples
with `finetune.build_examples` (no traces unless --traces), trains with `finetune.train_adapter`
(a rerun with the same --out resumes or reuses a finished adapter), scores both models in fp32.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/finetune.py \
        --export data/samples/fivethirtyeight_BarackObama.csv --out /tmp/ft-sample

Held-out requests: the REER request x of the newest test posts that have a trace (--traces),
else the test posts' subjects as topics (`finetune.data.post_request`).

Like for like: `--other-adapter DIR` judges a second adapter (e.g. one trained on other requests)
as `other` on the same test requests, gate drafts and drafting topics; `--requests-from DIR` takes
the test requests from another examples folder's `test.jsonl` (the same posts, matched by id),
so both adapters are also judged on the requests the other was trained with.

Drafting rows (each drafts the same held-out requests with the drafting program, seed 0):
`base` (the embedded model), `adapter` (the account's adapter), `adapter+tuned` with
--tune-calls N (the program tuned by GEPA, N metric calls, with the adapter drafting, on the
account's top posts older than the held-out period) and `bootstrap_finetune` with
--bootstrap-finetune (the base model fine-tuned by DSPy's `BootstrapFinetune` through
`LocalLoRAProvider` on the program's own usable drafts for those top posts).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from pathlib import Path

import duckdb

from reer_pipeline.finetune import (
    TrainConfig,
    build_examples,
    heldout_perplexity,
    relative_reduction,
    train_adapter,
    write_jsonl,
)
from reer_pipeline.finetune.data import LINK, URL, read_jsonl
from reer_pipeline.finetune.train import CARD, peak_rss_mb
from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import (
    EngagementConfig,
    build_posts,
    build_top_posts,
    read_account_posts,
    read_top_posts,
)
from reer_pipeline.lm.base import seed_local_models
from reer_pipeline.program.package import fill_links
from reer_pipeline.reer.store import TraceStore
from reer_pipeline.stats import bootstrap_interval


def models():
    """The models folder the embedded model is converted into."""
    from reer_pipeline.layout import DataLayout

    return DataLayout.from_env().models


SAMPLE = Path(__file__).resolve().parent.parent / "data/samples/fivethirtyeight_BarackObama.csv"


def account_posts(export: Path, work: Path, author: str | None) -> list[dict]:
    report = stage_export(export, work / "export.parquet")
    assert report.error is None, report.error
    with duckdb.connect(str(work / "warehouse.duckdb")) as con:
        build_posts(con, [work / "export.parquet"], EngagementConfig())
        build_top_posts(con, 0.9, 20)  # the assets' defaults: what tuning learns from
        platform, author = con.execute(
            """SELECT platform, author FROM posts WHERE author = coalesce(?, author)
            GROUP BY ALL ORDER BY sum(is_original::INT) DESC""",  # default: most original posts
            [author],
        ).fetchone()
        return read_account_posts(con, platform, author)


def topic_of(request: str) -> str:
    """The subject a post request names (`finetune.data.post_request`; also the older requests
    "... about <key terms> for people who follow <author>.")."""
    return request.split(" post about ", 1)[-1].split(" for people who follow ", 1)[0].rstrip(".")


def sample_drafts(lms: dict, splits, test, platform: str, batch: int = 10):
    """Drafts of each model ({name: lm}) for held-out requests (T 0.7, seed 0), through the
    usable-draft gate after the packager's link step (placeholders dropped)."""
    from reer_pipeline.scoring.gate import AuthorIndex, check_draft

    index = AuthorIndex([e.target for e in splits.train])
    drafts, gate = [], {}
    for name, lm in lms.items():
        seed_local_models(0)
        outs = []
        for i in range(0, len(test), batch):
            prompts = [[{"role": "user", "content": e.request}] for e in test[i : i + batch]]
            outs += [o[0] for o in lm.generate(prompts, temperature=0.7, top_p=0.9, max_tokens=96)]
        results = [
            check_draft(fill_links(o), platform, topic_of(e.request), index, [e.request])
            for o, e in zip(outs, test, strict=True)
        ]
        rules = Counter(r for res in results for r in res.rules)
        gate[name] = {
            "drafts": len(outs),
            "usable": sum(r.usable for r in results),
            "usable_rate": round(sum(r.usable for r in results) / max(1, len(outs)), 3),
            "broken_rules": dict(rules),
        }
        if name == "adapter":
            drafts = [
                {
                    "request": e.request,
                    "draft": o,
                    "usable": r.usable,
                    "rules": r.rules,
                    "reference": e.target,
                }
                for o, e, r in zip(outs, test, results, strict=True)
            ]
    return drafts, gate


def bootstrap(values: list[float]) -> dict:
    """Mean of `values` (one per request) with its 95% bootstrap interval."""
    mean, low, high = bootstrap_interval(values)
    return {"mean": round(mean, 4), "low": round(low, 4), "high": round(high, 4), "n": len(values)}


def heldout_topics(test, traces: list[dict], platform: str, n: int) -> list[dict]:
    """The newest `n` test posts as drafting topics: a trace's REER request when the post has
    one, else the subject its post request names."""
    by_post = {str(t["post_id"]): t for t in traces if t.get("kept")}
    topics = []
    for e in sorted(test, key=lambda e: (e.created_at, e.post_id))[-n:]:
        t = by_post.get(e.post_id)
        topic = (t.get("topic") or "") if t else ""
        topics.append(
            {
                "topic": topic or topic_of(e.request),
                "platform": platform,
                "audience": (t.get("audience") if t else None) or "a general audience",
                "source": "reer request" if topic else "post request",
                "reference": e.target,
            }
        )
    return topics


def tune_with_adapter(work, con, account, ctx, cutoff, scorer, adapter_uri, calls) -> Path:
    """The drafting program tuned with GEPA (`calls` metric calls, the `tuned_program` asset's
    settings) on the account's top posts older than `cutoff`, the adapter drafting and the base
    model reflecting; the saved program's path."""
    from reer_pipeline.lm.dspy_adapter import to_dspy
    from reer_pipeline.lm.registry import load_lm
    from reer_pipeline.optimize.data import build_splits
    from reer_pipeline.optimize.tune import TuneConfig, tune
    from reer_pipeline.program.modules import DraftProgram
    from reer_pipeline.scoring.metric import DraftMetric

    top = [
        p
        for p in read_top_posts(con, account.platform, account.author)
        if str(p["created_at"]) < str(cutoff)
    ]
    splits = build_splits(top, [], ctx.cards)
    proposer = load_lm(adapter_uri, models_dir=models())
    reflection = load_lm("hf::embedded", models_dir=models())
    result = tune(
        DraftProgram(n_angles=1, temperature=0.0),
        splits,
        DraftMetric(scorer),
        lm=to_dspy(proposer, max_tokens=160),
        reflection_lm=to_dspy(reflection, max_tokens=384, temperature=1.0),
        cfg=TuneConfig(optimizer="gepa", max_metric_calls=calls),
        log_dir=work / "gepa",
    )
    path = work / "tuned_program.json"
    result.program.save(str(path))
    print(
        f"GEPA: {result.metric_calls} metric calls in {result.wall_time_s:.0f}s on "
        f"{len(splits.train)}/{len(splits.val)} train/val top posts before {cutoff}",
        flush=True,
    )
    return path


def bootstrap_finetune(work, con, account, ctx, cutoff, scorer, args) -> str:
    """The base model fine-tuned by DSPy's `BootstrapFinetune` (through `LocalLoRAProvider`) on
    the drafting program's own drafts that the gate passes and that score at least
    `--bootstrap-threshold`, for the
    account's top posts older than `cutoff`; the fine-tuned model's URI."""
    import dspy

    from reer_pipeline.finetune.dspy_provider import LocalLoRAProvider, finetunable_lm
    from reer_pipeline.lm.dspy_adapter import PlainTextAdapter
    from reer_pipeline.optimize.data import build_splits
    from reer_pipeline.program.modules import DraftProgram
    from reer_pipeline.scoring.metric import DraftMetric, draft_text

    top = [
        p
        for p in read_top_posts(con, account.platform, account.author)
        if str(p["created_at"]) < str(cutoff)
    ]
    splits = build_splits(top, [], ctx.cards, max_examples=args.bootstrap_examples)
    trainset = splits.train + splits.val + splits.test  # all older than the held-out requests
    metric = DraftMetric(scorer).with_references(trainset)
    scores, usable = [], []

    def keep(gold, pred, trace=None) -> bool:
        [result] = metric.score_texts([gold], [draft_text(pred)])
        scores.append(result["total"])
        usable.append(bool(result["usable"]))
        return usable[-1] and scores[-1] >= args.bootstrap_threshold

    cfg = TrainConfig(threads=args.threads, epochs=args.bootstrap_epochs, min_train_examples=8)
    lm = finetunable_lm(
        "hf::embedded", LocalLoRAProvider(work / "dspy", cfg, models_dir=models()), max_tokens=160
    )
    program = DraftProgram(n_angles=1)
    program.set_lm(lm)
    t0 = time.perf_counter()
    tuned = dspy.BootstrapFinetune(metric=keep, adapter=PlainTextAdapter()).compile(
        program, trainset=trainset
    )
    kept = sum(u and s >= args.bootstrap_threshold for s, u in zip(scores, usable, strict=True))
    print(
        f"BootstrapFinetune: kept {kept} of {len(scores)} drafts (usable, score >= "
        f"{args.bootstrap_threshold}; {sum(usable)} usable, median score "
        f"{statistics.median(scores):.3f}), bootstrap and training in "
        f"{time.perf_counter() - t0:.0f}s",
        flush=True,
    )
    return tuned.compose.lm.model.removeprefix("reer/")


def compare_drafting(work, posts, splits, traces, adapter, args):
    """Base vs adapter (vs adapter + a GEPA-tuned program, when `tune_calls`) as the drafting
    program's proposer on held-out requests, judged by the validated scorer
    (`program.draft.make_scorer`, no engagement model: none is trained here)."""
    from reer_pipeline.lm.registry import load_lm
    from reer_pipeline.platforms import Account
    from reer_pipeline.program.context import load_context
    from reer_pipeline.program.draft import draft, make_program, make_scorer, score_drafts

    account = Account(posts[0]["platform"], posts[0]["author"])
    cutoff = splits.bounds["test"][0]  # the program sees only posts older than the test split
    scorer_lm = load_lm("hf::embedded", models_dir=models())
    models_used = {
        "base": ("hf::embedded", None),
        "adapter": (f"hf::embedded+adapter={adapter}", None),
    }
    if args.other_adapter:
        models_used["other"] = (f"hf::embedded+adapter={args.other_adapter.resolve()}", None)
    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as con:
        ctx = load_context(con, account, work / "no-traces")
        ctx.own_texts = [
            p["text"] for p in reversed(posts) if p["created_at"] < cutoff and p.get("is_original")
        ]
        scorer = make_scorer(ctx, scorer_lm)
        if args.tune_calls:
            uri = models_used["adapter"][0]
            program_path = tune_with_adapter(
                work, con, account, ctx, cutoff, scorer, uri, args.tune_calls
            )
            models_used["adapter+tuned"] = (uri, program_path)
        if args.bootstrap_finetune:
            uri = bootstrap_finetune(work, con, account, ctx, cutoff, scorer, args)
            models_used["bootstrap_finetune"] = (uri, None)
    topics = heldout_topics(splits.test, traces, account.platform, args.requests)
    rows = {}
    for name, (uri, program_path) in models_used.items():
        lm = load_lm(uri, models_dir=models())
        program, _ = make_program(program_path, n_angles=args.per_request)
        seed_local_models(0)
        t0 = time.perf_counter()
        drafts, stats = draft(program, lm, ctx, topics, args.draft_tokens)
        scores = score_drafts(scorer, drafts)
        rows[name] = {
            "drafts": drafts,
            "scores": scores,
            "seconds": round(time.perf_counter() - t0, 1),
            "parse_failures": stats.get("parse_failures"),
        }
        print(f"{name}: {len(drafts)} drafts in {rows[name]['seconds']}s", flush=True)

    def per_topic(name, key):
        vals: dict[str, list[float]] = {}
        for d, sc in zip(rows[name]["drafts"], rows[name]["scores"], strict=True):
            vals.setdefault(d["topic"], []).append(float(key(d, sc)))
        return [statistics.fmean(vals.get(t["topic"], [0.0])) for t in topics]

    report = {}
    for name in models_used:
        report[name] = {
            "uri": models_used[name][0],
            "program": str(models_used[name][1] or "base"),
            "drafts": len(rows[name]["drafts"]),
            "usable_rate": bootstrap(per_topic(name, lambda d, sc: bool(sc["usable"]))),
            "scorer_mean": bootstrap(per_topic(name, lambda d, sc: sc["total"])),
            "drafting_seconds": rows[name]["seconds"],
            "broken_rules": dict(
                Counter(r.split(":")[0] for sc in rows[name]["scores"] for r in sc["gate_reasons"])
            ),
        }

    # pairs: the k-th draft for a topic from each model; a win is 1, a tie 0.5
    def totals(name, topic):
        return [
            s["total"]
            for d, s in zip(rows[name]["drafts"], rows[name]["scores"], strict=True)
            if d["topic"] == topic
        ]

    for name in models_used:
        if name == "base":
            continue
        wins = []
        for t in topics:
            pairs = list(zip(totals(name, t["topic"]), totals("base", t["topic"]), strict=False))
            if pairs:
                wins.append(
                    statistics.fmean(1.0 if x > y else 0.5 if x == y else 0.0 for x, y in pairs)
                )
        report[f"{name}_win_rate_over_base"] = bootstrap(wins)
        report[f"{name}_drafts"] = [
            {
                "topic": d["topic"],
                "text": d["text"],
                "usable": bool(s["usable"]),
                "gate_reasons": s["gate_reasons"],
                "score": round(s["total"], 3),
            }
            for d, s in zip(rows[name]["drafts"], rows[name]["scores"], strict=True)
        ]
    report["base_drafts"] = [
        {
            "topic": d["topic"],
            "text": d["text"],
            "usable": bool(s["usable"]),
            "score": round(s["total"], 3),
        }
        for d, s in zip(rows["base"]["drafts"], rows["base"]["scores"], strict=True)
    ]
    report["topics"] = [{k: t[k] for k in ("topic", "source", "reference")} for t in topics]
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", type=Path, default=SAMPLE)
    ap.add_argument("--author", help="default: the export's account with most original posts")
    ap.add_argument("--out", type=Path, required=True, help="work folder (a rerun resumes)")
    ap.add_argument("--traces", type=Path, help="a TraceStore folder with the account's traces")
    ap.add_argument("--no-replies", action="store_true", help="train on original posts only")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--eval-every", type=int, default=20)
    ap.add_argument("--max-val", type=int, default=128)
    ap.add_argument("--drafts", type=int, default=10, help="adapter drafts printed verbatim")
    ap.add_argument("--gate-drafts", type=int, default=30, help="drafts per model for the gate")
    ap.add_argument("--max-test", type=int, help="score only the first N test posts")
    ap.add_argument("--requests", type=int, default=10, help="held-out requests to draft for")
    ap.add_argument("--per-request", type=int, default=2, help="drafts per request and model")
    ap.add_argument("--draft-tokens", type=int, default=160)
    ap.add_argument(
        "--tune-calls", type=int, default=0, help="GEPA metric calls for adapter + tuned program"
    )
    ap.add_argument(
        "--bootstrap-finetune", action="store_true", help="add DSPy BootstrapFinetune's model"
    )
    ap.add_argument("--bootstrap-examples", type=int, default=200, help="top posts to draft for")
    ap.add_argument("--bootstrap-threshold", type=float, default=0.0, help="score to keep a draft")
    ap.add_argument("--bootstrap-epochs", type=float, default=3.0)
    ap.add_argument("--skip-perplexity", action="store_true", help="only the drafting comparison")
    ap.add_argument("--other-adapter", type=Path, help="judge this adapter too, as `other`")
    ap.add_argument(
        "--requests-from", type=Path, help="an examples folder whose test requests to judge on"
    )
    args = ap.parse_args()
    work = args.out.resolve()
    work.mkdir(parents=True, exist_ok=True)

    posts = account_posts(args.export, work, args.author)
    traces = list(TraceStore(args.traces).read()) if args.traces else []
    splits = build_examples(posts, traces, replies=not args.no_replies)
    write_jsonl(splits, work / "examples")
    print(json.dumps({"sizes": splits.sizes(), "counts": splits.counts()}), flush=True)

    cfg = TrainConfig(
        threads=args.threads,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_tokens=args.batch_tokens,
        learning_rate=args.lr,
        rank=args.rank,
        dropout=args.dropout,
        precision=args.precision,
        eval_every=args.eval_every,
        max_val_examples=args.max_val,
    )
    adapter = work / "adapter"

    def progress(p):
        print(p.line(), flush=True)

    def tracked(name: str, figures: dict, *files: Path) -> None:
        from reer_pipeline.layout import DataLayout
        from reer_pipeline.tracking import benchmark_record, track

        track(benchmark_record, name, vars(args), figures, files, root=DataLayout.from_env().root)

    card_path = adapter / CARD
    old = json.loads(card_path.read_text()) if card_path.exists() else None
    want = cfg.as_dict()
    reuse = old is not None and all(want.get(k) == v for k, v in old["config"].items())
    t0 = time.perf_counter()
    if reuse:
        card = json.loads(card_path.read_text())
        print("reusing the finished adapter in", adapter, flush=True)
    else:
        card = train_adapter(
            splits, "embedded", adapter, cfg, on_progress=progress, models_dir=models()
        ).card
    train_wall = time.perf_counter() - t0

    def drafting() -> None:
        report = compare_drafting(work, posts, splits, traces, adapter.resolve(), args)
        report |= {"load_average": os.getloadavg(), "peak_rss_mb": round(peak_rss_mb(), 1)}
        (work / "drafting.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
        tracked("finetune drafting", report, work / "drafting.json")
        print(json.dumps({k: v for k, v in report.items() if not k.endswith("drafts")}, indent=1))

    if args.skip_perplexity:
        drafting()
        return

    from reer_pipeline.lm.hf import HFModel

    test = splits.test[: args.max_test] if args.max_test else splits.test
    if args.requests_from:
        theirs = {e.post_id: e for e in read_jsonl(args.requests_from / "test.jsonl")}
        test = [theirs[e.post_id] for e in test]
    texts, requests = [e.target for e in test], [e.request for e in test]
    base = HFModel("embedded", dtype="float32", uri="hf::embedded", models_dir=models())
    tuned = HFModel(
        "embedded",
        dtype="float32",
        uri="hf::embedded+adapter",
        adapter=str(adapter),
        models_dir=models(),
    )
    t1 = time.perf_counter()
    ppl_base = heldout_perplexity(base, texts, requests)
    ppl_tuned = heldout_perplexity(tuned, texts, requests)
    score_s = time.perf_counter() - t1
    reduction = relative_reduction(ppl_base, ppl_tuned)
    lms = {"base": base, "adapter": tuned}
    other = {}
    if args.other_adapter:
        lms["other"] = HFModel(
            "embedded",
            dtype="float32",
            uri="hf::embedded+other",
            adapter=str(args.other_adapter),
            models_dir=models(),
        )
        ppl_other = heldout_perplexity(lms["other"], texts, requests)
        other = {
            "other_adapter": str(args.other_adapter),
            "perplexity_other": ppl_other.as_dict(),
            "reduction_other": relative_reduction(ppl_base, ppl_other),
            "reduction_adapter_over_other": relative_reduction(ppl_other, ppl_tuned),
        }

    drafts, gate = sample_drafts(lms, splits, test[: args.gate_drafts], posts[0]["platform"])
    with_url = sum(bool(URL.search(d["draft"])) for d in drafts)
    result = {
        "export": args.export.name,
        "account": f"{posts[0]['platform']}:{posts[0]['author']}" if posts else None,
        "sizes": splits.sizes(),
        "counts": splits.counts(),
        "skipped": splits.skipped,
        "bounds": splits.bounds,
        "train": {
            k: card[k]
            for k in (
                "steps",
                "total_steps",
                "best_step",
                "stop_reason",
                "train_tokens",
                "target_tokens",
                "train_seconds",
                "tokens_per_s",
                "precision",
                "threads",
                "peak_rss_mb",
                "resumed_from_step",
            )
        }
        | {"wall_seconds_this_run": round(train_wall, 1), "reused": reuse},
        "val_losses": card["val_losses"],
        "median_train_loss_last_10": statistics.median([x[1] for x in card["train_losses"][-10:]]),
        "perplexity_base": ppl_base.as_dict(),
        "perplexity_adapter": ppl_tuned.as_dict(),
        "reduction": reduction,
        **other,
        "test_requests": str(args.requests_from or "own"),
        "test_request_examples": requests[:5],
        "scoring_seconds": round(score_s, 1),
        "gate": gate,
        "adapter_drafts_with_a_url": with_url,
        "adapter_drafts_with_link_placeholder": sum(LINK in d["draft"] for d in drafts),
        "benchmark_peak_rss_mb": round(peak_rss_mb(), 1),
        "load_average": os.getloadavg(),
        "drafts": drafts[: args.drafts],
    }
    (work / "result.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(json.dumps(result, indent=1, ensure_ascii=False))
    tracked("finetune", result, work / "result.json", adapter)
    if args.requests:
        drafting()


if __name__ == "__main__":
    main()
