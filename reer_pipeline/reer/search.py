"""REER: perplexity-guided search for the reasoning trajectory z behind a post y.

Follows "Reverse-Engineered Reasoning for Open-Ended Generation" (arXiv 2509.06160): synthesize
the request x, draft z, then refine z segment by segment, keeping a rewrite only when it lowers
the score of y. Unlike the reference code, every step makes one `generate` call with
n=n_candidates and one batched `score` call whose rows share the prefix x + <think> + refined z.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from reer_pipeline import platforms
from reer_pipeline.lm.base import LanguageModel, ScoringUnsupported, seed_local_models
from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.schema import SCHEMA_VERSION
from reer_pipeline.reer.store import TraceStore, trace_id

PROMPT_VERSION = 1  # part of the config hash: changing a prompt changes every trace id
TERMINAL = (".", "!", "?", "…", '"', "'", ")", "”", "’")


@dataclass(frozen=True)
class SearchConfig:
    """Every knob of the search. Defaults follow the paper (2 candidates, 10 steps, 0.25)."""

    proposer_uri: str = "hf::embedded"
    scorer_uri: str = "hf::embedded"
    n_candidates: int = 2
    max_steps: int = 10
    threshold: float = 0.25
    clip_low: float = -2.0
    clip_high: float = 0.0
    min_segment_chars: int = 100
    max_tokens_request: int = 64
    max_tokens_draft: int = 384
    max_tokens_rewrite: int = 192
    temperature: float = 0.8
    top_p: float = 0.85
    request_temperature: float = 0.0
    seed: int = 0
    ngram_n: int = 6  # a trajectory or rewrite repeating any word n-gram more than
    ngram_max_repeats: int = 2  # this many times is degenerate
    copy_ngram_n: int = 8  # a rewrite repeating n words of the post copies instead of reasoning
    min_candidate_chars: int = 20

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def config_hash(self) -> str:
        """16 hex chars of sha256 over the config and the prompt version."""
        blob = json.dumps({"prompt_version": PROMPT_VERSION, **self.as_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# -- text utilities ------------------------------------------------------------------------------
def segment(z: str, min_chars: int = 100) -> list[str]:
    """Split on blank lines; a segment under `min_chars` is merged into the next one."""
    parts = [p.strip() for p in re.split(r"\n\s*\n", z) if p.strip()]
    if len(parts) <= 1:  # a one-block draft: fall back to single newlines (as the reference)
        parts = [p.strip() for p in z.splitlines() if p.strip()]
    out: list[str] = []
    buf: list[str] = []
    for p in parts:
        buf.append(p)
        if sum(len(b) for b in buf) >= min_chars:
            out.append("\n\n".join(buf))
            buf = []
    if buf:
        if out:
            out[-1] = "\n\n".join([out[-1], *buf])
        else:
            out.append("\n\n".join(buf))
    return out


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def repeats_ngrams(text: str, n: int, max_repeats: int) -> bool:
    counts = Counter(_ngrams(_words(text), n))
    return bool(counts) and max(counts.values()) > max_repeats


def copies_post(text: str, y: str, n: int, allowed: str = "") -> bool:
    """True if `text` repeats a run of n words of the post that `allowed` does not already hold."""
    grams = set(_ngrams(_words(y), n)) - set(_ngrams(_words(allowed), n))
    return bool(grams & set(_ngrams(_words(text), n)))


def trim_candidate(text: str, current: str) -> str:
    """Keep as many paragraphs as the segment has, and cut a sentence left unfinished."""
    k = len([p for p in re.split(r"\n\s*\n", current) if p.strip()]) or 1
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    text = "\n\n".join(paras[:k])
    if not concludes(text):
        ends = list(re.finditer(r"[.!?…][\"')\]”’]*(?=\s|$)", text))
        if ends:
            text = text[: ends[-1].end()]
    return text


def concludes(z: str) -> bool:
    """A trajectory concludes when its last line ends a sentence (not cut off by the budget)."""
    return z.rstrip().rstrip("*_` ").endswith(TERMINAL)


def _strip_tags(text: str) -> str:
    """The text of a model output without think/answer/refine wrappers or labels."""
    m = re.search(r"<refine>(.*?)(?:</refine>|$)", text, flags=re.S)
    if m:
        text = m.group(1)
    text = re.split(r"</think>|<answer>|</refine>", text)[0]
    text = re.sub(r"</?(think|replace|refine|analy[sz]e)>", "", text)
    text = re.sub(
        r"^\s*(\*\*)?(rewritten|revised|new|refined) paragraph:?(\*\*)?:?\s*", "", text, flags=re.I
    )
    return text.strip().strip('"').strip()


def clipped_score(logprobs: Sequence[float], low: float, high: float) -> float | None:
    """Negated mean of per-token logprobs clipped to [low, high]; None if nothing was scored."""
    if not logprobs:
        return None
    return -sum(min(max(lp, low), high) for lp in logprobs) / len(logprobs)


# -- prompts -------------------------------------------------------------------------------------
def _platform(p: str) -> str:
    try:
        return platforms.display_name(p)
    except ValueError:  # a platform we do not know yet still gets a readable name
        return p.capitalize()


QUESTIONS = {
    "topic": "What is this post about? Answer with a short topic of 2 to 6 words only.",
    "audience": "Who is the intended audience of this post? Answer with a few words only, "
    'like "startup founders".',
    "intent": "After reading, what should readers feel or do? Answer in one short sentence.",
}
_ANSWER_LEADS = {
    "topic": r"^(this|the) post is (mainly |mostly )?(about|on)\s+",
    "audience": r"^(the )?(intended |target )?audience( of this post)? (is|are) "
    r"(likely |probably |mainly )?",
    "intent": r"^(the )?(author|writer) wants (the )?(readers?|them|people) to\s+",
}


def request_prompts(post: PostRef) -> list[list[dict[str, str]]]:
    """One short question per field of x: small models answer these far better than a form."""
    head = f'{_platform(post.platform)} post:\n"""\n{post.text}\n"""\n\n'
    return [[{"role": "user", "content": head + q}] for q in QUESTIONS.values()]


def render_request(platform: str, topic: str, audience: str, intent: str) -> str:
    return (
        f"Write a {_platform(platform)} post about {topic} for {audience}. "
        f"Goal: {intent.rstrip('.')}."
    )


def _clean_answer(key: str, text: str) -> str | None:
    """The field value in a model's answer, or None when it is empty or echoes the question."""
    text = re.sub(r"[*_`<>\"]", "", (text.strip().splitlines() or [""])[0]).strip()
    text = re.sub(r"^(topic|audience|intent)\s*:\s*", "", text, flags=re.I)
    text = re.sub(_ANSWER_LEADS[key], "", text, flags=re.I)
    if key != "intent":
        text = re.split(r"[,;.!?(]| as | who | because ", text)[0]
    text = re.split(r"(?<=[.!?])\s", text)[0].strip().rstrip(".!").strip()
    if len(text) > 100:
        text = text[:100].rsplit(" ", 1)[0]
    low = text.lower()
    if len(_words(text)) < 1 or "feel or do" in low or "feel, or do" in low or "?" in text:
        return None
    return text


