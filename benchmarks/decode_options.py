"""Decode tok/s of the embedded model at batch 1, 8 and 32 under generation options: the current
`HFModel` default (the baseline) against fp32, eager attention, a static KV cache, `torch.compile`
of the forward (with the static cache), and llama.cpp on the shipped GGUF.

tok/s is new tokens / wall time of one `generate` call (prefill included: it is what a caller
waits for), sampled (temperature 0.8) and greedy, on chat prompts shaped like the REER drafting
prompt. Each variant runs in a child process (one torch thread unless REER_TORCH_THREADS says
otherwise, OMP_WAIT_POLICY=PASSIVE); variants alternate for `--rounds` rounds and each figure is
the median. The first call at each batch size is a warm-up, timed apart (`warm-up s`): for
`compile` it holds the compile (llama.cpp's is one short call). Greedy texts at the largest
batch are compared with the baseline's (`same`: equal texts; `sim`: mean difflib ratio).

llama.cpp needs llama-cpp-python, which is not a project dependency (it builds from source):

    CMAKE_BUILD_PARALLEL_LEVEL=1 pip install llama-cpp-python==0.3.36   # 11 min on one core

Without it the llama.cpp variants are skipped with a message. `llama.cpp` uses its high-level
API, which decodes one sequence at a time (a batch of 32 is 32 calls, timed as a whole);
`llama.cpp/batch` uses the low-level API: one `llama_decode` per step for all sequences.

    REER_MODELS_DIR=/work/models-cache REER_TORCH_THREADS=1 python benchmarks/decode_options.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Posts of the length the REER drafting prompt carries (its `y`).
POSTS = [
    "Most teams ship too late because they wait for the perfect release. Ship the smallest "
    "useful change, tell people what they can do now, and listen. The feedback is worth more "
    "than the polish.",
    "I rewrote our onboarding email three times last month. The version that worked was the "
    "shortest: one sentence about the problem, one link, one question. Replies doubled.",
    "Hiring tip: ask candidates to explain a project they are proud of to someone outside "
    "their field. You learn how they think, what they value and whether they can teach.",
    "Coffee does not make you productive. Sleep does. I tracked both for six weeks and the "
    "best days all followed eight hours in bed, not a third cup.",
]
TOPICS = [
    ("shipping small changes", "product managers", "get readers to ship smaller releases"),
    ("short onboarding emails", "startup founders", "get readers to shorten their emails"),
    ("interview questions", "engineering managers", "share a hiring habit"),
    ("sleep and focus", "remote workers", "start a conversation about rest"),
]

CHILD = r"""
import json, statistics, sys, time
variant, batches, tokens, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
prompts_all = json.loads(sys.argv[5])
out = {"tok_s": {}, "greedy_tok_s": {}, "warmup_s": {}, "greedy": []}

