"""REER search: batched shared-prefix scoring vs the reference's one-request-per-candidate.

Runs the same search twice on the same posts in one process with the same proposer:
  batched  every step scores all candidates in ONE score call whose rows share x + <think> + prefix
  naive    a thin wrapper scores one candidate per score call, nothing shared across calls (how the
           reference code calls its vLLM server: one request per candidate)
Both use the same (prefix, continuation) split, so they score the same tokens; decoding is
deterministic (greedy, or sampling re-seeded per post from the config), so both see the same
candidates and must make the same accept/reject decisions. Prints wall times (medians over
--repeats) and ratios; scoring time is measured around the score calls of each run. A second
part re-scores the recorded candidate sets of every step both ways, repeated, to isolate scoring.

    .venv/bin/python benchmarks/reer_search.py --posts 2 --max-steps 2 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

from reer_pipeline.layout import DataLayout
from reer_pipeline.lm.base import Usage
from reer_pipeline.lm.registry import load_lm
from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.search import Search, SearchConfig, clipped_score, score_prefix

POSTS = [
    "I shipped a product nobody asked for. It died in 3 weeks.\n\nNow I talk to 10 customers "
    "before I write a line of code. What do you ask users first?",
    "Hot take: most standups should be a Slack thread.\n\nWe tried it for a month. Focus time "
    "went up and nobody missed the meetings. Would your team try it?",
    "Three things I wish I knew as a junior dev:\n\n1. Read the whole error.\n2. Ask early.\n"
    "3. Ship small, ship often.",
    "Our open source repo hit 10k stars today. Thank you all.\n\nThe next release adds offline "
    "mode, the most requested feature since day one.",
]


class TimedScorer:
    """Forwards to a model; `per_candidate=True` makes one score call per (prefix, continuation)."""

    def __init__(self, inner, per_candidate: bool):
        self.inner, self.per_candidate = inner, per_candidate
        self.uri, self.capabilities = inner.uri, inner.capabilities
        self.usage = Usage()
        self.seconds = 0.0
        self.calls = 0

    def generate(self, *args, **kwargs):
        return self.inner.generate(*args, **kwargs)

    def score(self, prefixes, continuations):
        t = time.perf_counter()
        if self.per_candidate:
            out = [
                self.inner.score([p], [c])[0] for p, c in zip(prefixes, continuations, strict=True)
            ]
            self.calls += len(prefixes)
        else:
            out = self.inner.score(prefixes, continuations)
            self.calls += 1
        self.seconds += time.perf_counter() - t
        self.usage.scored_tokens += sum(len(o) for o in out)
        return out


def decisions(trace: dict) -> list:
    return [
        (s["index"], s["accepted"], [c["text"] for c in s["candidates"]]) for s in trace["steps"]
    ]


def run(lm, posts, cfg, per_candidate: bool):
    scorer = TimedScorer(lm, per_candidate)
    search = Search(lm, scorer, cfg)
    t = time.perf_counter()
    traces = [search.run(p) for p in posts]
    return traces, time.perf_counter() - t, scorer.seconds, scorer.calls


def rescore(lm, traces, cfg, per_candidate: bool) -> tuple[float, list[list[float]]]:
    """Score every step's candidate trajectories (as the search built them) one way."""
    scorer = TimedScorer(lm, per_candidate)
    scores = []
    for tr in traces:
        x, y, refined = tr["x"]["text"], tr["y"], list(tr["segments"])
        for s in tr["steps"]:
            i = s["index"]
            trajs = [
                "\n\n".join([*refined[:i], c["text"], *tr["segments"][i + 1 :]])
                for c in s["candidates"]
                if c["valid"]
            ]
            if trajs:
                prefixes = [score_prefix(x, z) for z in trajs]
                lps = scorer.score(prefixes, [y] * len(trajs))
                scores.append([clipped_score(lp, cfg.clip_low, cfg.clip_high) for lp in lps])
            if s["accepted"] is not None:
                refined[i] = s["candidates"][s["accepted"]]["text"]
    return scorer.seconds, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uri", default="hf::embedded")
    ap.add_argument("--posts", type=int, default=2)
    ap.add_argument("--n-candidates", type=int, default=4)
    ap.add_argument("--max-steps", type=int, default=2)
    ap.add_argument("--max-tokens-draft", type=int, default=128)
    ap.add_argument("--max-tokens-rewrite", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (one candidate)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--dtype",
        default="float32",
        help="scorer dtype: float32 scores a row the same alone or in a padded batch; bfloat16 "
        "(the hf default) is faster but its batch-dependent rounding can flip near-ties",
    )
    args = ap.parse_args()

    options = {"dtype": args.dtype} if args.uri.startswith("hf::") else {}
    lm = load_lm(args.uri, models_dir=DataLayout.from_env().models, **options)
    cfg = SearchConfig(
        proposer_uri=args.uri,
        scorer_uri=args.uri,
        n_candidates=args.n_candidates,
        max_steps=args.max_steps,
        threshold=-1.0,  # never stop early: both runs walk the same number of steps
        max_tokens_request=32,
        max_tokens_draft=args.max_tokens_draft,
        max_tokens_rewrite=args.max_tokens_rewrite,
        min_segment_chars=60,
        temperature=args.temperature,
    )
    posts = [
        PostRef(f"b{i}", "linkedin", "bench", POSTS[i % len(POSTS)], "2024-01-01", 95.0)
        for i in range(args.posts)
    ]
    lm.score(["warm up"], [" the model"])
    print(
        f"model {lm!r}; {len(posts)} posts, {cfg.n_candidates} candidates, "
        f"{cfg.max_steps} steps, temperature {cfg.temperature}"
    )

    # Part 1: the whole search, both ways (generation is identical, so it is run once each).
    batched, t_b, s_b, c_b = run(lm, posts, cfg, per_candidate=False)
    naive, t_n, s_n, c_n = run(lm, posts, cfg, per_candidate=True)
    same = [decisions(a) == decisions(b) for a, b in zip(batched, naive, strict=True)]
    n_steps = sum(len(t["steps"]) for t in batched)
    n_scored = sum(t["usage"]["candidates_scored"] for t in batched)
    print(f"\nfull search: {n_steps} steps, {n_scored} trajectories scored")
    print(f"  batched: wall {t_b:8.2f}s  scoring {s_b:7.2f}s in {c_b} score calls")
    print(f"  naive  : wall {t_n:8.2f}s  scoring {s_n:7.2f}s in {c_n} score calls")
    print(f"  ratio naive/batched: wall {t_n / t_b:.2f}x  scoring {s_n / max(s_b, 1e-9):.2f}x")
    print(f"  same accept/reject decisions and candidates: {all(same)} {same}")
    for a, b in zip(batched, naive, strict=True):
        print(
            f"  post {a['post_id']}: score {a['score_before']:.4f} -> {a['score_after']:.4f}"
            f" (naive {b['score_before']:.4f} -> {b['score_after']:.4f})"
        )

    # Part 2: scoring only, repeated, on the candidate sets the batched search produced.
    tb, tn, diff = [], [], 0.0
    for _ in range(args.repeats):
        sec_b, sc_b = rescore(lm, batched, cfg, per_candidate=False)
        sec_n, sc_n = rescore(lm, batched, cfg, per_candidate=True)
        tb.append(sec_b)
        tn.append(sec_n)
        for rb, rn in zip(sc_b, sc_n, strict=True):
            diff = max(diff, *(abs(a - b) for a, b in zip(rb, rn, strict=True)))
            if min(range(len(rb)), key=rb.__getitem__) != min(range(len(rn)), key=rn.__getitem__):
                print("  warning: best candidate differs between batched and naive scoring")
    mb, mn = statistics.median(tb), statistics.median(tn)
    print(
        f"\nscoring only, median of {args.repeats}: batched {mb:.3f}s  naive {mn:.3f}s  "
        f"ratio {mn / max(mb, 1e-9):.2f}x  (max score diff {diff:.5f})"
    )
    if not all(same):
        raise SystemExit("decisions differ between batched and naive scoring")


if __name__ == "__main__":
    main()