def parse_request(post: PostRef, answers: Sequence[str]) -> dict[str, Any]:
    """x from the answers to QUESTIONS; an unusable answer falls back and is recorded."""
    raw = [a if isinstance(a, str) else "" for a in answers][: len(QUESTIONS)]
    raw += [""] * (len(QUESTIONS) - len(raw))
    found = {k: v for k, a in zip(QUESTIONS, raw, strict=True) if (v := _clean_answer(k, a))}
    first = re.split(r"(?<=[.!?])\s|\n", post.text.strip())[0]
    defaults = {
        "topic": " ".join(first.split()[:8]).rstrip(".!?:") or "this",
        "audience": f"people who follow {post.author or 'the author'}",
        "intent": "get readers to engage with the idea",
    }
    x = {k: found.get(k, defaults[k]) for k in QUESTIONS}
    x["platform"] = post.platform
    x["text"] = render_request(post.platform, x["topic"], x["audience"], x["intent"])
    x["fallback"] = [k for k in QUESTIONS if k not in found]
    x["raw"] = raw
    return x


def draft_prompt(x_text: str, y: str) -> list[dict[str, str]]:
    return [
        {
            "role": "user",
            "content": (
                f"Task: {x_text}\n\nHere is the post you will write:\n{y}\n\n"
                "Before writing it, think aloud in the first person about how you will write "
                "this post: who the readers are, what the goal is, which hook to open with, how "
                "to structure it and how to end. Write 3 to 5 short paragraphs separated by "
                'blank lines, in the future tense ("I will ..."). Do not copy the post.'
            ),
        }
    ]


