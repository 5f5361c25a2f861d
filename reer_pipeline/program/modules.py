"""The drafting program: ideate -> compose per angle and strategy -> package -> schedule.

Only ideate, compose and judge call the LM; packaging, the usable-draft gate and scheduling are
plain Python. Compose is written for a small model: one request in, the post as the only output
(plain text by default), a few of the author's own posts nearest the topic shown as examples,
and `best_of` samples per candidate drawn in one batched call, of which the gate picks one. A
parse failure of the model is counted in `stats` and marks its sample, never raises.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import dspy
from dspy.evaluate import normalize_text
from dspy.utils.exceptions import AdapterParseError

from reer_pipeline import platforms
from reer_pipeline.lm.base import sampling_kwargs
from reer_pipeline.lm.dspy_adapter import PlainTextAdapter
from reer_pipeline.program.cards import clean_cards
from reer_pipeline.program.examples import PostIndex
from reer_pipeline.program.package import package
from reer_pipeline.program.schedule import assign_slots
from reer_pipeline.program.signatures import Compose, Ideate, Judge
from reer_pipeline.text import cut_to_sentence, request, subject_phrase

GENERATIONS = ("single", "self_consistency", "debate", "manager_worker")
N_PARTS = 3  # manager_worker: the parts the manager plans for one post (a thread's parts)
SHAPES = ("plain", "json")  # compose's reply: the post as plain text, or JSON under a grammar
MAX_STRATEGIES = 5
MIN_SAMPLE_TEMPERATURE = 0.7  # samples and retries need randomness to differ
PLACEHOLDER = re.compile(r"\s*\{\w+\}\s*")  # a small model echoing the adapter's `{post}`
DEFAULT_CARD = {"name": "plain", "when_to_use": "any topic", "structure": "one clear point"}
# The levers of issue #12, on by default; `drafting_config` turns each off for the ablation.
N_EXAMPLES = 3  # the author's own posts nearest the topic, shown as examples
BEST_OF = 4  # samples per candidate, drawn in one batched call; the gate picks
MAX_SEQUENCES = 32  # sequences per batched compose call, across topics (docs/scaling.md)
SAMPLING = {"repetition_penalty": 1.2, "no_repeat_ngram_size": 4, "no_copy_ngram_size": 7}
TOP_P = 0.9
MIN_KEPT = 30  # characters a trimmed draft keeps at least, else it stays as it is

Scorer = Callable[[list[str]], Sequence[float]]
# (texts, topic, platform, author_posts, prompt_texts, facts) -> [(usable, reasons)] per text
Gate = Callable[
    [list[str], str, str, Sequence[str], Sequence[str], Sequence[str]], list[tuple[bool, list[str]]]
]


def drafting_config(
    plain: bool = True,
    examples: bool = True,
    penalties: bool = True,
    best_of: bool = True,
    ideate_off: bool = True,
    no_copy: bool = True,
    trim: bool = False,
) -> dict:
    """`DraftProgram` keyword arguments with each lever of the drafting benchmark on or off."""
    return {
        "shape": "plain" if plain else "json",
        "n_examples": N_EXAMPLES if examples else 0,
        "sampling": {
            k: v
            for k, v in SAMPLING.items()
            if (penalties or k == "no_copy_ngram_size") and (no_copy or k != "no_copy_ngram_size")
        },
        "best_of": BEST_OF if best_of else 1,
        "ideate": not ideate_off,
        "trim": trim,
    }


def gate_texts(
    texts: Sequence[str],
    topic: str,
    platform: str,
    author_posts: Sequence[str] = (),
    prompt_texts: Sequence[str] = (),
    facts: Sequence[str] = (),
) -> list[tuple[bool, list[str]]]:
    """(usable, reasons) of each packaged draft by the project's usable-draft gate
    (`scoring.gate.check_draft`), the author's posts indexed once. `facts`: the topic's facts
    and links, what a draft may assert besides the author's posts."""
    from reer_pipeline.scoring.gate import AuthorIndex, check_draft

    index = AuthorIndex.of(list(author_posts))
    results = [check_draft(t, platform, topic, index, prompt_texts, facts) for t in texts]
    return [(r.usable, list(r.reasons)) for r in results]


def render_request(subject: str, platform: str, audience: str = "") -> str:
    """The compose request (`text.request`): what to write about, where, for whom."""
    return request(platforms.display_name(platform), subject, audience)


