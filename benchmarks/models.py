"""The embedded models side by side, per role: cost and quality, with ratios to SmolLM2.

Each model of `lm/embedded.MODELS` runs in its own child processes (peak RSS is per process):
- `cost`: decode tok/s at batch 1, 8 and 32 (sampled, `--tokens` new tokens a sequence, median
  of `--repeats` calls) and scoring tok/s of a REER-shaped call (8 candidate middles between
  one shared prefix and one shared continuation: `benchmarks/lm_scoring.py`'s workload), then
  the process's peak RSS;
- `lora`: `finetune.train_adapter` with the model as base, `--lora-steps` steps of 2,048
  tokens on the sample's examples (`finetune.build_examples`): training tok/s and peak RSS;
- `quality`: the REER request x (`reer.search.request_prompts` / `parse_request`, the search's
  own settings) for the sample's 10 best posts, and `--drafts` drafts for each of `TOPICS`
  through the drafting program and the gate (`program.draft.draft_and_score`, as `reer draft`;
  scored by SmolLM2, so only the proposer differs). Every text is written to `--out` to read.

One table at the end: medians, and each figure's ratio to SmolLM2 measured in the same run. All
children use one torch thread; the machine is shared, so the load average is printed with it.

    REER_MODELS_DIR=... .venv/bin/python benchmarks/models.py --out .bench/models
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data/samples/fivethirtyeight_BarackObama.csv"
TOPICS = (
    "health care for working families",
    "climate change and clean energy jobs",
    "voting rights",
)
BASELINE = "smollm2-135m"


def uri(name: str) -> str:
    return f"hf::embedded:{name}"


def models_dir() -> Path:
    from reer_pipeline.layout import DataLayout

    return DataLayout.from_env().models


def peak_rss_mb() -> float:
    from reer_pipeline.finetune.train import peak_rss_mb

    return peak_rss_mb()


# ---- children ---------------------------------------------------------------------------------
def cost(name: str, args) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from lm_scoring import WORDS, text

    from reer_pipeline.lm.registry import load_lm

    t = time.perf_counter()
    lm = load_lm(uri(name), models_dir=models_dir())
    out = {"load_s": time.perf_counter() - t, "decode": {}}
    lm.generate(["Hello"], temperature=0.0, max_tokens=4)  # warm-up
    for b in map(int, args.batches.split(",")):
        ask = [f"Write a short post about {text(i, 6)}" for i in range(b)]
        prompts = [[{"role": "user", "content": a}] for a in ask]
        rates = []
        for _ in range(args.repeats):
            before, t = lm.usage.completion_tokens, time.perf_counter()
            lm.generate(prompts, temperature=0.8, max_tokens=args.tokens)
            rates.append((lm.usage.completion_tokens - before) / (time.perf_counter() - t))
        out["decode"][str(b)] = statistics.median(rates)
    prefix = "Request: " + text(1000, 150) + "\n<think>"
    prefixes = [prefix + " " + text(2000 + i, 30) + "</think><answer>" for i in range(8)]
    cont = " " + " ".join(WORDS[:50])
    n_tok = sum(lm.count_tokens(p + cont) for p in prefixes)
    lm.score(prefixes, [cont] * 8)  # warm-up
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        lm.score(prefixes, [cont] * 8)
        times.append(time.perf_counter() - t)
    out["score_tok_s"] = n_tok / statistics.median(times)
    out["rss_mb"] = peak_rss_mb()
    return out


def sample_warehouse(work: Path):
    """A DuckDB of the sample export's posts and top posts (the assets' SQL), built once."""
    import duckdb

    from reer_pipeline.ingest.stage import stage_export
    from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts, build_top_posts

    db = work / "warehouse.duckdb"
    if not db.exists():
        work.mkdir(parents=True, exist_ok=True)
        report = stage_export(SAMPLE, work / "export.parquet")
        assert report.error is None, report.error
        with duckdb.connect(str(work / "tmp.duckdb")) as con:
            build_posts(con, [work / "export.parquet"], EngagementConfig())
            build_top_posts(con, 0.9, 20)
        os.replace(work / "tmp.duckdb", db)
    return duckdb.connect(str(db), read_only=True)


def lora(name: str, args) -> dict:
    import tempfile

    from reer_pipeline.finetune import TrainConfig, build_examples, train_adapter
    from reer_pipeline.ingest.accounts import find_account
    from reer_pipeline.ingest.warehouse import read_account_posts

    with sample_warehouse(args.out / "warehouse") as con:
        account = find_account(con, "x")
        posts = read_account_posts(con, account.platform, account.author)
    splits = build_examples(posts)
    cfg = TrainConfig(max_steps=args.lora_steps, eval_every=10_000, save_every=10_000)
    with tempfile.TemporaryDirectory() as tmp:
        result = train_adapter(
            splits, f"embedded:{name}", Path(tmp) / "adapter", cfg, models_dir=models_dir()
        )
    card = result.card
    return {
        "lora_tok_s": card["tokens_per_s"],
        "lora_s_per_step": card["train_seconds"] / max(1, card["steps"]),
        "lora_epoch_s": epoch_tokens(name, splits, cfg) / card["tokens_per_s"],
        "lora_rss_mb": peak_rss_mb(),
    }


def epoch_tokens(name: str, splits, cfg) -> int:
    """Tokens of one epoch over the training examples, with the model's own tokenizer and
    chat template (`finetune.train.tokenize`, what training feeds it)."""
    from transformers import AutoTokenizer

    from reer_pipeline.finetune.train import tokenize
    from reer_pipeline.lm.embedded import resolve_model_path

    tok = AutoTokenizer.from_pretrained(resolve_model_path(f"embedded:{name}", models_dir()))
    return sum(len(ids) for ids, _ in tokenize(tok, splits.train, cfg.max_len)[0])


def quality(name: str, args) -> dict:
    from reer_pipeline.ingest.accounts import find_account
    from reer_pipeline.ingest.warehouse import read_top_posts
    from reer_pipeline.lm.base import seed_local_models
    from reer_pipeline.lm.registry import load_lm
    from reer_pipeline.program.context import load_context
    from reer_pipeline.program.draft import draft_and_score, make_program, make_scorer
    from reer_pipeline.reer.post import PostRef
    from reer_pipeline.reer.search import SearchConfig, parse_request, request_prompts

    lm = load_lm(uri(name), models_dir=models_dir())
    cfg = SearchConfig()
    with sample_warehouse(args.out / "warehouse") as con:
        account = find_account(con, "x")
        top = read_top_posts(con, account.platform, account.author)[: args.requests]
        ctx = load_context(con, account, args.out / "traces")
    posts = [PostRef(str(p["post_id"]), account.platform, account.author, p["text"]) for p in top]
    questions = [request_prompts(p) for p in posts]
    flat = [q for qs in questions for q in qs]
    t = time.perf_counter()
    answers = lm.generate(
        flat, temperature=cfg.request_temperature, max_tokens=cfg.max_tokens_request
    )
    request_s = time.perf_counter() - t
    requests, i = [], 0
    for p, qs in zip(posts, questions, strict=True):
        x = parse_request(p, [a[0] for a in answers[i : i + len(qs)]])
        i += len(qs)
        requests.append({"post": p.text, "request": x["text"], "fallback": x["fallback"]})
    scorer_lm = load_lm(uri(BASELINE), models_dir=models_dir())
    scorer = make_scorer(ctx, scorer_lm)
    program, _ = make_program(None, n_angles=args.drafts)
    drafts, usable, t = [], 0, time.perf_counter()
    for topic in TOPICS:
        seed_local_models(0)
        spec = {"topic": topic, "platform": account.platform, "audience": "a general audience"}
        ranked, _ = draft_and_score(program, lm, scorer, ctx, [spec], 256)
        for d, s in ranked:
            drafts.append(
                {
                    "topic": topic,
                    "text": d["text"],
                    "usable": s["usable"],
                    "reasons": s["gate_reasons"],
                    "total": round(s["total"], 3),
                }
            )
            usable += bool(s["usable"])
    draft_s = time.perf_counter() - t
    (args.out / f"quality-{name}.json").write_text(
        json.dumps({"requests": requests, "drafts": drafts}, indent=1, ensure_ascii=False)
    )
    return {
        "requests_fallback": sum(bool(r["fallback"]) for r in requests),
        "request_s": request_s,
        "drafts": len(drafts),
        "gate_usable": usable,
        "draft_s": draft_s,
    }


STAGES = {"quality": quality, "cost": cost, "lora": lora}


def run_child(stage: str, name: str, args) -> dict:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    env.setdefault("REER_TORCH_THREADS", "1")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    cmd = [sys.executable, __file__, "--child", stage, "--model", name, *sys.argv[1:]]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode:
        print(f"{stage} {name} failed:\n{p.stderr[-2000:]}", file=sys.stderr)
        return {}
    return json.loads(p.stdout.strip().splitlines()[-1])


COLUMNS = (  # (heading, stage, key, format); every column has a ratio to SmolLM2
    ("decode b1 tok/s", "cost", ("decode", "1"), "{:.1f}"),
    ("decode b8 tok/s", "cost", ("decode", "8"), "{:.1f}"),
    ("decode b32 tok/s", "cost", ("decode", "32"), "{:.1f}"),
    ("score tok/s", "cost", ("score_tok_s",), "{:.0f}"),
    ("RSS MB", "cost", ("rss_mb",), "{:.0f}"),
    ("LoRA tok/s", "lora", ("lora_tok_s",), "{:.0f}"),
    ("LoRA epoch s", "lora", ("lora_epoch_s",), "{:.0f}"),
    ("LoRA RSS MB", "lora", ("lora_rss_mb",), "{:.0f}"),
    ("gate-usable drafts", "quality", ("gate_usable",), "{:.0f}"),
    ("request fallbacks", "quality", ("requests_fallback",), "{:.0f}"),
    ("drafting s", "quality", ("draft_s",), "{:.0f}"),
)


def value(results: dict, stage: str, key: tuple):
    v = results.get(stage, {})
    for k in key:
        v = v.get(k, {}) if isinstance(v, dict) else {}
    return v if isinstance(v, (int, float)) else None


def main() -> None:
    from reer_pipeline.lm.embedded import MODELS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--out", type=Path, default=ROOT / ".bench/models")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--tokens", type=int, default=32, help="new tokens a sequence")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lora-steps", type=int, default=4)
    ap.add_argument("--requests", type=int, default=10)
    ap.add_argument("--drafts", type=int, default=10, help="drafts per topic")
    ap.add_argument("--child", choices=list(STAGES), help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(STAGES[args.child](args.model, args)))
        return
    names = args.models.split(",")
    if BASELINE not in names:
        names.insert(0, BASELINE)
    results = {n: {} for n in names}
    for stage in args.stages.split(","):
        for n in names:
            results[n][stage] = run_child(stage, n, args)
            print(f"{stage} {n}: {json.dumps(results[n][stage])}", file=sys.stderr, flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    load = os.getloadavg()
    print(
        f"one torch thread per child; load average at the end {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f} on {os.cpu_count()} cores (shared: absolute figures are noisy)"
    )
    cols = [c for c in COLUMNS if c[1] in args.stages.split(",")]
    print("| model | " + " | ".join(c[0] for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for n in names:
        cells = []
        for _, stage, key, fmt in cols:
            v, base = value(results[n], stage, key), value(results[BASELINE], stage, key)
            cell = "-" if v is None else fmt.format(v)
            if v is not None and base and n != BASELINE:
                cell += f" (x{v / base:.2f})"
            cells.append(cell)
        print(f"| {n} | " + " | ".join(cells) + " |")
    print(f"each cell: the figure, and (xN) its ratio to {BASELINE} in this run")
    if "quality" in args.stages:
        print(f"every request and draft: {args.out}/quality-<model>.json")


if __name__ == "__main__":
    main()
