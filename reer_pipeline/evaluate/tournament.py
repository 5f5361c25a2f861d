"""Tournaments: systems draft for an account's held-out requests, a judge model (any URI) and
the validated scorer compare their drafts pairwise, and the result is win rates with bootstrap
intervals and a Bradley-Terry rating.

* Held-out requests are the author model's: the newest of its test split
  (`finetune.build_examples`, the newest 20% of the originals by tuning's time split), each
  post's subject in its own words (`finetune.data.post_subject`). Drafting and the scorer see
  only posts older than that split, so no system is shown the post it is asked to write.
* A system is one entry of `SYSTEMS` (a program, a model and a generation strategy), or any
  model URI; it drafts with `program.draft.draft_and_score` like `reer draft`, and its best
  ranked draft per request enters the tournament.
* The judge sees the author's posts nearest the request and two drafts, and is asked which one
  this author would post; every pair is judged in both orders, and the two verdicts averaged
  cancel the position bias (reported: the share of pairs whose verdict flips with the order).
  The scorer judges too: the higher total wins.
"""

from __future__ import annotations

import base64
import io
import itertools
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from reer_pipeline.finetune.author import author_model_uri
from reer_pipeline.finetune.data import build_examples, post_subject
from reer_pipeline.lm.base import LanguageModel, ScoringUnsupported, seed_local_models
from reer_pipeline.optimize.store import best_program
from reer_pipeline.program.context import AuthorContext
from reer_pipeline.program.draft import draft_and_score, make_program
from reer_pipeline.program.examples import PostIndex
from reer_pipeline.program.modules import GENERATIONS, render_request
from reer_pipeline.stats import LEVEL, bootstrap_interval
from reer_pipeline.tables import Markdown, rows_table

N_REQUESTS = 20
N_EXAMPLES = 3  # the author's posts the judge is shown, nearest the request
EXAMPLE_CHARS = 280
JUDGE_BATCH = 8  # prompts per judge call (each scored twice, "A" and "B")
PRIOR = 0.5  # Bradley-Terry: virtual ties per compared pair, so a system that never won is finite
JUDGE_PROMPT = """Posts by one author:
{posts}

{request}

Draft A: {a}

Draft B: {b}

Which draft would this author post? Answer with one letter: A or B."""
ANSWER = re.compile(r"^\W*(?:draft\s*)?([AB])\b", re.IGNORECASE)


# ---- systems ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class System:
    """How a system drafts: the program (`base`, or the account's best tuned one: `tuned`), the
    model (`proposer` = proposer_lm, `adapter` = the account's author model, or a model URI) and
    the generation strategy."""

    name: str
    program: str = "base"
    model: str = "proposer"
    generation: str = "single"


SYSTEMS = {
    s.name: s
    for s in (
        System("base"),
        System("tuned", program="tuned"),
        System("adapter", model="adapter"),
        System("adapter+tuned", program="tuned", model="adapter"),
        *(System(g, generation=g) for g in GENERATIONS if g != "single"),
    )
}
DEFAULT_SYSTEMS = ("base", "tuned", "adapter", "adapter+tuned")


class Unavailable(RuntimeError):
    """The system cannot be built for this account (no tuned program, no author model)."""


def system(spec: str) -> System:
    """The `SYSTEMS` entry named `spec`, or the base program drafted by the model URI `spec`."""
    if spec in SYSTEMS:
        return SYSTEMS[spec]
    if "::" in spec or spec.split(":")[0] == "local":
        return System(spec, model=spec)
    raise ValueError(f"unknown system {spec!r}: one of {', '.join(SYSTEMS)}, or a model URI")