def _post_ids(traces) -> list:
    """Distinct post ids of the traces, in order."""
    return list(dict.fromkeys(t["post_id"] for t in traces if t and t.get("post_id")))


def _describe(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:200] if lines else ''}"


def _blank(text: str) -> bool:
    return not text.strip() or bool(PLACEHOLDER.fullmatch(text))


def _counts() -> dict:
    return {"calls": 0, "parse_failures": 0, "empty_outputs": 0}


def _new_stats(generation: str) -> dict:
    return {
        "generation": generation,
        **_counts(),
        "candidates": 0,
        "schema_valid": 0,
        "usable": 0,
        "samples": 0,
        "usable_samples": 0,
        "cards_replaced": 0,
        "gate_reasons": {},
        "by_predictor": {n: _counts() for n in ("ideate", "compose", "judge")},
        "by_strategy": {},
    }


def merge_stats(total: dict | None, stats: dict) -> dict:
    """Add `stats` into `total`: counts summed, nested dicts merged, differing labels 'mixed'."""
    total = {} if total is None else total
    for k, v in stats.items():
        if isinstance(v, dict):
            total[k] = merge_stats(total.get(k), v)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            total[k] = total.get(k, 0) + v
        else:
            total[k] = v if total.get(k) in (None, v) else "mixed"
    return total


def _json_grammar(signature, max_tokens: int) -> str:
    """The llguidance grammar of the JSON object of `signature`'s outputs."""
    from dspy.adapters.json_adapter import _get_structured_outputs_response_format

    from reer_pipeline.lm.constrained import json_schema_grammar
    from reer_pipeline.lm.dspy_adapter import bound_schema

    schema = _get_structured_outputs_response_format(signature).model_json_schema()
    return json_schema_grammar(bound_schema(schema, max_tokens))


@dataclass(frozen=True)
class AnglePlan:
    """One planned candidate: its angle, where the angle came from, its strategy card, the
    example trace of that card, the demos shown to compose and compose's request."""

    angle: str
    source: str
    card: dict
    example: dict | None
    demos: list[dict]
    request: str


@dataclass(frozen=True)
class Plan:
    """What `_plan` prepares for one topic; `ctx` and `stats` fill in while drafting."""

    ctx: dict
    angles: list[AnglePlan]
    cards: list[dict]
    stats: dict


