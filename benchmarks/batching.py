"""Drafting and tuning's evaluation batched across topics, against one topic at a time.

Three ways to run the drafting program over the same topics, in one process, on the embedded
model (bf16, `REER_TORCH_THREADS` threads), each timed `--rounds` times in alternating order:

- `one_at_a_time`: `program(...)` per topic, the baseline (drafting and tuning's evaluation
  before; GEPA with `num_threads=1`);
- `draft_many`: every topic's samples in shared calls of at most `MAX_SEQUENCES` sequences
  (`draft_candidates`, `reer draft`, `optimize.tune.evaluate`);
- `dspy_threads`: `program.batch(..., num_threads=N)`, DSPy's own parallel path (Evaluate, GEPA),
  whose concurrent calls the LM adapter's micro-batcher merges.

Prints median seconds, sequences/s and the ratio to the baseline. Topics are the key terms of
the sample's newest posts; the program is tuning's (1 candidate x best of 4) or drafting's
(`--angles 2`).

    REER_TORCH_THREADS=1 python benchmarks/batching.py --topics 12 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import dspy

from reer_pipeline.layout import DataLayout
from reer_pipeline.lm.base import seed_local_models
from reer_pipeline.lm.dspy_adapter import to_dspy
from reer_pipeline.lm.registry import load_lm
from reer_pipeline.program.examples import PostIndex
from reer_pipeline.program.modules import MAX_SEQUENCES, DraftProgram

SAMPLE = Path(__file__).resolve().parent.parent / "data/samples/fivethirtyeight_BarackObama.csv"


def sample_topics(n: int) -> list[str]:
    """Three key terms of each of the sample's newest posts (read by the project's ingest)."""
    import pyarrow.parquet as pq

    from reer_pipeline.ingest.stage import stage_export

    with tempfile.TemporaryDirectory() as tmp:
        report = stage_export(SAMPLE, Path(tmp) / "sample.parquet")
        assert report.error is None, report.error
        rows = pq.read_table(Path(tmp) / "sample.parquet", columns=["text"]).to_pylist()
    texts = [r["text"] for r in rows if r["text"]]
    index = PostIndex(texts, min_df=5)  # common words, no typos
    topics = []
    for i in range(len(texts) - 1, -1, -1):
        terms = " ".join(index.key_terms(i, 3))
        if len(terms.split()) == 3 and terms not in topics:
            topics.append(terms)
        if len(topics) == n:
            break
    return topics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topics", type=int, default=12)
    ap.add_argument("--angles", type=int, default=1, help="candidates per topic")
    ap.add_argument("--best-of", type=int, default=4)
    ap.add_argument("--threads", type=int, default=8, help="DSPy threads for dspy_threads")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    lm = load_lm("hf::embedded", models_dir=DataLayout.from_env().models)
    program = DraftProgram(n_angles=args.angles, best_of=args.best_of)
    topics = sample_topics(args.topics)
    examples = [
        dspy.Example(topic=t, platform="x").with_inputs("topic", "platform") for t in topics
    ]
    dlm = to_dspy(lm, max_tokens=args.max_tokens, sampling=program.sampling)
    ways = {
        "one_at_a_time": lambda: [program(**e.inputs()) for e in examples],
        "draft_many": lambda: program.draft_many([dict(e.inputs()) for e in examples]),
        "dspy_threads": lambda: program.batch(
            examples, num_threads=args.threads, disable_progress_bar=True
        ),
    }
    times = {k: [] for k in ways}
    calls = {}
    with dspy.context(lm=dlm):
        ways["draft_many"]()  # warm up: first-call costs out of every timing
        for r in range(args.rounds):
            for name in ways if r % 2 == 0 else reversed(ways):
                seed_local_models(r)
                before, t0 = lm.usage.calls, time.perf_counter()
                preds = ways[name]()
                times[name].append(time.perf_counter() - t0)
                calls[name] = lm.usage.calls - before
                assert len(preds) == len(topics)
    sequences = len(topics) * args.angles * args.best_of
    base = statistics.median(times["one_at_a_time"])
    result = {
        "topics": len(topics),
        "sequences_per_way": sequences,
        "max_sequences_per_call": MAX_SEQUENCES,
        "threads_torch": lm.threads if hasattr(lm, "threads") else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    for name, ts in times.items():
        med = statistics.median(ts)
        result[name] = {
            "median_s": round(med, 1),
            "runs_s": [round(t, 1) for t in ts],
            "generate_calls": calls[name],
            "sequences_per_s": round(sequences / med, 2),
            "ratio_to_one_at_a_time": round(base / med, 2),
        }
        print(
            f"{name:14s} {med:7.1f} s median  {sequences / med:6.2f} sequences/s  "
            f"{calls[name]:3d} generate calls  {base / med:5.2f}x one at a time",
            flush=True,
        )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