def build(sys_: System, paths, models, **program_config):
    """(program, the model that drafts) of `sys_` for the account at `paths`; `models` is the
    session's source of models (`session.Models`). Raises Unavailable with the reason."""
    config = {**program_config, "generation": sys_.generation}
    path = None
    if sys_.program == "tuned":
        path = best_program(paths.programs)
        if path is None:
            raise Unavailable(
                f"{sys_.name}: no tuned program that beat the base in {paths.programs}"
            )
    program, _ = make_program(path, **config)
    base = models.get("proposer_lm")
    if sys_.model == "proposer":
        return program, base
    if sys_.model == "adapter":
        uri, why = author_model_uri(paths.adapters, base.uri, models.load)
        if uri is None:
            raise Unavailable(f"{sys_.name}: {why}")
        return program, models.load(uri)
    return program, models.load(sys_.model)


# ---- held-out requests --------------------------------------------------------------------------
def heldout_topics(posts: Sequence[dict], n: int = N_REQUESTS) -> tuple[list[dict], str]:
    """The newest `n` distinct subjects of the author model's test split as drafting topics
    (with the post they come from), and the first time of that split: drafting and scoring see
    only posts older than it. `posts`: one account's rows of `posts`
    (`ingest.warehouse.read_account_posts`)."""
    splits = build_examples(posts, replies=False)
    if not splits.test:
        raise ValueError("no held-out posts: the account has too few originals")
    by_id = {str(p["post_id"]): p for p in posts}
    topics, seen = [], set()
    for e in sorted(splits.test, key=lambda e: (e.created_at, e.post_id), reverse=True):
        p = by_id[e.post_id]
        subject = post_subject(str(p["text"]), str(p["author"]))
        if subject and subject.lower() not in seen and len(topics) < n:
            seen.add(subject.lower())
            topics.append(
                {
                    "topic": subject,
                    "platform": p["platform"],
                    "audience": "a general audience",
                    "post_id": e.post_id,
                    "reference": str(p["text"]),
                }
            )
    return topics[::-1], splits.bounds["test"][0]


def context_before(ctx: AuthorContext, posts: Sequence[dict], cutoff: str) -> AuthorContext:
    """`ctx` with the author's own posts only those older than `cutoff`, newest first."""
    older = [
        str(p["text"])
        for p in reversed(posts)
        if str(p["created_at"]) < cutoff and p.get("is_original") is not False and p.get("text")
    ]
    return replace(ctx, own_texts=older)


