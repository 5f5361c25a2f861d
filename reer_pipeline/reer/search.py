"""REER: perplexity-guided search for the reasoning trajectory z behind a post y.

Follows "Reverse-Engineered Reasoning for Open-Ended Generation" (arXiv 2509.06160): synthesize
the request x, draft z, then refine z segment by segment, keeping a rewrite only when it lowers
the score of y. Unlike the reference code, several posts are searched in lockstep: every step
makes one `generate` call with n=n_candidates per post and one batched `score` call, whose rows
of a post share the prefix x + <think> + refined z.
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
from reer_pipeline.lm.base import (
    LanguageModel,
    ScoringUnsupported,
    sampling_kwargs,
    seed_local_models,
)
from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.schema import SCHEMA_VERSION
from reer_pipeline.reer.store import TraceStore, trace_id
from reer_pipeline.text import (
    copied_ngrams,
    cut_to_sentence,
    ends_sentence,
    first_sentence,
    grounded,
    name_words,
    paragraphs,
    request,
    split_sentences,
    subject_phrase,
    subject_text,
    word_ngrams,
    words,
)

PROMPT_VERSION = 5  # part of the config hash: changing a prompt changes every trace id


@dataclass(frozen=True)
class SearchConfig:
    """Every knob of the search. Defaults follow the paper (2 candidates, 10 steps, 0.25)."""

    proposer_uri: str = field(
        default="hf::embedded", metadata={"help": "the model that writes requests and plans"}
    )
    scorer_uri: str = field(
        default="hf::embedded", metadata={"help": "the model whose logprobs score the post"}
    )
    n_candidates: int = field(default=2, metadata={"help": "rewrites asked for per segment"})
    max_steps: int = field(default=10, metadata={"help": "segments refined at most (paper: 10)"})
    threshold: float = field(
        default=0.25, metadata={"help": "stop once the score is below this (paper: 0.25)"}
    )
    clip_low: float = field(
        default=-2.0, metadata={"help": "lower clip of each token logprob before the mean"}
    )
    clip_high: float = field(
        default=0.0, metadata={"help": "upper clip of each token logprob before the mean"}
    )
    min_segment_chars: int = field(
        default=100, metadata={"help": "a plan's paragraph shorter than this joins the next"}
    )
    max_tokens_request: int = field(
        default=64, metadata={"help": "tokens of each answer about the post's request"}
    )
    max_tokens_draft: int = field(
        default=256,
        metadata={"help": "tokens of the first plan; one cut off ends at its last sentence"},
    )
    max_tokens_rewrite: int = field(
        default=128, metadata={"help": "tokens of a rewrite (one short paragraph)"}
    )
    no_repeat_ngram_size: int = field(
        default=6, metadata={"help": "no run of this many tokens twice in one output"}
    )
    temperature: float = field(default=0.8, metadata={"help": "sampling temperature of plans"})
    top_p: float = field(default=0.85, metadata={"help": "nucleus sampling of plans"})
    request_temperature: float = field(
        default=0.0, metadata={"help": "sampling temperature of the request's answers"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the local models' sampling"})
    ngram_n: int = field(
        default=6, metadata={"help": "words of the n-grams a degenerate plan repeats"}
    )
    ngram_max_repeats: int = field(
        default=2,
        metadata={"help": "a plan or rewrite repeating an n-gram more often is degenerate"},
    )
    copy_ngram_n: int = field(
        default=8, metadata={"help": "a rewrite repeating this many words of the post copies it"}
    )
    min_candidate_chars: int = field(
        default=20, metadata={"help": "a shorter rewrite is skipped unscored"}
    )

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
    parts = paragraphs(z)
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


def repeats_ngrams(text: str, n: int, max_repeats: int) -> bool:
    """Whether a word n-gram of `text` occurs more than `max_repeats` times."""
    counts = Counter(word_ngrams(text, n))
    return bool(counts) and max(counts.values()) > max_repeats


def drop_repeats(text: str, n: int, max_repeats: int) -> str:
    """`text` without each sentence that would repeat a word n-gram more than `max_repeats`
    times counting the sentences kept before it; lines and paragraphs keep their breaks."""
    kept: list[str] = []
    out = []
    for line in text.split("\n"):
        sentences = split_sentences(line)
        keep = []
        for s in sentences:
            if not repeats_ngrams(" ".join([*kept, s]), n, max_repeats):
                kept.append(s)
                keep.append(s)
        if keep or not sentences:
            out.append(" ".join(keep))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def copies_post(text: str, y: str, n: int, allowed: str = "") -> bool:
    """True if `text` repeats a run of n words of the post that `allowed` does not already hold."""
    return bool(copied_ngrams(text, [y], n, set(word_ngrams(allowed, n))))


def trim_candidate(text: str, current: str) -> str:
    """Keep as many paragraphs as the segment has, and cut a sentence left unfinished."""
    k = len(paragraphs(current)) or 1
    return cut_to_sentence("\n\n".join(paragraphs(text)[:k]))


def concludes(z: str) -> bool:
    """A trajectory concludes when its last line ends a sentence (not cut off by the budget)."""
    return ends_sentence(z)


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
QUESTIONS = {
    "topic": "What is this post about? Answer with its subject in 2 to 6 words only, not with "
    "the kind of post.",
    "audience": "Who is the intended audience of this post? Answer with a few words only, "
    'like "startup founders".',
    "intent": "After reading, what should readers feel or do? Answer in one short sentence.",
}
_ANSWER_LEADS = {
    "topic": r"^((this|the) (post|tweet) (is )?(mainly |mostly )?(about|on|discusses)|"
    r"this is a post about|(the )?(topic|subject) of this post is)\s+",
    "audience": r"^(the )?(intended |target )?audience( of this post)? (is|are) "
    r"(likely |probably |mainly )?",
    "intent": r"^(the )?(author|writer) wants (the )?(readers?|them|people) to\s+",
}
# a subject names what the post is about, not what kind of text it is ("a fun tweet")
_FORM_LEAD = re.compile(
    r"^(an? |the )?([\w-]+ ){0,4}?(post|tweet|thread|update|message) (about|on)\s+", re.I
)
_IMPORTANCE_LEAD = re.compile(r"^the (importance|topic) of\s+", re.I)
FORM_WORDS = frozenset(
    {"post", "posts", "tweet", "tweets", "thread", "status", "update", "message", "caption"}
    | {"account", "answer", "topic", "subject"}  # an echo of the question
    | {w for p in platforms.PLATFORMS.values() for w in words(f"{p.name} {p.display}")}
)
MAX_SUBJECT_WORDS = 8  # a longer answer is a sentence, not a subject


def request_prompts(post: PostRef) -> list[list[dict[str, str]]]:
    """One short question per field of x: small models answer these far better than a form."""
    head = f'{platforms.display_name(post.platform)} post:\n"""\n{post.text}\n"""\n\n'
    return [[{"role": "user", "content": head + q}] for q in QUESTIONS.values()]


def render_request(platform: str, topic: str, audience: str, intent: str) -> str:
    """The request x in the one wording (`text.request`), the intent as its goal."""
    return request(platforms.display_name(platform), topic, audience, intent)


def _clean_answer(key: str, text: str) -> str | None:
    """The field value in a model's answer, or None when it is empty or echoes the question."""
    text = re.sub(r"[*_`<>\"]", "", (text.strip().splitlines() or [""])[0]).strip()
    text = re.sub(r"^(topic|audience|intent)\s*:\s*", "", text, flags=re.I)
    text = re.sub(_ANSWER_LEADS[key], "", text, flags=re.I)
    if key != "intent":
        text = re.split(r"[,;.!?(]| as | who | because ", text)[0]
    text = first_sentence(text).rstrip(".!").strip()
    if len(text) > 100:
        text = text[:100].rsplit(" ", 1)[0]
    low = text.lower()
    if not words(text) or "feel or do" in low or "feel, or do" in low or "?" in text:
        return None
    return text


