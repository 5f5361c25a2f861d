"""The near-duplicate rule of drafting's ranking (`program/draft.py`), measured on real drafts.

`draft`: on the data root a `reer demo` left (`REER_DATA_DIR`), `--topics` of the account's own
subjects (`subject_topics`, as `candidates` picks them), `--drafts` drafts each through `draft`
(the code path of `reer draft` and `candidates`) by the demo's drafting model (its author model
when that beat the base), each scored by the account's scorer. Saved to `<out>/drafts.json`.

`report`: for each topic, the top `--top` drafts ranked by total alone and by `score_drafts`'
rule; how many pairs in them are near-duplicates (`overlap` of word 3-grams at least the
cutoff), and the total score the top n lost, at the rule's cutoff and two others.

    REER_DATA_DIR=/tmp/demo/data REER_TORCH_THREADS=1 \\
        python benchmarks/diversity.py draft --out .bench/diversity --topics 8 --drafts 6
    python benchmarks/diversity.py report --out .bench/diversity
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path


def draft(out: Path, n_topics: int, n_drafts: int, max_tokens: int, seed: int) -> None:
    """Draft as the demo's `candidates` does, on the data root a `reer demo` left
    (`REER_DATA_DIR`): its account's subjects, its author model when that beat the base."""
    import duckdb

    from reer_pipeline.ingest.accounts import find_account
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.base import seed_local_models
    from reer_pipeline.program.context import load_context
    from reer_pipeline.program.draft import draft as draft_topics
    from reer_pipeline.program.subjects import subject_topics
    from reer_pipeline.resources.lm import LMRegistryResource
    from reer_pipeline.resources.storage import Storage
    from reer_pipeline.session import drafting_session

    layout = DataLayout.from_env()
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        account = find_account(con, "x", None)
        ctx = load_context(con, account, layout.traces)
    topics = subject_topics(ctx.own_texts, account, n_topics)
    models = LMRegistryResource(storage=Storage())
    session = drafting_session(ctx, layout.account(account), models, n_angles=n_drafts)
    seed_local_models(seed)
    started = time.time()
    drafts, stats = draft_topics(session.program, session.proposer, ctx, topics, max_tokens)
    seconds = time.time() - started
    texts = [d.get("text") or "" for d in drafts]
    scores = session.scorer.score(texts, topics=[d["topic"] for d in drafts])
    rows = [
        {"topic": d["topic"], "text": t, "total": s["total"], "usable": s["usable"]}
        for d, t, s in zip(drafts, texts, scores, strict=True)
    ]
    result = {
        "account": str(account),
        "model_choice": session.model_choice,
        "program": session.source,
        "topics": topics,
        "seconds": round(seconds, 1),
        "stats": stats,
        "drafts": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "drafts.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"{session.model_choice}; {len(rows)} drafts of {len(topics)} topics in {seconds:.0f} s")


def report(out: Path, top: int) -> None:
    from reer_pipeline.program.draft import NEAR_DUPLICATE, diverse_order, overlap

    data = json.loads((out / "drafts.json").read_text())
    by_topic: dict[str, list[dict]] = {}
    for d in data["drafts"]:
        by_topic.setdefault(d["topic"], []).append(d)

    def pairs(chosen: list[dict], cutoff: float) -> int:
        return sum(
            overlap(a["text"], b["text"], a["topic"]) >= cutoff
            for a, b in itertools.combinations(chosen, 2)
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
            diverse = [i for i, _ in diverse_order(texts, totals, drafts[0]["topic"], cutoff)][:top]
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
            similar = overlap(a["text"], b["text"], topic)
            if similar >= NEAR_DUPLICATE:
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
