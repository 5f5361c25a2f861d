"""The author model on real data: LoRA-train the embedded model on one account's older posts,
then compare the held-out perplexity of its newest 20% posts under the base model and the
adapter, and print adapter drafts for held-out requests.

Stages the export, builds `posts` in a throwaway DuckDB with the assets' SQL, builds the examples
with `finetune.build_examples` (no traces unless --traces), trains with `finetune.train_adapter`
(a rerun with the same --out resumes or reuses a finished adapter), scores both models in fp32.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/finetune.py \
        --export data/samples/fivethirtyeight_BarackObama.csv --out /tmp/ft-sample
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
from reer_pipeline.finetune.data import LINK, URL
from reer_pipeline.finetune.train import CARD, peak_rss_mb
from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts, fetch_dicts
from reer_pipeline.lm.base import seed_local_models
from reer_pipeline.program.package import fill_links
from reer_pipeline.reer.store import TraceStore


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
        if author is None:  # the account with the most original posts
            author = con.execute(
                "SELECT author FROM posts GROUP BY author ORDER BY sum(is_original::INT) DESC"
            ).fetchone()[0]
        return fetch_dicts(
            con,
            """SELECT post_id, platform, author, text, created_at::VARCHAR AS created_at,
                is_original FROM posts WHERE author = ? ORDER BY created_at""",
            [author],
        )


def topic_of(request: str) -> str:
    """The key terms a post request names (`finetune.data.post_request`)."""
    return request.split(" post about ", 1)[-1].split(" for people who follow ", 1)[0]


def sample_drafts(base, tuned, splits, test, platform: str, batch: int = 10):
    """Drafts of both models for held-out requests (T 0.7, seed 0), through the usable-draft
    gate after the packager's link step (placeholders dropped)."""
    from reer_pipeline.scoring.gate import AuthorIndex, check_draft

    index = AuthorIndex([e.target for e in splits.train])
    drafts, gate = [], {}
    for name, lm in (("base", base), ("adapter", tuned)):
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", type=Path, default=SAMPLE)
    ap.add_argument("--author", help="default: the export's account with most original posts")
    ap.add_argument("--out", type=Path, required=True, help="work folder (a rerun resumes)")
    ap.add_argument("--traces", type=Path, help="a TraceStore folder with the account's traces")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--eval-every", type=int, default=20)
    ap.add_argument("--max-val", type=int, default=128)
    ap.add_argument("--drafts", type=int, default=10, help="adapter drafts printed verbatim")
    ap.add_argument("--gate-drafts", type=int, default=30, help="drafts per model for the gate")
    ap.add_argument("--max-test", type=int, help="score only the first N test posts")
    args = ap.parse_args()
    work = args.out.resolve()
    work.mkdir(parents=True, exist_ok=True)

    posts = account_posts(args.export, work, args.author)
    traces = list(TraceStore(args.traces).read()) if args.traces else []
    splits = build_examples(posts, traces)
    write_jsonl(splits, work / "examples")
    print(json.dumps({"sizes": splits.sizes(), "counts": splits.counts()}), flush=True)

    cfg = TrainConfig(
        threads=args.threads,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_tokens=args.batch_tokens,
        learning_rate=args.lr,
        precision=args.precision,
        eval_every=args.eval_every,
        max_val_examples=args.max_val,
    )
    adapter = work / "adapter"

    def progress(p):
        val = f", val {p.val_loss:.3f}" if p.val_loss is not None else ""
        eta = f", ~{p.eta_s / 60:.1f} min left" if p.eta_s is not None else ""
        print(
            f"step {p.step}/{p.total_steps} loss {p.train_loss:.3f}{val}, "
            f"{p.tokens_per_s:.0f} tok/s{eta}",
            flush=True,
        )

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

    from reer_pipeline.lm.hf import HFModel

    test = splits.test[: args.max_test] if args.max_test else splits.test
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

    drafts, gate = sample_drafts(
        base, tuned, splits, test[: args.gate_drafts], posts[0]["platform"]
    )
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


if __name__ == "__main__":
    main()