class DraftProgram(dspy.Module):
    """Draft posts for one topic in the author's voice, with a per-run generation strategy.

    generation: 'single' (per angle, the best of `best_of` samples), 'self_consistency'
    (`n_samples` samples, picked among the usable ones by `scorer(texts) -> scores` or by
    majority vote over normalized text) or 'debate' (two drafters at `debate_temperatures` with
    different strategies; the Judge picks) or 'manager_worker' (the manager, Ideate, plans the
    parts of the post, a worker, Compose, writes each, and the parts joined are the draft: a
    thread where the platform threads). Predictors are named `ideate`, `compose` and `judge`
    whatever the strategy, so a saved program loads into any.

    shape: 'plain' (compose replies with the post as plain text) or 'json' (a one-field JSON
    object, under a grammar on local models). n_examples: the author's posts nearest the topic
    shown as examples. sampling: repetition_penalty / no_repeat_ngram_size for local backends.
    ideate: whether angles come from the Ideate predictor (else every candidate is on the
    topic itself, and samples differ by sampling). gate: `(texts, topic, platform, author_posts,
    prompt_texts, facts) -> [(usable, reasons)]`, default the project's gate (`gate_texts`);
    False counts every non-empty draft usable.
    """

    def __init__(
        self,
        generation: str = "single",
        n_angles: int = 2,
        n_samples: int = 3,
        temperature: float = 0.7,
        debate_temperatures: tuple[float, float] = (0.3, 1.0),
        scorer: Scorer | None = None,
        retries: int = 1,
        shape: str = "plain",
        n_examples: int = N_EXAMPLES,
        best_of: int = BEST_OF,
        sampling: dict | None = None,
        ideate: bool = False,
        top_p: float = TOP_P,
        gate: Gate | bool | None = None,
        trim: bool = False,
    ):
        super().__init__()
        if generation not in GENERATIONS:
            raise ValueError(f"generation must be one of {GENERATIONS}, got {generation!r}")
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
        self.ideate = dspy.Predict(Ideate)
        self.compose = dspy.Predict(Compose)
        self.judge = dspy.Predict(Judge)
        self.generation = generation
        self.n_angles = max(1, n_angles)
        self.n_samples = max(1, n_samples)
        self.temperature = temperature
        self.debate_temperatures = tuple(debate_temperatures)
        self.scorer = scorer
        self.retries = max(0, retries)
        self.shape = shape
        self.n_examples = max(0, n_examples)
        self.best_of = max(1, best_of)
        self.sampling = dict(SAMPLING if sampling is None else sampling)
        self.use_ideate = ideate
        self.top_p = top_p
        self.trim = trim
        self.gate = gate_texts if gate is None or gate is True else (gate or None)
        self._index: tuple[tuple, PostIndex] | None = None

    # ---- LM calls ---------------------------------------------------------------------------
    def _adapter(self):
        return PlainTextAdapter() if self.shape == "plain" else dspy.JSONAdapter()

    def _call(self, name: str, stats: dict, temperature: float, tag=None, rollout=None, **kw):
        """(prediction, None) or (None, error) of one predictor call, in the program's shape.
        Parse failures and empty outputs are retried, counted, never raised."""
        counters = [stats, stats["by_predictor"][name]]
        if tag is not None:
            counters.append(stats["by_strategy"].setdefault(tag, _counts()))
        adapter = dspy.JSONAdapter() if name == "judge" else self._adapter()
        error = None
        for attempt in range(self.retries + 1):
            config = {"temperature": temperature}
            if attempt:  # a retry samples, so that it can differ
                config["temperature"] = max(temperature, MIN_SAMPLE_TEMPERATURE)
            if rollout is not None or attempt:  # distinct samples, even from a caching LM
                config["rollout_id"] = (rollout or 0) * (self.retries + 1) + attempt
            for c in counters:
                c["calls"] += 1
            try:
                with dspy.context(adapter=adapter):
                    pred = getattr(self, name)(**kw, config=config)
            except AdapterParseError as e:
                error, kind = _describe(e), "parse_failures"
            else:
                empty = [
                    k
                    for k, v in pred.items()
                    if (isinstance(v, str) and _blank(v)) or (isinstance(v, list) and not v)
                ]
                if not empty:
                    return pred, None
                error, kind = f"empty output: {', '.join(empty)}", "empty_outputs"
            for c in counters:
                c[kind] += 1
        return None, error

    def _sample_compose(
        self, requests: list[tuple[dict, list[dict]]], n: int, temperature: float, stats, tags
    ) -> list[list[tuple[str, str | None]]]:
        """n (post, error) samples of compose for each (inputs, demos), in one batched
        `generate` when the LM is one of ours, else one call per request. `stats` and `tags`:
        the stats each request counts into, and its strategy's name."""
        from reer_pipeline.lm.dspy_adapter import protocol_engine

        adapter, signature = self._adapter(), self.compose.signature
        demos = [list(self.compose.demos) + d for _, d in requests]
        prompts = [
            adapter.format(signature, d, inputs)
            for (inputs, _), d in zip(requests, demos, strict=True)
        ]
        lm = self.compose.lm or dspy.settings.lm
        engine = protocol_engine(lm)
        max_tokens = (getattr(lm, "kwargs", None) or {}).get("max_tokens") or 256
        cfg = {"temperature": temperature, "max_tokens": max_tokens}
        if engine is not None:
            extra = {"top_p": self.top_p} if temperature > 0 else {}
            if self.shape == "json" and engine.constrain:
                extra["grammar"] = _json_grammar(signature, max_tokens)
            off = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "no_copy_ngram_size": 0}
            extra.update(sampling_kwargs(engine.lm, {**off, **self.sampling}))
            raw = engine.generate_batch(prompts, n=n, **cfg, **extra)
        else:  # a dspy.LM of a cloud provider: its own n per request
            raw = [[_text_of(o) for o in lm(messages=p, n=n, **cfg)] for p in prompts]
        out = []
        for texts, st, tag in zip(raw, stats, tags, strict=True):
            counters = [st, st["by_predictor"]["compose"]]
            counters.append(st["by_strategy"].setdefault(tag, _counts()))
            samples = []
            for text in texts:
                for c in counters:
                    c["calls"] += 1
                try:
                    post = str(adapter.parse(signature, text).get("post") or "")
                    if self.trim and _hit_budget(text, max_tokens, engine):
                        post = cut_to_sentence(post, MIN_KEPT)
                except (AdapterParseError, ValueError) as e:
                    post, error, kind = "", _describe(e), "parse_failures"
                else:
                    error, kind = None, None
                    if _blank(post):
                        error, kind = "empty output: post", "empty_outputs"
                if kind:
                    for c in counters:
                        c[kind] += 1
                samples.append((post, error))
            out.append(samples)
        return out

    # ---- inputs ---------------------------------------------------------------------------
    def _post_index(self, posts: Sequence[str]) -> PostIndex | None:
        """The TF-IDF index of the author's posts, fit once per list of posts."""
        if not posts or not self.n_examples:
            return None
        key = (len(posts), hash(tuple(posts[:3])), hash(tuple(posts[-3:])))
        if self._index is None or self._index[0] != key:
            self._index = (key, PostIndex(posts))
        return self._index[1]

    def _demos(self, index: PostIndex | None, subject: str, platform: str) -> list[dict]:
        """The author's posts nearest `subject` as compose demos: each post under the request
        drafting makes, for the post's own subject (`text.subject_phrase`)."""
        if index is None:
            return []
        demos = []
        for i, _ in reversed(index.nearest(subject, self.n_examples)):  # nearest shown last
            text = index.texts[i]
            topic = subject_phrase(text) or "this"
            demos.append({"request": render_request(topic, platform), "post": text})
        return demos

    def _angles(self, topic, platform, audience, stats) -> list[tuple[str, str]]:
        """(angle, source) pairs: ideated angles, padded with the topic itself."""
        if not self.use_ideate:
            return [(topic, "topic")] * self.n_angles
        request = render_request(topic, platform, audience) + (
            f" Give {self.n_angles} different angles."
        )
        pred, _ = self._call("ideate", stats, self.temperature, request=request)
        seen, angles = set(), []
        for a in (pred.angles if pred else None) or []:
            key = normalize_text(str(a))
            if key and key not in seen:
                seen.add(key)
                angles.append((str(a).strip(), "ideate"))
        angles = angles[: self.n_angles]
        return angles + [(topic, "fallback")] * (self.n_angles - len(angles))

    # ---- candidates -----------------------------------------------------------------------
    def _candidate(self, ctx, planned: AnglePlan, temperature, post, error) -> dict:
        packed = package(post, ctx["platform"], ctx["style"], ctx["topic"], ctx["links"])
        card = planned.card
        return {
            "topic": ctx["topic"],
            "platform": ctx["platform"],
            "audience": ctx["audience"],
            "facts": list(ctx.get("facts", ())),  # what the scorer's gate may count as support
            "angle": planned.angle,
            "strategy": card.get("name", "strategy"),
            "strategy_post_ids": list(card.get("source_post_ids") or []),
            "trajectory_post_ids": _post_ids([*ctx["shown"], planned.example]),
            "generation": self.generation,
            "temperature": temperature,
            "draft": post,
            **packed,
            "parse_ok": error is None,
            "error": error,
            "usable": False,
            "gate_reasons": [],
            "selection": {"method": "single"},
            "slot": None,
        }

    def _verdicts(self, ctx, texts: list[str]) -> list[tuple[bool, list[str]]]:
        if self.gate is None:
            return [(bool(t.strip()), [] if t.strip() else ["empty"]) for t in texts]
        return self.gate(
            texts,
            ctx["topic"],
            ctx["platform"],
            ctx["author_posts"],
            ctx["prompt_texts"],
            ctx.get("facts", ()),
        )

    def _pick(self, ctx, groups: list[list[dict]], stats) -> list[dict]:
        """One candidate per group of samples: a usable one (by the gate) where there is one,
        then the scorer's or the majority's choice, distinct across groups where possible."""
        flat = [c for g in groups for c in g]
        verdicts = self._verdicts(ctx, [c["text"] for c in flat])
        for c, (ok, reasons) in zip(flat, verdicts, strict=True):
            c["usable"] = bool(ok and c["parse_ok"])
            c["gate_reasons"] = list(reasons) if c["parse_ok"] else ["parse failure", *reasons]
        stats["samples"] += len(flat)
        stats["usable_samples"] += sum(c["usable"] for c in flat)
        scores = None
        if self.scorer is not None and flat:
            scores = [float(s) for s in self.scorer([c["text"] for c in flat])]
        score_of = {id(c): s for c, s in zip(flat, scores or [0.0] * len(flat), strict=True)}
        votes = Counter(normalize_text(c["text"]) for c in flat if c["usable"])
        taken, picked = set(), []
        for g in groups:

            def rank(c):
                key = normalize_text(c["text"])
                return (
                    c["usable"],
                    key not in taken,
                    c["parse_ok"],
                    score_of[id(c)],
                    votes.get(key, 0),
                    -len(c["gate_reasons"]),
                )

            best = max(g, key=rank)  # max keeps the first of equals: the first sample
            taken.add(normalize_text(best["text"]))
            method = "scorer" if scores is not None else "gate"
            if self.generation == "self_consistency" and scores is None:
                method = "majority"
            best["selection"] = {
                "method": method if len(g) > 1 else "single",
                "samples": len(g),
                "usable_samples": sum(c["usable"] for c in g),
                "picked": g.index(best),
                **({"scores": [score_of[id(c)] for c in g]} if scores is not None else {}),
            }
            picked.append(best)
        return picked

    def _debate(self, plan: Plan, i: int) -> dict:
        """Candidate `i` of `plan`: two drafts, with its card and the next one, and the judge's
        pick."""
        ctx, planned, cards, stats = plan.ctx, plan.angles[i], plan.cards, plan.stats
        (t_a, t_b), j = self.debate_temperatures, (i + 1) % len(cards)
        pair = []
        for card, t in ((planned.card, t_a), (cards[j], t_b)):
            [[(post, error)]] = self._sample_compose(
                [({"request": planned.request}, planned.demos)],
                1,
                t,
                [stats],
                [card.get("name", "strategy")],
            )
            pair.append(self._candidate(ctx, replace(planned, card=card), t, post, error))
        a, b = pair
        self._pick(ctx, [[a], [b]], stats)
        if not (a["usable"] and b["usable"]):
            winner = b if b["usable"] and not a["usable"] else a
            return {**winner, "selection": {"method": "walkover", "judged": False}}
        verdict, error = self._call(
            "judge",
            stats,
            0.0,
            topic=ctx["topic"],
            platform=ctx["platform"],
            draft_a=a["text"],
            draft_b=b["text"],
        )
        pick = verdict.better if verdict is not None else "a"
        selection = {
            "method": "judge",
            "judged": verdict is not None,
            "better": pick,
            "reason": str(verdict.reason) if verdict is not None else None,
            "judge_error": error,
        }
        return {**(b if pick == "b" else a), "selection": selection}

    def _manager_worker(self, plans: list[Plan]) -> None:
        """Each candidate of each plan in parts: the manager (ideate) plans up to N_PARTS parts
        of the post, a worker (compose) writes each part (the best of `best_of` by the gate; the
        parts of every plan drawn in shared batched calls), and the parts joined in order are
        the draft, judged whole by the gate. A plan that does not parse is the angle itself."""
        t = self.temperature if self.best_of == 1 else max(self.temperature, MIN_SAMPLE_TEMPERATURE)
        jobs = []  # (plan, angle plan, the requests of its parts)
        for p in plans:
            platform, audience = p.ctx["platform"], p.ctx["audience"]
            for a in p.angles:
                ask = f"{a.request} Plan it in {N_PARTS} parts: what each part says, in order."
                pred, _ = self._call("ideate", p.stats, self.temperature, request=ask)
                parts = list(dict.fromkeys(str(x).strip() for x in (pred.angles if pred else [])))
                subjects = [f"{a.angle}: {x}" for x in parts if x][:N_PARTS] or [a.angle]
                requests = [render_request(x, platform, audience) for x in subjects]
                p.ctx["prompt_texts"] += requests  # what the model was told (the echo rule)
                jobs.append((p, a, requests))
        calls = [(p, a, r) for p, a, requests in jobs for r in requests]
        samples, step = [], max(1, MAX_SEQUENCES // self.best_of)
        for i in range(0, len(calls), step):
            chunk = calls[i : i + step]
            samples += self._sample_compose(
                [({"request": r}, a.demos) for _, a, r in chunk],
                self.best_of,
                t,
                [p.stats for p, _, _ in chunk],
                [a.card.get("name", "strategy") for _, a, _ in chunk],
            )
        it = iter(samples)
        for p in plans:
            p.ctx["candidates"] = []
        for p, a, requests in jobs:
            groups = [
                [self._candidate(p.ctx, a, t, post, err) for post, err in next(it)]
                for _ in requests
            ]
            picked = self._pick(p.ctx, groups, p.stats)
            text = "\n\n".join(c["draft"].strip() for c in picked if c["draft"].strip())
            error = None if text else next((c["error"] for c in picked if c["error"]), "empty")
            whole = self._candidate(p.ctx, a, t, text, error)
            [(ok, reasons)] = self._verdicts(p.ctx, [whole["text"]])
            whole["usable"] = bool(ok and whole["parse_ok"])
            whole["gate_reasons"] = list(reasons) if whole["parse_ok"] else ["parse failure"]
            whole["selection"] = {
                "method": "manager_worker",
                "parts": len(requests),
                "part_requests": requests,
                "part_drafts": [c["draft"] for c in picked],
                "usable_parts": sum(c["usable"] for c in picked),
            }
            p.ctx["candidates"].append({**whole, "angle_source": a.source})

    # ---- the program ------------------------------------------------------------------------
    def forward(self, **request) -> dspy.Prediction:
        """Candidates (plain dicts) for one topic, and `stats` of the LM calls; `request` is the
        keyword arguments of `_plan`."""
        [pred] = self.draft_many([request])
        return pred

    def draft_many(self, requests: Sequence[dict]) -> list[dspy.Prediction]:
        """`forward` for each of `requests` (its keyword arguments), with the compose samples of
        every request drawn in shared batched calls of at most MAX_SEQUENCES sequences."""
        plans = [self._plan(**r) for r in requests]
        if self.generation == "debate":
            for p in plans:
                p.ctx["candidates"] = [
                    {**self._debate(p, i), "angle_source": a.source} for i, a in enumerate(p.angles)
                ]
        elif self.generation == "manager_worker":
            self._manager_worker(plans)
        else:
            n = self.n_samples if self.generation == "self_consistency" else self.best_of
            t = self.temperature if n == 1 else max(self.temperature, MIN_SAMPLE_TEMPERATURE)
            calls = [(p, a) for p in plans for a in p.angles]
            samples = []
            step = max(1, MAX_SEQUENCES // n)
            for i in range(0, len(calls), step):
                chunk = calls[i : i + step]
                samples += self._sample_compose(
                    [({"request": a.request}, a.demos) for _, a in chunk],
                    n,
                    t,
                    [p.stats for p, _ in chunk],
                    [a.card.get("name", "strategy") for _, a in chunk],
                )
            it = iter(samples)
            for p in plans:
                groups = [
                    [self._candidate(p.ctx, a, t, post, err) for post, err in next(it)]
                    for a in p.angles
                ]
                picked = self._pick(p.ctx, groups, p.stats)
                p.ctx["candidates"] = [
                    {**c, "angle_source": a.source} for c, a in zip(picked, p.angles, strict=True)
                ]
        if dspy.settings.trace is not None:  # what optimizers learn from: the kept sample
            for p in plans:
                for c in p.ctx["candidates"]:
                    inputs = {
                        "request": render_request(c["angle"], p.ctx["platform"], p.ctx["audience"])
                    }
                    dspy.settings.trace.append(
                        (self.compose, inputs, dspy.Prediction(post=c["draft"]))
                    )
        return [self._prediction(p.ctx, p.stats) for p in plans]

    def _plan(
        self,
        topic: str,
        platform: str,
        audience: str = "a general audience",
        strategies: Sequence[dict] = (),
        traces: Sequence[dict] = (),
        style: dict | None = None,
        slots: list[dict] | None = None,
        author_posts: Sequence[str] = (),
        links: Sequence[str] = (),
        facts: Sequence[str] = (),
    ) -> Plan:
        """The plan of one topic: its context, one `AnglePlan` per candidate, cards and stats.
        Raises ValueError on an unknown platform or an empty topic.

        `author_posts`: the author's own posts to show the nearest of as examples (default: the
        posts behind `traces`). `links`: the real links a draft may carry (others are dropped).
        `facts`: what a draft may assert besides the author's posts (the gate's invented rule)."""
        platform = platforms.get(platform).name
        topic = " ".join(str(topic or "").split())
        if not topic:
            raise ValueError("the topic is empty: say what the post should be about")
        stats = _new_stats(self.generation)
        cards, replaced = clean_cards(list(strategies)[:MAX_STRATEGIES] or [DEFAULT_CARD])
        stats["cards_replaced"] = replaced
        traces = list(traces)
        posts = [str(p) for p in author_posts if p] or [str(t["y"]) for t in traces if t.get("y")]
        ctx = {
            "topic": topic,
            "platform": platform,
            "audience": audience,
            "style": style,
            "slots": slots,
            "links": list(links),
            "facts": [*facts, *links],  # what supports a draft's claims (the gate)
            "shown": [],
            "author_posts": posts,
            "prompt_texts": [  # what the model was told (for the gate's echo rule)
                self.compose.signature.instructions,
                render_request(topic, platform, audience),
            ],
        }
        index = self._post_index(posts)
        angles = []
        for i, (angle, source) in enumerate(self._angles(topic, platform, audience, stats)):
            card = cards[i % len(cards)]
            sources = set(card.get("source_post_ids") or [])
            example = next((t for t in traces if t.get("post_id") in sources), None)
            demos = self._demos(index, angle, platform)
            request = render_request(angle, platform, audience)
            angles.append(AnglePlan(angle, source, card, example, demos, request))
        return Plan(ctx, angles, cards, stats)

    def _prediction(self, ctx: dict, stats: dict) -> dspy.Prediction:
        candidates = ctx["candidates"]
        stats["candidates"] = len(candidates)
        stats["schema_valid"] = sum(c["parse_ok"] for c in candidates)
        stats["usable"] = sum(c["usable"] for c in candidates)
        for c in candidates:
            for r in c["gate_reasons"]:
                key = re.sub(r"[:(].*", "", str(r)).strip()
                stats["gate_reasons"][key] = stats["gate_reasons"].get(key, 0) + 1
        return dspy.Prediction(candidates=assign_slots(candidates, ctx["slots"]), stats=stats)


def _hit_budget(text: str, max_tokens: int, engine) -> bool:
    """Whether a reply used its whole token budget (so its last sentence may be cut)."""
    count = getattr(getattr(engine, "lm", None), "count_tokens", None)
    if count is not None:
        return count(text) >= max_tokens - 1
    return len(text) >= 3 * max_tokens  # about 4 characters a token, with room


def _text_of(output) -> str:
    return output.get("text", "") if isinstance(output, dict) else str(output or "")


def draft_candidates(
    program: DraftProgram,
    lm,
    topics: Sequence[dict],
    strategies: Sequence[dict] = (),
    traces: Sequence[dict] = (),
    style: dict | None = None,
    slots: list[dict] | None = None,
    max_tokens: int = 256,
    author_posts: Sequence[str] = (),
) -> tuple[list[dict], dict]:
    """Run `program` over topics ({topic, platform, audience}) on `lm`.

    `lm` is a `LanguageModel` (sampled with the program's settings, JSON constrained by a
    grammar when local) or a `dspy.LM`. `author_posts`: the author's own posts (train split) to
    show the nearest of as examples. Each candidate says whether the gate passed it (`usable`)
    and why not (`gate_reasons`). Slots are assigned across all candidates, best first.
    Returns (candidates, summed stats). Raises ValueError on an unknown platform or an empty
    topic before any model call.
    """
    from reer_pipeline.lm.dspy_adapter import to_dspy

    for t in topics:
        platforms.get(t.get("platform", ""))
        if not str(t.get("topic") or "").strip():
            raise ValueError("a topic is empty: say what the post should be about")
    dlm = (
        lm
        if isinstance(lm, dspy.BaseLM)
        else to_dspy(lm, max_tokens=max_tokens, sampling=program.sampling)
    )
    requests = [
        {
            "topic": t["topic"],
            "platform": t["platform"],
            "audience": t.get("audience") or "a general audience",
            "strategies": strategies,
            "traces": traces,
            "style": style,
            "author_posts": author_posts,
            "links": t.get("links") or (),
            "facts": t.get("facts") or (),
        }
        for t in topics
    ]
    with dspy.context(lm=dlm, adapter=dspy.JSONAdapter()):
        preds = program.draft_many(requests)
    candidates, stats = [], None
    for pred in preds:
        candidates += pred.candidates
        stats = merge_stats(stats, pred.stats)
    return assign_slots(candidates, slots), stats or _new_stats(program.generation)


def load_program(path, **config) -> DraftProgram:
    """A `DraftProgram` (built with `config`) with the state saved at `path` (`program.save`)."""
    program = DraftProgram(**config)
    program.load(path)
    return program