if variant.startswith("llama.cpp"):
    import numpy as np
    import llama_cpp
    import llama_cpp.llama_cpp as lc

    # ggml's AMX weight buffers fault (SIGILL at tileloadd) on this VM's CPU, which lists AMX
    # but cannot run it; Llama() has no argument for use_extra_bufts, so patch its defaults.
    _defaults = lc.llama_model_default_params

    def _no_extra_bufts():
        p = _defaults()
        p.use_extra_bufts = False
        return p

    lc.llama_model_default_params = _no_extra_bufts
    from reer_pipeline.lm.embedded import gguf_path
    from reer_pipeline.lm.threads import apply_thread_policy

    threads = apply_thread_policy(1, None)
    nmax = max(map(int, batches.split(",")))
    llm = llama_cpp.Llama(model_path=str(gguf_path()), n_ctx=1024, n_threads=threads,
                          n_threads_batch=threads, verbose=False)
    out["threads"] = threads

    from jinja2 import Environment

    _tpl = Environment().from_string(llm.metadata["tokenizer.chat_template"])

    def render(p):
        text = _tpl.render(messages=p, add_generation_prompt=True, bos_token="", eos_token="")
        return llm.tokenize(text.encode(), add_bos=False, special=True)

    eos = llm.token_eos()

    def one_by_one(prompts, temperature, max_tokens):
        texts, n = [], 0
        for p in prompts:
            llm.reset()  # no prefix reuse from the previous call
            r = llm.create_chat_completion(p, max_tokens=max_tokens, temperature=temperature,
                                           top_p=1.0, top_k=0, min_p=0.0, repeat_penalty=1.0,
                                           seed=int(time.time_ns() % 2**31))
            texts.append(r["choices"][0]["message"]["content"])
            n += r["usage"]["completion_tokens"]
        return texts, n

    if variant == "llama.cpp/batch":  # the high-level Llama cannot set n_seq_max
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx = cp.n_batch = 512 * nmax
        cp.n_ubatch, cp.n_seq_max, cp.kv_unified = 512, nmax, True
        cp.n_threads = cp.n_threads_batch = threads
        ctx = llama_cpp.llama_init_from_model(llm._model.model, cp)
    n_vocab = llm.n_vocab()
    rng = np.random.default_rng()

    def batched(prompts, temperature, max_tokens):
        mem = llama_cpp.llama_get_memory(ctx)
        llama_cpp.llama_memory_clear(mem, True)
        seqs = [render(p) for p in prompts]
        total = sum(map(len, seqs)) + len(seqs) * max_tokens
        batch = llama_cpp.llama_batch_init(max(total, 512), 0, len(seqs))
        try:
            def submit(items):  # items: (seq, pos, token, want_logits)
                batch.n_tokens = len(items)
                for i, (s, pos, t, want) in enumerate(items):
                    batch.token[i], batch.pos[i] = t, pos
                    batch.n_seq_id[i], batch.seq_id[i][0] = 1, s
                    batch.logits[i] = want
                if llama_cpp.llama_decode(ctx, batch) != 0:
                    raise RuntimeError("llama_decode failed")

            items = [(s, i, t, i == len(ids) - 1) for s, ids in enumerate(seqs)
                     for i, t in enumerate(ids)]
            submit(items)
            rows = [i for i, it in enumerate(items) if it[3]]
            pos = [len(ids) for ids in seqs]
            gen = [[] for _ in seqs]
            live = list(range(len(seqs)))
            for step in range(max_tokens):
                nxt = []
                for row, s in zip(rows, live):
                    lg = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, row),
                                               shape=(n_vocab,))
                    if temperature > 0:
                        z = lg.astype(np.float64) / temperature
                        pr = np.exp(z - z.max())
                        t = int(rng.choice(n_vocab, p=pr / pr.sum()))
                    else:
                        t = int(lg.argmax())
                    if t == eos:
                        continue
                    gen[s].append(t)
                    nxt.append(s)
                live = nxt
                if not live or step == max_tokens - 1:
                    break
                submit([(s, pos[s] + step, gen[s][-1], True) for s in live])
                rows = list(range(len(live)))
        finally:
            llama_cpp.llama_batch_free(batch)
        texts = [llm.detokenize(g).decode("utf-8", "replace") for g in gen]
        return texts, sum(map(len, gen))

    run = batched if variant == "llama.cpp/batch" else one_by_one
else:
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.hf import HFModel

    dtype = "float32" if variant == "fp32" else "auto"
    lm = HFModel("embedded", models_dir=DataLayout.from_env().models, dtype=dtype)
    out["threads"] = lm.threads
    out["attn"] = lm.model.config._attn_implementation
    if variant == "eager":
        lm.model.set_attn_implementation("eager")
        out["attn"] = lm.model.config._attn_implementation
    if variant in ("static", "compile"):
        lm.model.generation_config.cache_implementation = "static"
    if variant == "compile":
        from transformers import CompileConfig

        cc = CompileConfig()
        cc._compile_all_devices = True  # transformers compiles on CPU only when asked
        lm.model.generation_config.compile_config = cc

    def run(prompts, temperature, max_tokens):
        before = lm.usage.completion_tokens
        texts = lm.generate(prompts, temperature=temperature, max_tokens=max_tokens)
        return [t[0] for t in texts], lm.usage.completion_tokens - before