def subject_answer(post: PostRef, answer: str | None) -> str | None:
    """The subject in the model's topic answer: without a lead about the kind of post ("a tweet
    about ..."), at most `MAX_SUBJECT_WORDS` words, no word about the form of a post, not the
    post's own first words, and every content word one of the post's prose (`text.grounded` on
    `text.subject_text`: a quote's attribution is not its subject). None when it is not such a
    subject ("a fun and lighthearted tweet", "a fictional character", "Nelson Mandela" for his
    quote)."""
    topic = _IMPORTANCE_LEAD.sub("", _FORM_LEAD.sub("", answer or "", count=1)).strip()
    said, posted = words(topic), words(post.text)
    if (
        not topic
        or len(topic.split()) > MAX_SUBJECT_WORDS
        or (FORM_WORDS - set(posted)) & set(said)
        or said == posted[: len(said)]  # an echo of the post's opening
        or not grounded(topic, subject_text(post.text), share=1.0)  # not who a quote is by
    ):
        return None
    return topic


def post_subject(post: PostRef) -> str:
    """The post's subject without a model: its keyphrase (`text.subject_phrase`, the author's
    name left out), else its first words."""
    first = " ".join(first_sentence(post.text).split()[:8]).rstrip(".!?:")
    return subject_phrase(post.text, exclude=name_words(post.author or "")) or first or "this"


