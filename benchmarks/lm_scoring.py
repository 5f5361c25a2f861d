"""Scoring throughput of the local LM backends, against a naive baseline measured in the same run.

For each backend: tokens/s of `score` at batch 1, 8 and 32 (sequences of ~256 tokens), and a
REER-shaped workload (8 candidate middles between one shared prefix and one shared 60-token
continuation). The baseline scores one sequence per call with no prefix reuse. The fraction of
this machine's matmul peak (measured here, same dtype) uses ~2 FLOPs per weight per token.
Figures are medians. Run: `.venv/bin/python benchmarks/lm_scoring.py [--backends hf-bf16,mlx]`.

`--profile` explains the gap to the peak for hf-bf16 in the REER shape: torch.profiler's self
time per op group (matmuls, attention, the rest), the rate the matmuls themselves reach, and the
peak of one matmul at the model's own shapes (tokens x 576 x 1536 is far smaller than 2048^3).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from reer_pipeline.layout import DataLayout

WORDS = (
    "the team shipped a small change that made the build twice as fast and people noticed "
    "because every review got shorter and the release notes finally read like a story about "
    "what users can do now rather than a list of tickets closed this week"
).split()


def text(seed: int, n_words: int) -> str:
    """Deterministic varied prose, starting with a unique tag so sequences share no prefix."""
    w = [WORDS[(seed * 7 + i * (seed % 5 + 1)) % len(WORDS)] for i in range(n_words)]
    return f"Note {seed}: " + " ".join(w) + "."


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def matmul_peak(dtype: str, n: int = 2048, repeats: int = 5) -> float:
    """Median FLOP/s of an n x n torch matmul in `dtype` on this machine."""
    import torch

    a = torch.randn(n, n).to(getattr(torch, dtype))
    b = torch.randn(n, n).to(getattr(torch, dtype))
    return 2 * n**3 / median_time(lambda: a @ b, repeats)


def flops_per_token(lm) -> float:
    """~2 FLOPs per decoder weight plus the output projection (tied embeddings counted once)."""
    import json
    from pathlib import Path

    c = json.loads((Path(lm.path) / "config.json").read_text())
    d, f, h = c["hidden_size"], c["intermediate_size"], c["head_dim"]
    kv = c["num_key_value_heads"] * h
    per_layer = d * c["num_attention_heads"] * h * 2 + 2 * d * kv + 3 * d * f
    return 2 * (c["num_hidden_layers"] * per_layer + d * c["vocab_size"])


def load(name: str):
    if name.startswith("hf-"):
        from reer_pipeline.lm.hf import HFModel

        dtype = {"hf-bf16": "bfloat16", "hf-fp32": "float32"}[name]
        return HFModel("embedded", dtype=dtype, models_dir=DataLayout.from_env().models)
    from reer_pipeline.lm.mlx_backend import MLXModel

    return MLXModel("embedded")


def bench_backend(
    name: str, batches: list[int], seq_words: int, prefix_words: int, repeats: int, peak: float
):
    lm = load(name)
    tok = lm.tokenizer if name.startswith("hf") else lm.tokenizer._tokenizer
    fpt = flops_per_token(lm)
    rows = []
    for b in batches:
        conts = [text(i, seq_words) for i in range(b)]
        n_tok = sum(len(tok(c)["input_ids"]) for c in conts)
        t_batch = median_time(lambda conts=conts: lm.score([""] * len(conts), conts), repeats)
        t_naive = median_time(lambda conts=conts: [lm.score([""], [c]) for c in conts], repeats)
        rows.append((f"batch {b}", n_tok, n_tok, t_batch, t_naive))
    # REER shape: one shared prefix, 8 different middles, one shared 60-token continuation.
    prefix = "Request: " + text(1000, prefix_words) + "\n<think>"
    middles = [" " + text(2000 + i, 30) + "</think><answer>" for i in range(8)]
    cont = " " + " ".join(WORDS[:50])
    prefixes = [prefix + m for m in middles]
    n_tok = sum(len(tok(p + cont)["input_ids"]) for p in prefixes)
    # the shared prefix is computed once, so the batch computes fewer tokens than it scores
    n_prefix = len(tok(prefix)["input_ids"])
    computed = n_tok - (len(prefixes) - 1) * n_prefix
    t_reer = median_time(lambda: lm.score(prefixes, [cont] * 8), repeats)
    t_naive = median_time(lambda: [lm.score([p], [cont]) for p in prefixes], repeats)
    rows.append(("REER 8x", n_tok, computed, t_reer, t_naive))
    print(f"\n{name}: matmul peak {peak / 1e12:.2f} TFLOP/s, {fpt / 1e6:.0f} MFLOP/token")
    print(
        f"{'workload':<10} {'tokens':>7} {'tok/s':>9} {'naive tok/s':>12} {'ratio':>6} {'%peak':>6}"
    )
    for label, n, computed, t, tn in rows:
        tps = n / t
        print(
            f"{label:<10} {n:>7} {tps:>9.0f} {n / tn:>12.0f} {tn / t:>6.2f} "
            f"{100 * computed / t * fpt / peak:>5.1f}%"
        )
    print("tok/s counts every scored position; %peak counts the tokens actually computed")
    return lm


GROUPS = {
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::linear"),
    "attention": ("aten::_scaled_dot_product", "aten::scaled_dot_product"),
    "softmax": ("aten::_log_softmax", "aten::_softmax"),
}


def shape_peak(lm, tokens: int, dtype: str, repeats: int = 5) -> float:
    """FLOP/s of the model's own projections (q, k/v, o, gate/up, down) on `tokens` rows."""
    import json
    from pathlib import Path

    import torch

    c = json.loads((Path(lm.path) / "config.json").read_text())
    d, f = c["hidden_size"], c["intermediate_size"]
    kv = c["num_key_value_heads"] * c["head_dim"]
    shapes = [(d, d), (d, kv), (d, kv), (d, d), (d, f), (d, f), (f, d)]
    x = {k: torch.randn(tokens, k).to(getattr(torch, dtype)) for k in (d, f)}
    w = [torch.randn(k, n).to(getattr(torch, dtype)) for k, n in shapes]
    flops = sum(2 * tokens * k * n for k, n in shapes)
    t = median_time(lambda: [x[k] @ wi for (k, _), wi in zip(shapes, w, strict=True)], repeats)
    return flops / t