def rewrite_prompt(x_text: str, y: str, before: str, current: str, after: str):
    context = "\n\n".join(
        p for p in (before, f"<replace>\n{current}\n</replace>", after) if p.strip()
    )
    return [
        {
            "role": "user",
            "content": (
                f"Task: {x_text}\n\nTarget post:\n{y}\n\nThinking process:\n{context}\n\n"
                "Rewrite only the paragraph inside <replace> so that the thinking leads more "
                "naturally to the target post: add the missing reasoning step or a concrete "
                "detail, keep the first-person planning voice and its first few words, and do "
                "not copy the post. Reply with the new paragraph only."
            ),
        }
    ]


def score_prefix(x_text: str, z: str) -> str:
    """The scored text is prefix + y, i.e. x + <think>z</think><answer>y."""
    return f"{x_text}\n<think>\n{z}\n</think>\n<answer>\n"


# -- the search ----------------------------------------------------------------------------------
@dataclass
class _Meter:
    """Calls we make, plus token deltas of the models' own ledgers (each model counted once)."""

    models: list[LanguageModel]
    generate_calls: int = 0
    score_calls: int = 0
    candidates_generated: int = 0
    candidates_skipped: int = 0
    candidates_scored: int = 0
    start: dict[int, tuple[int, int, int]] = field(default_factory=dict)

    def __post_init__(self):
        uniq = {id(m): m for m in self.models}
        self.models = list(uniq.values())
        self.start = {id(m): self._ledger(m) for m in self.models}

    @staticmethod
    def _ledger(m) -> tuple[int, int, int]:
        u = getattr(m, "usage", None)
        return tuple(int(getattr(u, k, 0) or 0) for k in _TOKENS)

    def as_dict(self) -> dict[str, int]:
        delta = [0, 0, 0]
        for m in self.models:
            now = self._ledger(m)
            delta = [
                d + max(0, a - b) for d, a, b in zip(delta, now, self.start[id(m)], strict=True)
            ]
        return {
            "generate_calls": self.generate_calls,
            "score_calls": self.score_calls,
            **dict(zip(_TOKENS, delta, strict=True)),
            "candidates_generated": self.candidates_generated,
            "candidates_skipped": self.candidates_skipped,
            "candidates_scored": self.candidates_scored,
        }


_TOKENS = ("prompt_tokens", "completion_tokens", "scored_tokens")