for b in map(int, batches.split(",")):
    prompts = [prompts_all[i % len(prompts_all)] for i in range(b)]
    t = time.perf_counter()
    if variant.startswith("llama.cpp"):  # nothing to compile: one short call pages weights in
        run(prompts[:1], 0.0, 4)
    else:  # at the timed shape, which is what `compile` compiles for
        run(prompts, 0.0, tokens)
    out["warmup_s"][b] = time.perf_counter() - t
    for key, temp in (("tok_s", 0.8), ("greedy_tok_s", 0.0)):
        rates = []
        for _ in range(repeats):
            t = time.perf_counter()
            texts, n = run(prompts, temp, tokens)
            rates.append(n / (time.perf_counter() - t))
        out[key][b] = statistics.median(rates)
    out["greedy"] = texts  # the last batch size's greedy texts
print(json.dumps(out))
"""

HF_VARIANTS = ("baseline", "fp32", "eager", "static", "compile")
LLAMA_VARIANTS = ("llama.cpp", "llama.cpp/batch")


def prompts() -> list:
    sys.path.insert(0, str(ROOT))
    from reer_pipeline.reer.search import draft_prompt, render_request

    return [
        draft_prompt(render_request("x", *topic), post)
        for topic, post in zip(TOPICS, POSTS, strict=True)
    ]


def run_child(variant: str, batches: str, tokens: int, repeats: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("REER_TORCH_THREADS", "1")
    args = [variant, batches, str(tokens), str(repeats), json.dumps(prompts())]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def similarity(a: list[str], b: list[str]) -> tuple[int, float]:
    import difflib

    pairs = list(zip(a, b, strict=True))
    same = sum(x == y for x, y in pairs)
    sim = statistics.mean(difflib.SequenceMatcher(None, x, y).ratio() for x, y in pairs)
    return same, sim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--tokens", type=int, default=48, help="new tokens per sequence")
    ap.add_argument("--repeats", type=int, default=2, help="timed calls per batch per child")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs of every variant")
    ap.add_argument("--variants", default=",".join(HF_VARIANTS + LLAMA_VARIANTS))
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if "baseline" not in variants:
        variants.insert(0, "baseline")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        skipped = [v for v in variants if v in LLAMA_VARIANTS]
        variants = [v for v in variants if v not in LLAMA_VARIANTS]
        if skipped:
            print(
                f"skipping {', '.join(skipped)}: llama-cpp-python is not installed "
                "(CMAKE_BUILD_PARALLEL_LEVEL=1 pip install llama-cpp-python==0.3.36)"
            )
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for r in range(args.rounds):
        order = variants if r % 2 == 0 else variants[::-1]
        for v in order:
            results[v].append(run_child(v, args.batches, args.tokens, args.repeats))
            print(f"round {r + 1}: {v} done", file=sys.stderr, flush=True)
    load = os.getloadavg()
    first = results["baseline"][0]
    print(
        f"cores usable: {len(os.sched_getaffinity(0))}, threads: {first['threads']}, "
        f"attention picked by default: {first['attn']}, {args.tokens} new tokens, "
        f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    batches = args.batches.split(",")
    med = {
        (v, key, b): statistics.median(r[key][b] for r in results[v])
        for v in variants
        for key in ("tok_s", "greedy_tok_s", "warmup_s")
        for b in batches
    }
    for key, title in (("tok_s", "sampled, T=0.8"), ("greedy_tok_s", "greedy")):
        heads = " ".join(f"{'b' + b + ' tok/s':>12}" for b in batches)
        print(f"\n{title}\n{'variant':<16} {heads}")
        for v in variants:
            cells = " ".join(
                f"{med[v, key, b]:>6.1f} x{med[v, key, b] / med['baseline', key, b]:<4.2f}"
                for b in batches
            )
            print(f"{v:<16} {cells}")
    heads = " ".join(f"{'b' + b:>7}" for b in batches)
    print(f"\nwarm-up s (first call at each batch) and greedy texts at b{batches[-1]} vs baseline")
    print(f"{'variant':<16} {heads}  same    sim")
    for v in variants:
        same, sim = similarity(results[v][0]["greedy"], first["greedy"])
        cells = " ".join(f"{med[v, 'warmup_s', b]:>7.1f}" for b in batches)
        print(f"{v:<16} {cells}  {same:>2}/{len(first['greedy']):<2} {sim:.3f}")
    print("each tok/s cell: median over rounds, and its ratio to the baseline (HFModel's default)")


if __name__ == "__main__":
    main()
