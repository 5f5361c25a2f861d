"""The near-duplicate rule of drafting's ranking (`program/draft.py`), measured on real drafts.

`draft`: the sample account's own subjects (`subject_topics`, as the `candidates` asset picks
them), `--drafts` drafts each from the embedded model through `draft` (the code path of `reer
draft` and `candidates`), every draft scored by the account's scorer on the embedded model.
Saved to `<out>/drafts.json`.

`report`: for each topic, the top `--top` drafts ranked by total alone and by `score_drafts`'
rule; how many pairs in them are near-duplicates (`overlap` of word 3-grams at least the
cutoff), and the total score the top n lost, at the rule's cutoff and two others.

    REER_TORCH_THREADS=1 python benchmarks/diversity.py draft --out .bench/diversity
    python benchmarks/diversity.py report --out .bench/diversity
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "fivethirtyeight_BarackObama.csv"


def draft(out: Path, n_topics: int, n_drafts: int, max_tokens: int, seed: int) -> None:
    import duckdb

    from reer_pipeline.ingest.accounts import find_account
    from reer_pipeline.ingest.stage import stage_export
    from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.base import seed_local_models
    from reer_pipeline.lm.registry import load_lm
    from reer_pipeline.program.context import load_context
    from reer_pipeline.program.draft import draft as draft_topics
    from reer_pipeline.program.draft import make_scorer
    from reer_pipeline.program.modules import DraftProgram
    from reer_pipeline.program.subjects import subject_topics

    out.mkdir(parents=True, exist_ok=True)
    staged = out / "sample.parquet"
    stage_export(SAMPLE, staged)
    db = out / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        build_posts(con, [staged], EngagementConfig())
        account = find_account(con, "x", None)
        ctx = load_context(con, account, out / "traces")
    topics = subject_topics(ctx.own_texts, account, n_topics)
    lm = load_lm("hf::embedded", models_dir=DataLayout.from_env().models)
    seed_local_models(seed)
    started = time.time()
    drafts, stats = draft_topics(DraftProgram(n_angles=n_drafts), lm, ctx, topics, max_tokens)
    seconds = time.time() - started
    scorer = make_scorer(ctx, lm)
    scores = scorer.score(
        [d.get("text") or "" for d in drafts], topics=[d["topic"] for d in drafts]
    )
    rows = [
        {
            "topic": d["topic"],
            "text": d.get("text") or "",
            "total": s["total"],
            "usable": s["usable"],
        }
        for d, s in zip(drafts, scores, strict=True)
    ]
    result = {
        "account": str(account),
        "topics": topics,
        "seconds": round(seconds, 1),
        "stats": stats,
    }
    (out / "drafts.json").write_text(json.dumps(result | {"drafts": rows}, indent=1, default=str))
    print(f"{len(rows)} drafts of {len(topics)} topics in {seconds:.0f} s -> {out / 'drafts.json'}")


def report(out: Path, top: int) -> None:
    from reer_pipeline.program.draft import NEAR_DUPLICATE, diverse_order, overlap

    data = json.loads((out / "drafts.json").read_text())
    by_topic: dict[str, list[dict]] = {}
    for d in data["drafts"]:
        by_topic.setdefault(d["topic"], []).append(d)

    def pairs(chosen: list[dict], cutoff: float) -> int:
        return sum(
            overlap(a["text"], b["text"]) >= cutoff for a, b in itertools.combinations(chosen, 2)
        )

    n = sum(len(v) for v in by_topic.values())
    print(f"{data['account']}: {len(by_topic)} topics, {n} drafts, top {top} per topic")
    head = ("cutoff", "dup pairs before", "after", "total before", "after", "lost")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (7, 17, 6, 13, 7, 6), strict=True)))
    for cutoff in sorted({0.3, NEAR_DUPLICATE, 0.7}):
        before_pairs = after_pairs = 0
        before_total = after_total = 0.0
        for drafts in by_topic.values():
            texts, totals = [d["text"] for d in drafts], [d["total"] for d in drafts]
            plain = sorted(range(len(drafts)), key=lambda i: (-totals[i], i))[:top]
            diverse = [i for i, _ in diverse_order(texts, totals, cutoff)][:top]
            before_pairs += pairs([drafts[i] for i in plain], cutoff)
            after_pairs += pairs([drafts[i] for i in diverse], cutoff)
            before_total += sum(totals[i] for i in plain)
            after_total += sum(totals[i] for i in diverse)
        lost = 1 - after_total / before_total if before_total else 0.0
        mark = " (the rule)" if cutoff == NEAR_DUPLICATE else ""
        print(
            f"{cutoff:>7.2f} {before_pairs:>17} {after_pairs:>6} {before_total:>13.3f} "
            f"{after_total:>7.3f} {lost:>6.1%}{mark}"
        )
    print("\nnear-duplicate pairs at the rule's cutoff (overlap, then the two drafts):")
    for topic, drafts in by_topic.items():
        for a, b in itertools.combinations(drafts, 2):
            if overlap(a["text"], b["text"]) >= NEAR_DUPLICATE:
                similar = overlap(a["text"], b["text"])
                print(f"- [{topic}] {similar:.2f}\n    {a['text']!r}\n    {b['text']!r}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("phase", choices=["draft", "report"])
    parser.add_argument("--out", type=Path, default=Path(".bench/diversity"))
    parser.add_argument("--topics", type=int, default=4)
    parser.add_argument("--drafts", type=int, default=6, help="drafts per topic")
    parser.add_argument("--top", type=int, default=3, help="the top n shown per topic")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.phase == "draft":
        draft(args.out, args.topics, args.drafts, args.max_tokens, args.seed)
    else:
        report(args.out, args.top)


if __name__ == "__main__":
    main()
