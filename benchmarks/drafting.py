"""Drafting benchmark: how many drafts of the embedded model pass the usable-draft gate.

Three steps, so that the starting code (BEFORE) can draft with its own package and every
variant is judged by the same gate afterwards:

    export REER_MODELS_DIR=/work/models-cache REER_TORCH_THREADS=1 OMP_WAIT_POLICY=PASSIVE
    B=/tmp/reer-bench
    # 1. the author's train split, 5 held-out topics and 5 x topics (written to $B/setup.json)
    PYTHONPATH=. python benchmarks/drafting.py setup --out $B
    # 2. drafts of one variant: 10 topics x 5 drafts (written to $B/<variant>.json)
    git archive 40b93f3 reer_pipeline | tar -x -C /tmp/reer-before   # the starting code
    PYTHONPATH=/tmp/reer-before python benchmarks/drafting.py draft --out $B --variant before
    PYTHONPATH=. python benchmarks/drafting.py draft --out $B --variant after
    PYTHONPATH=. python benchmarks/drafting.py draft --out $B --variant after-no-examples ...
    # 3. the gate over every variant drafted so far: usable rate, reasons, 10 drafts to paste
    PYTHONPATH=. python benchmarks/drafting.py report --out $B

Variants (`VARIANTS`): `before` is the starting code path (`DraftProgram()` through
`draft_candidates`, JSON under a grammar, no examples); `after` is every lever on; each
`after-no-<lever>` turns one lever off (`modules.drafting_config`): plain (compose replies in
plain text, else one-field JSON under the grammar), examples (3 nearest train posts as demos),
penalties (repetition penalty 1.2 + no repeated 4-gram in the output), no_copy (no 7-token run
of the prompt), best_of (4 samples per candidate, the gate picks), ideate_off (angles = the topic;
off = the Ideate predictor writes angles). Drafting uses seed 0 for every variant, max_tokens 96,
no strategy cards or traces (a new user's warehouse). The report re-gates every variant's
drafts with the same gate (`scoring.gate.check_draft`, no prompt texts), so gate changes apply
to all alike. `samples` is the share of all samples the gate passed while drafting; `voice` a
model-free proxy (character 3-5-gram TF-IDF cosine to the nearest held-out post of the author).

Measured 2026-11-30 (SmolLM2-135M-Instruct, 1 torch thread on a shared 2-core box; seconds are
wall time under varying load, up to 3 variants at once, so compare them only loosely):

    variant              usable  rate  samples  voice  seconds  reasons
    before                8/50  0.16        -  0.108    701.5  empty 22, off_topic 17, loop 3, ...
    after                50/50  1.00     0.92  0.243    414.7
    after-no-plain       50/50  1.00     0.77  0.268   1082.1
    after-no-examples    50/50  1.00     0.67  0.193    498.1
    after-no-penalties   49/50  0.98     0.88  0.257    537.3  loop 1
    after-no-no_copy     50/50  1.00     0.86  0.252    389.6
    after-no-best_of     46/50  0.92     0.78  0.246    159.5  off_topic 2, echo 2
    after-no-ideate_off  36/50  0.72     0.56  0.195   1476.0  off_topic 14
    after+trim           50/50  1.00     0.92  0.243    828.7
    (50 real train posts)                    0.237
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "fivethirtyeight_BarackObama.csv"
HELD_OUT = 0.2  # the newest share of the author's posts: topics come from here, never examples
N_HELD_OUT_TOPICS = 5
DRAFTS_PER_TOPIC = 5
MAX_TOKENS = 96  # an X post is at most 280 characters, about 70 tokens
# The shipped example topics and the issue's own, as X topics.
X_TOPICS = [
    {"topic": "what we learned shipping v2", "audience": "a general audience"},
    {"topic": "why unit tests are the best documentation", "audience": "software developers"},
    {"topic": "one habit that made my code reviews faster", "audience": "developers"},
    {"topic": "lessons from shipping a side project in a weekend", "audience": "indie hackers"},
    {"topic": "self-hosting your own small language model", "audience": "open-source fans"},
]
LEVERS = ("plain", "examples", "penalties", "no_copy", "best_of", "ideate_off")
VARIANTS = {
    "before": None,  # the starting code path, run with the starting package
    "after": {},
    **{f"after-no-{lever}": {lever: False} for lever in LEVERS},
    "after+trim": {"trim": True},  # a sentence cut off by the token budget is dropped
}


def setup(out: Path) -> dict:
    """The sample author's posts split by time, and the 10 benchmark topics."""
    import duckdb

    from reer_pipeline.ingest.stage import stage_export
    from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts, fetch_dicts
    from reer_pipeline.program.examples import PostIndex

    out.mkdir(parents=True, exist_ok=True)
    staged = out / "sample.parquet"
    stage_export(SAMPLE, staged)
    with duckdb.connect(str(out / "warehouse.duckdb")) as con:
        build_posts(con, [staged], EngagementConfig())
        posts = fetch_dicts(
            con,
            """SELECT post_id, author, text, created_at::VARCHAR AS created_at FROM posts
            WHERE is_original AND platform = 'x' ORDER BY created_at, post_id""",
        )
    cut = int(len(posts) * (1 - HELD_OUT))
    train, held = posts[:cut], posts[cut:]
    index = PostIndex([p["text"] for p in train + held], min_df=5)  # common words, no typos
    rng = random.Random(0)
    topics = []
    for i in rng.sample(range(len(held)), len(held)):
        terms = [t for t in index.key_terms(cut + i, 5) if t.isalpha() and len(t) > 3][:3]
        if len(terms) == 3 and len(held[i]["text"].split()) >= 12:
            topics.append(
                {
                    "topic": " ".join(terms),
                    "platform": "x",
                    "audience": "a general audience",
                    "source": "held-out key terms",
                    "held_out_post_id": held[i]["post_id"],
                }
            )
        if len(topics) == N_HELD_OUT_TOPICS:
            break
    topics += [{**t, "platform": "x", "source": "topics.yaml / issue"} for t in X_TOPICS]
    data = {
        "author": posts[0]["author"],
        "train": [p["text"] for p in train],
        "held_out": [p["text"] for p in held],
        "topics": topics,
    }
    (out / "setup.json").write_text(json.dumps(data, indent=1))
    print(f"{len(train)} train posts, {len(held)} held out; topics:")
    for t in topics:
        print(f"  {t['topic']!r} ({t['source']})")
    return data