def parse_request(post: PostRef, answers: Sequence[str]) -> dict[str, Any]:
    """x from the answers to QUESTIONS; an unusable answer falls back and is recorded (the
    topic to the post's own subject, `post_subject`; the audience to a general one)."""
    raw = [a if isinstance(a, str) else "" for a in answers][: len(QUESTIONS)]
    raw += [""] * (len(QUESTIONS) - len(raw))
    found = {k: v for k, a in zip(QUESTIONS, raw, strict=True) if (v := _clean_answer(k, a))}
    if (topic := subject_answer(post, found.pop("topic", None))) is not None:
        found["topic"] = topic
    defaults = {
        "topic": post_subject(post),
        "audience": "a general audience",
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
                "to structure it and how to end. Keep the plan short: 3 or 4 paragraphs of one "
                "or two sentences each, separated by blank lines, in the future tense "
                '("I will ..."). Do not copy the post.'
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
_TOKENS = ("prompt_tokens", "completion_tokens", "scored_tokens")
_COUNTS = ("generate_calls", "score_calls", *_TOKENS)
_CANDIDATES = ("candidates_generated", "candidates_skipped", "candidates_scored")


def _ledger(models: Sequence[LanguageModel]) -> list[int]:
    """The models' token counters, each distinct model counted once."""
    uniq = {id(m): m for m in models}.values()
    return [sum(int(getattr(getattr(m, "usage", None), k, 0) or 0) for m in uniq) for k in _TOKENS]


@dataclass
class _Post:
    """One post's search while it advances in lockstep with others."""

    post: PostRef
    usage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS + _CANDIDATES, 0))
    time_s: float = 0.0
    x: dict[str, Any] = field(default_factory=dict)
    z_initial: str = ""
    segments: list[str] = field(default_factory=list)
    refined: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    score_before: float | None = None
    best: float | None = None
    stop: str = "no_segments"
    n_steps: int = 0  # steps to take unless the score drops below the threshold first


