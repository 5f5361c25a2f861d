"""Decode tok/s of the embedded model at batch 1, 8 and 32: the thread policy against torch's
default threads, beside busy neighbours (CPU-bound processes this benchmark starts and stops).

OpenMP reads its settings once, when torch loads, so each variant runs in a child process of
this run; variants alternate for `--rounds` rounds and each figure is the median. The baseline
is torch's own default (one thread per core, OpenMP's spinning wait):
- `policy`: `lm/threads.py` for one model step at a time (cores // 1, OMP_WAIT_POLICY=PASSIVE);
- `policy/2 steps`: the same for two model steps at once (cores // 2 threads).

    REER_MODELS_DIR=/work/models-cache python benchmarks/decode.py --busy 1
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
WORDS = "ship small changes often and tell people what they can do now that they could not".split()

CHILD = """
import json, statistics, sys, time
variant, batches, tokens, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if variant == "baseline":
    import torch  # loaded before the policy: torch's default threads and OpenMP's wait
    threads = torch.get_num_threads()
else:
    threads = None
from reer_pipeline.layout import DataLayout
from reer_pipeline.lm.hf import HFModel
steps = 2 if variant == "policy/2 steps" else 1
lm = HFModel("embedded", models_dir=DataLayout.from_env().models, threads=threads,
             concurrent_steps=steps)
words = sys.argv[5].split()
out = {"threads": lm.threads, "tok_s": {}}
for b in map(int, batches.split(",")):
    prompts = [[{"role": "user", "content": f"Write a post: {' '.join(words[i % 7:])}."}]
               for i in range(b)]
    lm.generate(prompts[:1], temperature=0.0, max_tokens=4)  # warm-up
    rates = []
    for _ in range(repeats):
        before = lm.usage.completion_tokens
        t = time.perf_counter()
        lm.generate(prompts, temperature=0.8, max_tokens=tokens)
        rates.append((lm.usage.completion_tokens - before) / (time.perf_counter() - t))
    out["tok_s"][b] = statistics.median(rates)
print(json.dumps(out))
"""

VARIANTS = ("baseline", "policy", "policy/2 steps")


def run_child(variant: str, batches: str, tokens: int, repeats: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_"))}
    env.pop("REER_TORCH_THREADS", None)
    env["PYTHONPATH"] = str(ROOT)
    args = [variant, batches, str(tokens), str(repeats), " ".join(WORDS)]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--tokens", type=int, default=32, help="new tokens per sequence")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per batch per child")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs of every variant")
    ap.add_argument("--busy", type=int, default=1, help="CPU-bound neighbours to start")
    args = ap.parse_args()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        time.sleep(1)
        results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(args.rounds):
            for v in VARIANTS:
                results[v].append(run_child(v, args.batches, args.tokens, args.repeats))
    finally:
        for p in busy:
            p.kill()
            p.wait()
    load = os.getloadavg()
    print(
        f"cores usable: {len(os.sched_getaffinity(0))}, busy neighbours: {args.busy}, "
        f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    batches = args.batches.split(",")
    heads = " ".join(f"{'b' + b + ' tok/s':>11}" for b in batches)
    print(f"{'variant':<16} {'threads':>7} {heads}")
    base = {b: statistics.median(r["tok_s"][b] for r in results["baseline"]) for b in batches}
    for v in VARIANTS:
        med = {b: statistics.median(r["tok_s"][b] for r in results[v]) for b in batches}
        cells = " ".join(f"{med[b]:>6.1f} x{med[b] / base[b]:<4.2f}" for b in batches)
        print(f"{v:<16} {results[v][0]['threads']:>7} {cells}")
    print("each cell: median tok/s over rounds, and its ratio to the baseline (torch's default)")


if __name__ == "__main__":
    main()