class Search:
    """REER search for one post with a proposer and a scorer (may be the same model)."""

    def __init__(self, proposer: LanguageModel, scorer: LanguageModel, config: SearchConfig):
        if not getattr(scorer.capabilities, "score", False):
            raise ScoringUnsupported(f"{scorer.uri} cannot score text; pick another scorer_uri")
        self.proposer, self.scorer = proposer, scorer
        self.cfg = bind_models(config, proposer, scorer)
        self.meter: _Meter | None = None

    def _generate(self, prompt, n: int, temperature: float, max_tokens: int) -> list[str]:
        self.meter.generate_calls += 1
        outs = self.proposer.generate(
            [prompt], n=n, temperature=temperature, top_p=self.cfg.top_p, max_tokens=max_tokens
        )
        return [o if isinstance(o, str) else "" for o in (outs[0] if outs else [])]

    def _ask(self, prompts: list) -> list[str]:
        """One batched generate call: one short answer per prompt."""
        self.meter.generate_calls += 1
        outs = self.proposer.generate(
            prompts,
            n=1,
            temperature=self.cfg.request_temperature,
            top_p=self.cfg.top_p,
            max_tokens=self.cfg.max_tokens_request,
        )
        return [o[0] if o and isinstance(o[0], str) else "" for o in outs]

    def score_many(self, x_text: str, y: str, trajectories: list[str]) -> list[float | None]:
        """One batched score call for all trajectories; rows share the prefix x + <think>."""
        if not trajectories:
            return []
        self.meter.score_calls += 1
        self.meter.candidates_scored += len(trajectories)
        prefixes = [score_prefix(x_text, z) for z in trajectories]
        lps = self.scorer.score(prefixes, [y] * len(prefixes))
        return [clipped_score(lp, self.cfg.clip_low, self.cfg.clip_high) for lp in lps]

    def _check_candidate(self, text: str, current: str, y: str, seen: set[str]) -> str | None:
        c = self.cfg
        norm = " ".join(text.split()).lower()
        if not norm:
            return "empty"
        if len(norm) < c.min_candidate_chars:
            return "too_short"
        if sum(ch.isalpha() for ch in norm) < 0.5 * len(norm):
            return "garbage"
        if norm == " ".join(current.split()).lower():
            return "unchanged"
        if norm in seen:
            return "duplicate"
        if repeats_ngrams(text, c.ngram_n, c.ngram_max_repeats):
            return "repetitive"
        if copies_post(text, y, c.copy_ngram_n, current):
            return "copies_post"
        return None

    def run(self, post: PostRef | dict) -> dict[str, Any]:
        """Search one post; returns a trace record matching the store's schema."""
        post = PostRef.from_any(post)
        c = self.cfg
        t0 = time.perf_counter()
        self.meter = _Meter([self.proposer, self.scorer])
        seed_src = f"{c.seed}|{post.post_hash}".encode()
        seed_local_models(int(hashlib.sha256(seed_src).hexdigest()[:8], 16))
        y = post.text

        x = parse_request(post, self._ask(request_prompts(post)))
        raw_z = self._generate(draft_prompt(x["text"], y), 1, c.temperature, c.max_tokens_draft)
        z_initial = _strip_tags(raw_z[0] if raw_z else "")
        segments = segment(z_initial, c.min_segment_chars)
        refined = list(segments)
        steps: list[dict[str, Any]] = []
        score_before = None
        stop = "no_segments"
        if segments:
            score_before = self.score_many(x["text"], y, ["\n\n".join(segments)])[0]
            stop = "unscorable" if score_before is None else "segments_exhausted"
        best = score_before
        if best is not None and best < c.threshold:
            stop = "threshold"
        elif best is not None:
            for i in range(min(c.max_steps, len(segments))):
                steps.append(self._step(i, x["text"], y, refined, segments, best))
                best = steps[-1]["score_out"]
                if best < c.threshold:
                    stop = "threshold"
                    break
            else:
                if len(segments) > c.max_steps:
                    stop = "max_steps"
        trajectory = "\n\n".join(refined)
        reason = None
        if not trajectory.strip():
            reason = "empty_trajectory"
        elif best is None:
            reason = "unscorable"
        elif not concludes(trajectory):
            reason = "no_conclusion"
        elif repeats_ngrams(trajectory, c.ngram_n, c.ngram_max_repeats):
            reason = "repetitive"
        return {
            "schema_version": SCHEMA_VERSION,
            "id": trace_id(post.post_hash, c.config_hash),
            "post_hash": post.post_hash,
            "config_hash": c.config_hash,
            "post_id": post.post_id,
            "platform": post.platform,
            "author": post.author,
            "post_created_at": post.created_at,
            "engagement_pct": post.engagement_pct,
            "y": y,
            "x": x,
            "z_initial": z_initial,
            "trajectory": trajectory,
            "segments": segments,
            "score_before": score_before,
            "score_after": best,
            "steps": steps,
            "stop_reason": stop,
            "kept": reason is None,
            "rejected_reason": reason,
            "usage": self.meter.as_dict(),
            "wall_time_s": round(time.perf_counter() - t0, 4),
            "config": c.as_dict(),
            "proposer_uri": self.proposer.uri,
            "scorer_uri": self.scorer.uri,
            "created_at": datetime.now(UTC).isoformat(),
        }

    def _step(self, i, x_text, y, refined, segments, current_score) -> dict[str, Any]:
        """One left-to-right step: n rewrites of segment i, scored in one batch, best kept."""
        c = self.cfg
        before = "\n\n".join(refined[:i])
        after = "\n\n".join(segments[i + 1 :])
        prompt = rewrite_prompt(x_text, y, before, segments[i], after)
        n = c.n_candidates if c.temperature > 0 else 1  # greedy: n copies would be identical
        raw = self._generate(prompt, n, c.temperature, c.max_tokens_rewrite)
        self.meter.candidates_generated += len(raw)
        cands, seen = [], set()
        for r in raw:
            text = trim_candidate(_strip_tags(r), segments[i])
            reason = self._check_candidate(text, segments[i], y, seen)
            seen.add(" ".join(text.split()).lower())
            cands.append(
                {
                    "text": text,
                    "score": None,
                    "valid": reason is None,
                    "reason": reason,
                    "accepted": False,
                }
            )
        valid = [k for k, cd in enumerate(cands) if cd["valid"]]
        self.meter.candidates_skipped += len(cands) - len(valid)
        trajs = ["\n\n".join([*refined[:i], cands[k]["text"], *segments[i + 1 :]]) for k in valid]
        for k, s in zip(valid, self.score_many(x_text, y, trajs), strict=True):
            cands[k]["score"] = s
        scored = [k for k in valid if cands[k]["score"] is not None]
        accepted = None
        if scored:
            k = min(scored, key=lambda j: cands[j]["score"])
            if cands[k]["score"] < current_score:
                accepted = k
                cands[k]["accepted"] = True
                refined[i] = cands[k]["text"]
        score_out = cands[accepted]["score"] if accepted is not None else current_score
        return {
            "index": i,
            "segment": segments[i],
            "score_in": current_score,
            "candidates": cands,
            "accepted": accepted,
            "score_out": score_out,
        }