class Search:
    """REER search with a proposer and a scorer (may be the same model).

    `run_many` advances several posts' searches in lockstep: each generate and score call carries
    the rows of every post still searching. Decisions are each post's own; a call's tokens and
    time are shared out to the posts in it by their rows."""

    def __init__(self, proposer: LanguageModel, scorer: LanguageModel, config: SearchConfig):
        if not getattr(scorer.capabilities, "score", False):
            raise ScoringUnsupported(f"{scorer.uri} cannot score text; pick another scorer_uri")
        self.proposer, self.scorer = proposer, scorer
        self.cfg = bind_models(config, proposer, scorer)

    def _call(self, posts: list[_Post], rows: list[int], kind: str, fn: Callable[[], Any]):
        """One model call for `posts`; its tokens and time are shared out by their `rows`."""
        models = [self.proposer, self.scorer]
        before, t0 = _ledger(models), time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        total = sum(rows) or 1
        for k, a, b in zip(_TOKENS, _ledger(models), before, strict=True):
            shares = [max(0, a - b) * r // total for r in rows]
            shares[-1] += max(0, a - b) - sum(shares)  # the rounding remainder
            for p, q in zip(posts, shares, strict=True):
                p.usage[k] += q
        for p, r in zip(posts, rows, strict=True):
            p.usage[kind] += 1
            p.time_s += dt * r / total
        return out

    def _generate(self, posts, prompts, n: int, temperature: float, max_tokens: int):
        """One generate call for every post's prompts; per post, per prompt, n completions."""
        flat = [q for qs in prompts for q in qs]
        outs = self._call(
            posts,
            [len(qs) * n for qs in prompts],
            "generate_calls",
            lambda: self.proposer.generate(
                flat,
                n=n,
                temperature=temperature,
                top_p=self.cfg.top_p,
                max_tokens=max_tokens,
                **sampling_kwargs(
                    self.proposer, {"no_repeat_ngram_size": self.cfg.no_repeat_ngram_size}
                ),
            ),
        )
        outs = [[o if isinstance(o, str) else "" for o in out or []] for out in outs]
        outs += [[]] * (len(flat) - len(outs))
        split, start = [], 0
        for qs in prompts:
            split.append(outs[start : start + len(qs)])
            start += len(qs)
        return split

    def _score(self, posts: list[_Post], trajectories: list[list[str]]):
        """One score call for every post's trajectories (a post's rows share x + <think>)."""
        prefixes, posts_text = [], []
        for p, trajs in zip(posts, trajectories, strict=True):
            prefixes += [score_prefix(p.x["text"], z) for z in trajs]
            posts_text += [p.post.text] * len(trajs)
            p.usage["candidates_scored"] += len(trajs)
        rows = [len(t) for t in trajectories]
        lps = self._call(
            posts, rows, "score_calls", lambda: self.scorer.score(prefixes, posts_text)
        )
        scores = [clipped_score(lp, self.cfg.clip_low, self.cfg.clip_high) for lp in lps]
        starts = [sum(rows[:j]) for j in range(len(rows))]
        return [scores[s : s + r] for s, r in zip(starts, rows, strict=True)]

    def _check_candidate(
        self, text: str, current: str, y: str, seen: set[str], trajectory: str
    ) -> str | None:
        """Why a rewrite of segment `current` is invalid (None: valid). `trajectory` is the whole
        trajectory with the rewrite in place: the rest of it holds no loop, so one is the
        rewrite's, alone or with its neighbours."""
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
        if repeats_ngrams(trajectory, c.ngram_n, c.ngram_max_repeats):
            return "repetitive"
        if copies_post(text, y, c.copy_ngram_n, current):
            return "copies_post"
        return None

    def run(self, post: PostRef | dict) -> dict[str, Any]:
        """Search one post; returns a trace record matching the store's schema."""
        return self.run_many([post])[0]

    def run_many(
        self,
        posts: Sequence[PostRef | dict],
        on_trace: Callable[[dict[str, Any]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Search `posts` in lockstep; each trace goes to `on_trace` as soon as its post is
        done. Returns the traces in the order of `posts`."""
        c = self.cfg
        states = [_Post(PostRef.from_any(p)) for p in posts]
        if not states:
            return []
        seed_src = "|".join([str(c.seed), *(s.post.post_hash for s in states)])
        seed_local_models(int(hashlib.sha256(seed_src.encode()).hexdigest()[:8], 16))
        traces: dict[int, dict[str, Any]] = {}

        def finish(s: _Post) -> None:
            traces[id(s)] = self._trace(s)
            if on_trace is not None:
                on_trace(traces[id(s)])

        questions = [request_prompts(s.post) for s in states]
        answers = self._generate(states, questions, 1, c.request_temperature, c.max_tokens_request)
        for s, a in zip(states, answers, strict=True):
            s.x = parse_request(s.post, [o[0] if o else "" for o in a])
        prompts = [[draft_prompt(s.x["text"], s.post.text)] for s in states]
        drafts = self._generate(states, prompts, 1, c.temperature, c.max_tokens_draft)
        for s, (d,) in zip(states, drafts, strict=True):
            s.z_initial = _strip_tags(d[0] if d else "")
            z = drop_repeats(cut_to_sentence(s.z_initial), c.ngram_n, c.ngram_max_repeats)
            s.segments = segment(z, c.min_segment_chars)
            s.refined = list(s.segments)
        scorable = [s for s in states if s.segments]
        if scorable:
            whole = [["\n\n".join(s.segments)] for s in scorable]
            for s, (score,) in zip(scorable, self._score(scorable, whole), strict=True):
                s.score_before = s.best = score
                s.stop = "unscorable" if score is None else "segments_exhausted"
                if score is not None and score < c.threshold:
                    s.stop = "threshold"
                elif score is not None:
                    s.n_steps = min(c.max_steps, len(s.segments))
        active = []
        for s in states:
            if s.n_steps:
                active.append(s)
            else:
                finish(s)
        while active:
            self._step(active)
            searching = []
            for s in active:
                if s.best < c.threshold:
                    s.stop = "threshold"
                elif len(s.steps) < s.n_steps:
                    searching.append(s)
                    continue
                elif len(s.segments) > c.max_steps:
                    s.stop = "max_steps"
                finish(s)
            active = searching
        return [traces[id(s)] for s in states]

    def _trace(self, s: _Post) -> dict[str, Any]:
        """The trace record of a finished search, matching the store's schema."""
        c, post = self.cfg, s.post
        trajectory = "\n\n".join(s.refined)
        reason = None
        if not trajectory.strip():
            reason = "empty_trajectory"
        elif s.best is None:
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
            "y": post.text,
            "x": s.x,
            "z_initial": s.z_initial,
            "trajectory": trajectory,
            "segments": s.segments,
            "score_before": s.score_before,
            "score_after": s.best,
            "steps": s.steps,
            "stop_reason": s.stop,
            "kept": reason is None,
            "rejected_reason": reason,
            "usage": dict(s.usage),
            "wall_time_s": round(s.time_s, 4),  # its share of the model calls' time
            "config": c.as_dict(),
            "proposer_uri": self.proposer.uri,
            "scorer_uri": self.scorer.uri,
            "created_at": datetime.now(UTC).isoformat(),
        }

    def _step(self, posts: list[_Post]) -> None:
        """One left-to-right step of every post: n rewrites of its next segment (one generate
        call for all posts), every valid rewrite scored (one score call), each post's best kept
        if it lowers that post's score."""
        c = self.cfg
        n = c.n_candidates if c.temperature > 0 else 1  # greedy: n copies would be identical
        prompts = []
        for s in posts:
            i = len(s.steps)
            before, after = "\n\n".join(s.refined[:i]), "\n\n".join(s.segments[i + 1 :])
            prompts.append([rewrite_prompt(s.x["text"], s.post.text, before, s.segments[i], after)])
        raws = self._generate(posts, prompts, n, c.temperature, c.max_tokens_rewrite)
        all_cands, all_trajs = [], []
        for s, (raw,) in zip(posts, raws, strict=True):
            i = len(s.steps)
            s.usage["candidates_generated"] += len(raw)
            cands, seen, trajs = [], set(), []
            head, rest = s.refined[:i], s.segments[i + 1 :]
            for r in raw:
                text = trim_candidate(_strip_tags(r), s.segments[i])
                trajectory = "\n\n".join([*head, text, *rest])
                reason = self._check_candidate(text, s.segments[i], s.post.text, seen, trajectory)
                seen.add(" ".join(text.split()).lower())
                if reason is None:
                    trajs.append(trajectory)
                cands.append(
                    {
                        "text": text,
                        "score": None,
                        "valid": reason is None,
                        "reason": reason,
                        "accepted": False,
                    }
                )
            s.usage["candidates_skipped"] += len(cands) - len(trajs)
            all_trajs.append(trajs)
            all_cands.append(cands)
        scoring = [j for j, t in enumerate(all_trajs) if t]
        if scoring:
            scores = self._score([posts[j] for j in scoring], [all_trajs[j] for j in scoring])
            for j, row in zip(scoring, scores, strict=True):
                valid = [k for k, cd in enumerate(all_cands[j]) if cd["valid"]]
                for k, score in zip(valid, row, strict=True):
                    all_cands[j][k]["score"] = score
        for s, cands in zip(posts, all_cands, strict=True):
            i = len(s.steps)
            scored = [k for k, cd in enumerate(cands) if cd["valid"] and cd["score"] is not None]
            accepted = None
            if scored:
                k = min(scored, key=lambda j: cands[j]["score"])
                if cands[k]["score"] < s.best:
                    accepted = k
                    cands[k]["accepted"] = True
                    s.refined[i] = cands[k]["text"]
            score_out = cands[accepted]["score"] if accepted is not None else s.best
            s.steps.append(
                {
                    "index": i,
                    "segment": s.segments[i],
                    "score_in": s.best,
                    "candidates": cands,
                    "accepted": accepted,
                    "score_out": score_out,
                }
            )
            s.best = score_out


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


LOCKSTEP_POSTS = 20  # posts searched at once: 94, 144, 171 traces/h at 5, 10, 20 (docs/scaling.md)


def mine(
    posts: Iterable[PostRef | dict],
    store: TraceStore,
    proposer: LanguageModel,
    scorer: LanguageModel,
    config: SearchConfig,
    *,
    max_posts: int | None = None,
    time_limit_s: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    lockstep: int = LOCKSTEP_POSTS,
) -> MineReport:
    """Mine traces for posts that have none under this config, `lockstep` posts at a time
    (`Search.run_many`); append each trace as soon as its post is done.

    `lockstep` changes speed, not the config hash: trace ids stay the same. A kill loses at most
    the posts in flight; a rerun skips every stored id. Posts of a group whose search raises are
    counted in `failed` (not stored, so the next run retries them).
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

    def done(post_id: str, status: str) -> None:
        if on_progress is not None:
            n_done = report.mined + report.failed
            elapsed = time.perf_counter() - t0
            eta = elapsed / n_done * (len(todo) - n_done)
            on_progress(Progress(n_done, len(todo), post_id, status, elapsed, eta))

    def save(trace: dict[str, Any]) -> None:
        store.append(trace)
        finished.add(trace["post_hash"])
        report.mined += 1
        report.ids.append(trace["id"])
        report.kept += trace["kept"]
        report.rejected += not trace["kept"]
        done(trace["post_id"], "kept" if trace["kept"] else "rejected")

    for start in range(0, len(todo), max(1, lockstep)):
        if time_limit_s is not None and time.perf_counter() - t0 >= time_limit_s:
            report.stopped = "time_limit"
            break
        group = todo[start : start + max(1, lockstep)]
        finished: set[str] = set()
        try:
            search.run_many(group, save)
        except Exception as e:  # one bad group never stops the run; it is retried next time
            for ref in group:
                if ref.post_hash not in finished:
                    report.failed += 1
                    report.errors.append(f"{ref.post_id}: {type(e).__name__}: {e}")
                    done(ref.post_id, "failed")
    report.wall_time_s = round(time.perf_counter() - t0, 4)
    return report