def draft_systems(
    systems: Sequence[System],
    make: Callable[[System], tuple],
    scorer,
    ctx: AuthorContext,
    topics: Sequence[dict],
    max_tokens: int,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, list[dict]], dict[str, str], dict[str, dict]]:
    """Each system's best ranked draft per topic ({text, total, usable, gate_reasons}), the
    systems left out with why, and per system its model, usable count and drafting seconds.
    `make(system) -> (program, model)` (`build`)."""
    drafts, skipped, info = {}, {}, {}
    for i, s in enumerate(systems):
        try:
            program, lm = make(s)
        except Unavailable as e:
            skipped[s.name] = str(e)
            log(f"skipped {e}")
            continue
        seed_local_models(seed + i)  # systems that sample alike still draw their own samples
        t0 = time.perf_counter()
        ranked, _ = draft_and_score(program, lm, scorer, ctx, topics, max_tokens)
        best = {}
        for d, sc in ranked:  # best first within each topic
            best.setdefault(d["topic"], {"text": d.get("text") or "", **_verdict(sc)})
        empty = {"text": "", "total": 0.0, "usable": False, "gate_reasons": ["no draft"]}
        drafts[s.name] = [best.get(t["topic"], empty) for t in topics]
        usable = sum(d["usable"] for d in drafts[s.name])
        info[s.name] = {
            "model": lm.uri,
            "generation": s.generation,
            "usable": usable,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        log(f"{s.name}: {usable} of {len(topics)} best drafts usable ({info[s.name]})")
    return drafts, skipped, info


def _verdict(score: dict) -> dict:
    return {k: score[k] for k in ("total", "usable", "gate_reasons")}


# ---- the judge ----------------------------------------------------------------------------------
def judge_prompt(examples: Sequence[str], request: str, a: str, b: str) -> list[dict]:
    """The judge's one user message: the author's posts, the request and drafts A and B."""
    posts = "\n".join(f"- {' '.join(p.split())[:EXAMPLE_CHARS]}" for p in examples) or "- (none)"
    text = JUDGE_PROMPT.format(posts=posts, request=request, a=a or "(empty)", b=b or "(empty)")
    return [{"role": "user", "content": text}]


def parse_answer(reply: str) -> str | None:
    """ "A" or "B" when the reply starts with one (after punctuation or "Draft"), else None."""
    m = ANSWER.match(reply or "")
    return m.group(1).upper() if m else None


class PairJudge:
    """`judge_lm` choosing between drafts A and B.

    A model that can score (local backends, vLLM, Together) answers by the log-probabilities of
    "A" and "B" as its reply: P(A) = sigmoid(logp(A) - logp(B)), a clean probability from one
    batched forward pass and never a reply that does not parse. Any other model (OpenAI,
    Anthropic, a server that ignores echo) generates a short reply at temperature 0, parsed for
    a leading A or B; a reply naming neither is None (counted as unparsed)."""

    def __init__(self, lm: LanguageModel, batch: int = JUDGE_BATCH):
        self.lm = lm
        self.batch = batch
        self.method = "logprob" if lm.capabilities.score and hasattr(lm, "render") else "generate"
        self.unparsed = 0

    def prefer_first(self, prompts: Sequence[list[dict]]) -> list[float | None]:
        """P(the judge picks A) for each prompt, in batches of `batch` prompts."""
        out: list[float | None] = []
        for i in range(0, len(prompts), self.batch):
            chunk = list(prompts[i : i + self.batch])
            if self.method == "logprob":
                try:
                    out += self._by_logprob(chunk)
                    continue
                except ScoringUnsupported:
                    self.method = "generate"
            out += self._by_reply(chunk)
        return out

    def _by_logprob(self, prompts) -> list[float]:
        prefixes = [self.lm.render(p) for p in prompts]
        lps = self.lm.score(prefixes * 2, ["A"] * len(prompts) + ["B"] * len(prompts))
        n = len(prompts)
        return [1 / (1 + math.exp(sum(lps[n + k]) - sum(lps[k]))) for k in range(n)]

    def _by_reply(self, prompts) -> list[float | None]:
        replies = self.lm.generate(list(prompts), n=1, temperature=0.0, max_tokens=4)
        out = []
        for [reply] in replies:
            answer = parse_answer(reply)
            self.unparsed += answer is None
            out.append(None if answer is None else float(answer == "A"))
        return out


@dataclass(frozen=True)
class Comparison:
    """One pair of drafts for one request: `a` and `b` name the systems (or the sides)."""

    topic: int
    a: str
    b: str
    forward: float | None  # P(the judge prefers a), a shown first
    backward: float | None  # P(the judge prefers a), a shown second
    scorer: float  # 1 when a's total is higher, 0 when lower, 0.5 on a tie

    @property
    def judge(self) -> float:
        """The judge's preference for a, both orders averaged (an unparsed order left out;
        0.5 when neither parsed)."""
        seen = [p for p in (self.forward, self.backward) if p is not None]
        return float(np.mean(seen)) if seen else 0.5

    @property
    def flipped(self) -> bool | None:
        """Whether the verdict changed with the order (None unless both orders parsed)."""
        if self.forward is None or self.backward is None:
            return None
        return (self.forward > 0.5) != (self.backward > 0.5)


def outcome(preference: float) -> float:
    """A win (1), a loss (0) or a tie (0.5) from a preference for a."""
    return 1.0 if preference > 0.5 else 0.0 if preference < 0.5 else 0.5


def judge_pairs(
    judge: PairJudge,
    pairs: Sequence[tuple[int, str, str, dict, dict]],
    requests: Sequence[str],
    examples: Sequence[Sequence[str]],
) -> list[Comparison]:
    """Every pair (topic index, name a, name b, draft a, draft b) judged in both orders, in
    shared batched calls; drafts are {text, total}."""
    prompts = []
    for k, _, _, da, db in pairs:
        prompts.append(judge_prompt(examples[k], requests[k], da["text"], db["text"]))
        prompts.append(judge_prompt(examples[k], requests[k], db["text"], da["text"]))
    prefs = judge.prefer_first(prompts)
    out = []
    for i, (k, a, b, da, db) in enumerate(pairs):
        fwd, bwd = prefs[2 * i], prefs[2 * i + 1]
        out.append(
            Comparison(
                k,
                a,
                b,
                fwd,
                None if bwd is None else 1 - bwd,
                1.0 if da["total"] > db["total"] else 0.0 if da["total"] < db["total"] else 0.5,
            )
        )
    return out


def tournament(
    judge: PairJudge,
    drafts: dict[str, list[dict]],
    requests: Sequence[str],
    examples: Sequence[Sequence[str]],
) -> list[Comparison]:
    """Every pair of systems on every request, judged in both orders and by the scorer."""
    pairs = [
        (k, a, b, drafts[a][k], drafts[b][k])
        for a, b in itertools.combinations(drafts, 2)
        for k in range(len(requests))
    ]
    return judge_pairs(judge, pairs, requests, examples)


def judge_examples(ctx: AuthorContext, topics: Sequence[dict], k: int = N_EXAMPLES) -> list:
    """The author's `k` posts nearest each topic, which the judge is shown."""
    index = PostIndex(ctx.own_texts)
    return [[index.texts[i] for i, _ in index.nearest(t["topic"], k)] for t in topics]


# ---- ratings ------------------------------------------------------------------------------------
def bradley_terry(wins: np.ndarray, prior: float = PRIOR, iters: int = 10_000, tol=1e-10):
    """Bradley-Terry strengths (geometric mean 1) from `wins[i, j]`, how often i beat j (a tie
    half to each), by Hunter's MM iterations; `prior` virtual ties on each compared pair keep a
    system that never won (or never lost) finite. A system never compared is NaN."""
    wins = np.asarray(wins, float)
    games = wins + wins.T
    w = wins + prior / 2 * (games > 0)
    n = w + w.T
    seen = n.sum(1) > 0
    p = np.where(seen, 1.0, np.nan)
    for _ in range(iters):
        q = p[seen]
        denom = (n[np.ix_(seen, seen)] / (q[:, None] + q[None, :])).sum(1)
        new = w[seen].sum(1) / denom
        new /= np.exp(np.log(new).mean())
        done = np.max(np.abs(new - q)) < tol
        p[seen] = new
        if done:
            break
    return p


def elo(strengths) -> np.ndarray:
    """Bradley-Terry strengths on the Elo scale: 400 log10, centred on 0."""
    return 400 * np.log10(np.asarray(strengths, float))


def win_matrix(comparisons: Sequence[Comparison], names: Sequence[str], by: str) -> np.ndarray:
    """wins[i, j]: how often names[i] beat names[j], by "judge" or "scorer" (ties half each)."""
    idx = {n: i for i, n in enumerate(names)}
    wins = np.zeros((len(names), len(names)))
    for c in comparisons:
        o = outcome(c.judge) if by == "judge" else c.scorer
        wins[idx[c.a], idx[c.b]] += o
        wins[idx[c.b], idx[c.a]] += 1 - o
    return wins


def share(values, level: float = LEVEL) -> dict:
    """The mean of 0/1 (or 0.5) values with its bootstrap interval; n 0 gives NaN."""
    if not len(values):
        return {"value": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    v, lo, hi = bootstrap_interval(list(values), level=level)
    return {"value": round(v, 4), "low": round(lo, 4), "high": round(hi, 4), "n": len(values)}


def summarize(comparisons: Sequence[Comparison], names: Sequence[str]) -> dict:
    """Win rates (judge and scorer) with intervals and Bradley-Terry ratings per system, the
    pairwise judge win rates, the position-bias figure and the judge's agreement with the
    scorer."""
    rows = []
    rating = {
        by: elo(bradley_terry(win_matrix(comparisons, names, by))) for by in ("judge", "scorer")
    }
    for i, name in enumerate(names):
        mine = [(c, c.a == name) for c in comparisons if name in (c.a, c.b)]
        judged = [outcome(c.judge) if first else 1 - outcome(c.judge) for c, first in mine]
        scored = [c.scorer if first else 1 - c.scorer for c, first in mine]
        rows.append(
            {
                "system": name,
                "win_rate": share(judged),
                "bt": round(float(rating["judge"][i]), 1),
                "scorer_win_rate": share(scored),
                "scorer_bt": round(float(rating["scorer"][i]), 1),
            }
        )
    pairwise = {}
    for a, b in itertools.combinations(names, 2):
        cs = [c for c in comparisons if {c.a, c.b} == {a, b}]
        pairwise[f"{a} vs {b}"] = share(
            [outcome(c.judge) if c.a == a else 1 - outcome(c.judge) for c in cs]
        )
    flips = [c.flipped for c in comparisons if c.flipped is not None]
    firsts = [
        p > 0.5
        for c in comparisons
        for p in (c.forward, None if c.backward is None else 1 - c.backward)
        if p is not None
    ]
    decisive = [c for c in comparisons if outcome(c.judge) != 0.5 and c.scorer != 0.5]
    return {
        "systems": rows,
        "pairwise": pairwise,
        "position_bias": share([float(f) for f in flips]),
        "first_shown_picked": share([float(f) for f in firsts]),
        "scorer_agreement": share([float(outcome(c.judge) == c.scorer) for c in decisive]),
        "comparisons": len(comparisons),
        "judge_calls": 2 * len(comparisons),
    }


# ---- the person's decisions ---------------------------------------------------------------------
def decision_pairs(decisions: Sequence[dict], max_pairs: int = 50) -> list[tuple[str, str, str]]:
    """(topic, approved draft, rejected draft) pairs on the same topic from the review log's
    newest decision per draft (`ReviewStore.latest(account).values()`)."""
    by_topic: dict[str, dict[str, list[str]]] = {}
    for d in decisions:
        side = by_topic.setdefault(d["topic"], {"approved": [], "rejected": []})
        side[d["decision"]].append(d["drafted_text"])
    pairs = [
        (topic, a, r)
        for topic, side in by_topic.items()
        for a, r in itertools.product(side["approved"], side["rejected"])
    ]
    return pairs[:max_pairs]


def decision_agreement(
    judge: PairJudge, scorer, ctx: AuthorContext, pairs: Sequence[tuple[str, str, str]]
) -> dict | None:
    """How often the judge (both orders) and the scorer prefer the approved draft of a pair
    over the rejected one; None without pairs."""
    if not pairs:
        return None
    texts = [t for _, a, r in pairs for t in (a, r)]
    totals = [s["total"] for s in scorer.score(texts, topics=[p[0] for p in pairs for _ in (0, 1)])]
    topics = [{"topic": p[0]} for p in pairs]
    requests = [render_request(p[0], ctx.platform) for p in pairs]
    drafts = [
        (
            k,
            "approved",
            "rejected",
            {"text": a, "total": totals[2 * k]},
            {"text": r, "total": totals[2 * k + 1]},
        )
        for k, (_, a, r) in enumerate(pairs)
    ]
    comparisons = judge_pairs(judge, drafts, requests, judge_examples(ctx, topics))
    return {
        "pairs": len(pairs),
        "judge": share([outcome(c.judge) for c in comparisons]),
        "scorer": share([c.scorer for c in comparisons]),
    }


# ---- the report ---------------------------------------------------------------------------------
def fmt(s: dict) -> str:
    if not s["n"]:
        return "n/a"
    return f"{s['value']:.2f} [{s['low']:.2f}, {s['high']:.2f}]"


def table(summary: dict) -> Markdown:
    """Systems x win rate [interval], Bradley-Terry rating, by the judge and by the scorer."""
    return rows_table(
        [
            {
                "system": r["system"],
                "judge win rate": fmt(r["win_rate"]),
                "judge BT": r["bt"],
                "scorer win rate": fmt(r["scorer_win_rate"]),
                "scorer BT": r["scorer_bt"],
                "comparisons": r["win_rate"]["n"],
            }
            for r in sorted(summary["systems"], key=lambda r: -r["bt"])
        ]
    )


def plot(summary: dict, path: Path, title: str) -> str:
    """A PNG of each system's win rate with its interval, by the judge and by the scorer;
    written to `path`, returned as base64."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(summary["systems"], key=lambda r: r["bt"])
    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(rows) + 1.5), dpi=100)
    for off, key, label in ((-0.18, "win_rate", "judge"), (0.18, "scorer_win_rate", "scorer")):
        v = np.array([r[key]["value"] for r in rows], float)
        err = np.array(
            [[r[key]["value"] - r[key]["low"], r[key]["high"] - r[key]["value"]] for r in rows]
        ).T
        ax.barh(y + off, v, height=0.34, xerr=err, capsize=3, label=label)
    ax.axvline(0.5, color="gray", lw=1, ls="--")
    ax.set_yticks(y, [r["system"] for r in rows])
    ax.set_xlim(0, 1)
    ax.set_xlabel("win rate (95% bootstrap interval)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return base64.b64encode(buf.getvalue()).decode()


def run(
    ctx: AuthorContext,
    posts: Sequence[dict],
    paths,
    models,
    judge_lm: LanguageModel,
    systems: Sequence[str] = DEFAULT_SYSTEMS,
    n_requests: int = N_REQUESTS,
    max_tokens: int = 96,
    decisions: Sequence[dict] = (),
    scorer_for: Callable[[AuthorContext], object] | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
    **program_config,
) -> dict:
    """The tournament of `systems` for one account: held-out topics, drafts, both judges and
    the report (summary, Markdown table, drafts per system; the decisions' agreement when the
    review log has approved and rejected drafts on one topic). `scorer_for(ctx)`: the scorer on
    the context before the held-out period (default `program.draft.make_scorer` on
    scorer_lm and the account's engagement model)."""
    from reer_pipeline.program.draft import make_scorer

    topics, cutoff = heldout_topics(posts, n_requests)
    before = context_before(ctx, posts, cutoff)
    scorer = (
        scorer_for or (lambda c: make_scorer(c, models.get("scorer_lm"), paths.engagement_model))
    )(before)
    program_config = {"n_angles": 1, **program_config}
    drafts, skipped, info = draft_systems(
        [system(s) for s in systems],
        lambda s: build(s, paths, models, **program_config),
        scorer,
        before,
        topics,
        max_tokens,
        seed,
        log,
    )
    if len(drafts) < 2:
        raise Unavailable(f"fewer than two systems to compare: {skipped}")
    judge = PairJudge(judge_lm)
    requests = [render_request(t["topic"], t["platform"], t["audience"]) for t in topics]
    examples = judge_examples(before, topics)
    comparisons = tournament(judge, drafts, requests, examples)
    summary = summarize(comparisons, list(drafts))
    log(f"judged {len(comparisons)} pairs in both orders by {judge_lm.uri} ({judge.method})")
    return {
        "summary": summary,
        "table": table(summary),
        "skipped": skipped,
        "systems": info,
        "judge": {"uri": judge_lm.uri, "method": judge.method, "unparsed": judge.unparsed},
        "topics": [t["topic"] for t in topics],
        "cutoff": cutoff,
        "drafts": {name: [d["text"] for d in ds] for name, ds in drafts.items()},
        "comparisons": [c.__dict__ for c in comparisons],
        "decisions": decision_agreement(judge, scorer, before, decision_pairs(decisions)),
    }