def profile_reer(lm, prefix_words: int) -> None:
    """Where the time of one REER-shaped score call goes (hf-bf16), against the matmul peak
    measured again right before it (the peak of a shared machine drifts between minutes)."""
    from torch.profiler import ProfilerActivity, profile

    peak = matmul_peak("bfloat16")
    tok = lm.tokenizer
    prefix = "Request: " + text(1000, prefix_words) + "\n<think>"
    prefixes = [prefix + " " + text(2000 + i, 30) + "</think><answer>" for i in range(8)]
    cont = " " + " ".join(WORDS[:50])
    run = lambda: lm.score(prefixes, [cont] * 8)  # noqa: E731
    wall = median_time(run, 5)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    share = {g: 0.0 for g in [*GROUPS, "other"]}
    for e in prof.key_averages():
        group = next((g for g, ops in GROUPS.items() if e.key.startswith(ops)), "other")
        share[group] += e.self_cpu_time_total / total
    n_prefix = len(tok(prefix)["input_ids"])
    rows = sum(len(tok(p + cont)["input_ids"]) for p in prefixes) - 7 * n_prefix
    fpt = flops_per_token(lm)
    c = lm.model.config
    head = 2 * c.hidden_size * c.vocab_size  # computed for the 8 x ~50 scored positions only
    flops = rows * (fpt - head) + 8 * len(tok(cont)["input_ids"]) * head
    matmul_time = wall * share["matmul"]
    print(f"\nprofile, hf-bf16, REER 8x ({rows} tokens computed), {wall * 1e3:.0f} ms a call")
    print("self time: " + ", ".join(f"{g} {100 * v:.0f}%" for g, v in share.items()))
    print(f"matmul peak now {peak / 1e12:.2f} TFLOP/s (2048^3, bf16)")
    print(f"whole call: {100 * flops / wall / peak:.1f}% of the 2048^3 peak")
    print(f"matmuls alone: {100 * flops / matmul_time / peak:.1f}% of the 2048^3 peak")
    sp = shape_peak(lm, rows, "bfloat16")
    print(
        f"the model's projections alone on {rows} rows: {sp / 1e12:.2f} TFLOP/s "
        f"= {100 * sp / peak:.0f}% of the 2048^3 peak"
    )


def main() -> None:
    from reer_pipeline.lm.hf import bf16_supported

    default = "hf-bf16,hf-fp32" if bf16_supported() else "hf-fp32"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default=default, help="comma list of hf-bf16, hf-fp32, mlx")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--seq-words", type=int, default=200, help="~256 tokens per sequence")
    ap.add_argument("--prefix-words", type=int, default=150, help="REER shape's shared prefix")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="where hf-bf16's REER time goes")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    print(f"torch threads: {torch.get_num_threads()}, cpu: {os.cpu_count()} cores")
    peaks = {}
    for name in args.backends.split(","):
        dtype = "bfloat16" if name == "hf-bf16" else "float32"
        if dtype not in peaks:
            peaks[dtype] = matmul_peak(dtype)
        batches = [int(b) for b in args.batches.split(",")]
        lm = bench_backend(
            name, batches, args.seq_words, args.prefix_words, args.repeats, peaks[dtype]
        )
        if args.profile and name == "hf-bf16":
            profile_reer(lm, args.prefix_words)


if __name__ == "__main__":
    main()