def _canonical(uri: str) -> str:
    from reer_pipeline.lm.registry import parse_uri

    scheme, model, base_url = parse_uri(uri)
    return "::".join(p for p in (scheme, base_url, model) if p)


def bind_models(config: SearchConfig, proposer: LanguageModel, scorer: LanguageModel):
    """`config` with the models' own URIs (e.g. `embedded` -> `hf::embedded`), so the config
    hash names the backends that really ran; a model that is not the configured one is an error.
    """
    for role, model, uri in (
        ("proposer", proposer, config.proposer_uri),
        ("scorer", scorer, config.scorer_uri),
    ):
        if _canonical(model.uri) != _canonical(uri):
            raise ValueError(f"{role} is {model.uri!r} but the config says {uri!r}")
    return replace(config, proposer_uri=proposer.uri, scorer_uri=scorer.uri)


# -- mining --------------------------------------------------------------------------------------
@dataclass
class Progress:
    i: int  # posts finished in this run (mined or failed)
    n: int  # posts this run intends to mine
    post_id: str
    status: str  # "kept", "rejected" or "failed"
    elapsed_s: float
    eta_s: float | None


@dataclass
class MineReport:
    mined: int = 0
    kept: int = 0
    rejected: int = 0
    skipped_existing: int = 0
    failed: int = 0
    stopped: str = "done"  # "done", "max_posts" or "time_limit"
    wall_time_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def mine(
    posts: Iterable[PostRef | dict],
    store: TraceStore,
    proposer: LanguageModel,
    scorer: LanguageModel,
    config: SearchConfig,
    max_posts: int | None = None,
    time_limit_s: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> MineReport:
    """Mine traces for posts that have none under this config; append each as soon as it is done.

    A kill loses at most the post in flight; a rerun skips every stored id. A post whose search
    raises is counted in `failed` (not stored, so the next run retries it).
    """
    config = bind_models(config, proposer, scorer)
    t0 = time.perf_counter()
    report = MineReport()
    todo: list[PostRef] = []
    seen: set[str] = set()
    cfg_hash = config.config_hash
    for p in posts:
        ref = PostRef.from_any(p)
        tid = trace_id(ref.post_hash, cfg_hash)
        if tid in seen or store.has(tid):
            report.skipped_existing += 1
            continue
        seen.add(tid)
        todo.append(ref)
    if max_posts is not None and len(todo) > max_posts:
        todo = todo[:max_posts]
        report.stopped = "max_posts"
    search = Search(proposer, scorer, config)
    for n_done, ref in enumerate(todo):
        if time_limit_s is not None and time.perf_counter() - t0 >= time_limit_s:
            report.stopped = "time_limit"
            break
        try:
            trace = search.run(ref)
            store.append(trace)
        except Exception as e:  # one bad post never stops the run; it is retried next time
            report.failed += 1
            report.errors.append(f"{ref.post_id}: {type(e).__name__}: {e}")
            status = "failed"
        else:
            report.mined += 1
            report.ids.append(trace["id"])
            report.kept += trace["kept"]
            report.rejected += not trace["kept"]
            status = "kept" if trace["kept"] else "rejected"
        if on_progress is not None:
            elapsed = time.perf_counter() - t0
            done = n_done + 1
            eta = elapsed / done * (len(todo) - done)
            on_progress(Progress(done, len(todo), ref.post_id, status, elapsed, eta))
    report.wall_time_s = round(time.perf_counter() - t0, 4)
    return report