def draft(out: Path, variant: str, seed: int = 0) -> dict:
    """Draft DRAFTS_PER_TOPIC posts for each benchmark topic with `variant`; save them."""
    import reer_pipeline
    from reer_pipeline.lm.base import seed_local_models
    from reer_pipeline.lm.registry import load_lm
    from reer_pipeline.program.modules import DraftProgram, draft_candidates

    data = json.loads((out / "setup.json").read_text())
    try:
        from reer_pipeline.layout import DataLayout

        options = {"models_dir": DataLayout.from_env().models}
    except ImportError:  # the code before the storage resource reads REER_MODELS_DIR itself
        options = {}
    lm = load_lm("hf::embedded", **options)
    seed_local_models(seed)
    topics = [{k: t[k] for k in ("topic", "platform", "audience")} for t in data["topics"]]
    started = time.time()
    if VARIANTS[variant] is None:  # the starting code: positional call, as `reer draft` made it
        program = DraftProgram(n_angles=DRAFTS_PER_TOPIC)
        drafts, stats = draft_candidates(program, lm, topics, (), (), None, None, MAX_TOKENS)
    else:
        from reer_pipeline.program.modules import drafting_config
        from reer_pipeline.program.style import author_style

        program = DraftProgram(n_angles=DRAFTS_PER_TOPIC, **drafting_config(**VARIANTS[variant]))
        drafts, stats = draft_candidates(
            program,
            lm,
            topics,
            style=author_style(data["train"]),  # the author's hashtag habit, as `reer draft`
            max_tokens=MAX_TOKENS,
            author_posts=data["train"],
        )
    result = {
        "variant": variant,
        "code": str(Path(reer_pipeline.__file__).parent),
        "config": VARIANTS[variant],
        "seconds": round(time.time() - started, 1),
        "usage": lm.usage.as_dict(),
        "stats": stats,
        "drafts": [
            {k: d.get(k) for k in ("topic", "angle", "strategy", "draft", "text", "selection")}
            for d in drafts
        ],
    }
    (out / f"{variant}.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"{variant}: {len(drafts)} drafts in {result['seconds']} s")
    return result


def report(out: Path, best: int = 5, sample: int = 5, seed: int = 0) -> dict:
    """Gate every saved variant with the same gate; print usable rates and drafts to paste."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from reer_pipeline.program.modules import gate_texts

    data = json.loads((out / "setup.json").read_text())
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    vectorizer.fit(data["train"])
    held = vectorizer.transform(data["held_out"])

    def voice(texts: list[str]) -> float:
        """Mean over drafts of the cosine similarity to the nearest held-out post of the
        author (character 3-5-grams): a model-free proxy of sounding like the author."""
        sims = (vectorizer.transform(texts) @ held.T).max(axis=1).toarray().ravel()
        return float(sims.mean()) if len(texts) else 0.0

    rows = {}
    for variant in VARIANTS:
        path = out / f"{variant}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        drafts = result["drafts"]
        verdicts = []
        for t in {d["topic"] for d in drafts}:
            group = [d for d in drafts if d["topic"] == t]
            texts = [d["text"] or "" for d in group]
            for d, v in zip(group, gate_texts(texts, t, "x", data["train"]), strict=True):
                d["usable"], d["gate_reasons"] = v
                verdicts.append(v)
        usable = sum(ok for ok, _ in verdicts)
        reasons: dict[str, int] = {}
        for _, rs in verdicts:
            for r in rs:
                key = re.sub(r"[:(].*", "", r).strip()
                reasons[key] = reasons.get(key, 0) + 1
        stats = result.get("stats") or {}
        rows[variant] = {
            "usable": usable,
            "drafts": len(drafts),
            "rate": round(usable / max(1, len(drafts)), 3),
            "sample_rate": round(stats["usable_samples"] / stats["samples"], 3)
            if stats.get("samples")
            else None,
            "voice": round(voice([d["text"] or "" for d in drafts]), 3),
            "seconds": result["seconds"],
            "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        }
        if variant == os.environ.get("REER_BENCH_PASTE", "after"):
            (out / "paste.json").write_text(json.dumps(paste(drafts, best, sample, seed), indent=1))
    print(f"{'variant':20} usable  rate  samples  voice  seconds  reasons")
    for v, r in rows.items():
        sample_rate = "-" if r["sample_rate"] is None else f"{r['sample_rate']:.2f}"
        print(
            f"{v:20} {r['usable']:>2}/{r['drafts']:<3} {r['rate']:.2f}  {sample_rate:>7}  "
            f"{r['voice']:.3f}  {r['seconds']:>7}  {r['reasons']}"
        )
    real = random.Random(seed).sample(data["train"], 50)
    print(
        f"{'(50 real train posts)':20} voice {voice(real):.3f}: the level of the author's own posts"
    )
    (out / "report.json").write_text(json.dumps(rows, indent=1))
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.tracking import benchmark_record, track

    files = [out / "report.json", out / "paste.json"]
    track(benchmark_record, "drafting", {"out": out}, rows, files, root=DataLayout.from_env().root)
    return rows


def paste(drafts: list[dict], best: int = 5, sample: int = 5, seed: int = 0) -> dict:
    """Drafts to show: the `best` (usable, most on topic, then longest within one post; one per
    topic, in topic order) and `sample` picked at random from all, usable or not."""
    from reer_pipeline.scoring.topic import topic_score

    def key(d):
        text = d["text"] or ""
        return (d["usable"], topic_score(text, d["topic"]), min(len(text), 280))

    per_topic: dict[str, dict] = {}
    for d in drafts:
        if d["topic"] not in per_topic or key(d) > key(per_topic[d["topic"]]):
            per_topic[d["topic"]] = d
    ranked = sorted(per_topic.values(), key=key, reverse=True)[:best]
    return {"best": ranked, "random": random.Random(seed).sample(drafts, min(sample, len(drafts)))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["setup", "draft", "report"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/reer-bench"))
    parser.add_argument("--variant", choices=list(VARIANTS), default="after")
    args = parser.parse_args(argv)
    if args.step == "setup":
        setup(args.out)
    elif args.step == "draft":
        draft(args.out, args.variant)
    else:
        report(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
