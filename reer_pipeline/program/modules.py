"""The drafting program: ideate -> compose per angle and strategy -> package -> schedule.

Only ideate, compose and judge call the LM; packaging and scheduling are plain Python. A parse
failure of the model is counted in `stats` and marks its candidate not schema-valid, never raises.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import dspy
from dspy.evaluate import normalize_text
from dspy.utils.exceptions import AdapterParseError

from reer_pipeline.program.package import PLATFORM_LIMITS, package
from reer_pipeline.program.schedule import assign_slots
from reer_pipeline.program.signatures import Compose, Ideate, Judge

GENERATIONS = ("single", "self_consistency", "debate")
EXAMPLE_CHARS = 400  # characters of a trajectory shown to the model
MAX_EXAMPLES = 2
MAX_STRATEGIES = 5
MIN_SAMPLE_TEMPERATURE = 0.7  # samples and retries need randomness to differ
PLACEHOLDER = re.compile(r"\s*\{\w+\}\s*")  # a small model echoing the adapter's `{post}`
DEFAULT_CARD = {"name": "plain", "when_to_use": "any topic", "structure": "one clear point"}

Scorer = Callable[[list[str]], Sequence[float]]


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + "…"


def format_card(card: dict) -> str:
    """A strategy card as one compact line for the prompt."""
    keys = ("when_to_use", "structure", "example_hook")
    rest = "; ".join(f"{k.replace('_', ' ')}: {card[k]}" for k in keys if card.get(k))
    return f"{card.get('name', 'strategy')}. {rest}".strip()


def summarize_strategies(cards: Sequence[dict]) -> str:
    return "\n".join(f"- {c.get('name')}: {c.get('when_to_use', '')}" for c in cards)


def format_trace(trace: dict) -> str:
    """A REER trace as a short request + reasoning excerpt."""
    request = _clip(trace.get("x", ""), 150)
    return f"request: {request}\nreasoning: {_clip(trace.get('trajectory', ''), EXAMPLE_CHARS)}"


def _example_for(card: dict, traces: Sequence[dict], i: int) -> dict | None:
    """A trace behind `card` when there is one, else the traces in turn."""
    sources = set(card.get("source_post_ids") or [])
    for t in traces:
        if t.get("post_id") in sources:
            return t
    return traces[i % len(traces)] if traces else None


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


class DraftProgram(dspy.Module):
    """Draft posts for one topic in the author's voice, with a per-run generation strategy.

    generation: 'single' (one draft per angle), 'self_consistency' (`n_samples` drafts, picked by
    `scorer(texts) -> scores` or by majority vote over normalized text) or 'debate' (two drafters
    at `debate_temperatures` with different strategies; the Judge picks). Predictors are named
    `ideate`, `compose` and `judge` whatever the strategy, so a saved program loads into any.
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
    ):
        super().__init__()
        if generation not in GENERATIONS:
            raise ValueError(f"generation must be one of {GENERATIONS}, got {generation!r}")
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

    # ---- LM calls ---------------------------------------------------------------------------
    def _call(self, name: str, stats: dict, temperature: float, tag=None, rollout=None, **kw):
        """(prediction, None) or (None, error). Parse failures and empty text outputs (or the
        adapter's `{field}` placeholder echoed back) are retried, counted, never raised."""
        counters = [stats, stats["by_predictor"][name]]
        if tag is not None:
            counters.append(stats["by_strategy"].setdefault(tag, _counts()))
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
                pred = getattr(self, name)(**kw, config=config)
            except AdapterParseError as e:
                error, kind = _describe(e), "parse_failures"
            else:
                empty = [k for k, v in pred.items() if isinstance(v, str) and _blank(v)]
                if not empty:
                    return pred, None
                error, kind = f"empty output: {', '.join(empty)}", "empty_outputs"
            for c in counters:
                c[kind] += 1
        return None, error

    def _angles(self, topic, platform, audience, cards, traces, stats) -> list[tuple[str, str]]:
        """(angle, source) pairs: ideated angles, padded with the topic itself."""
        pred, _ = self._call(
            "ideate",
            stats,
            self.temperature,
            topic=topic,
            platform=platform,
            audience=audience,
            strategies=summarize_strategies(cards[:MAX_STRATEGIES]),
            examples="\n\n".join(format_trace(t) for t in traces[:MAX_EXAMPLES]),
        )
        seen, angles = set(), []
        for a in (pred.angles if pred else None) or []:
            key = normalize_text(str(a))
            if key and key not in seen:
                seen.add(key)
                angles.append((str(a).strip(), "ideate"))
        angles = angles[: self.n_angles]
        return angles + [(topic, "fallback")] * (self.n_angles - len(angles))

    def _draft(
        self,
        ctx: dict,
        angle: str,
        card: dict,
        example: dict | None,
        temperature,
        stats,
        rollout=None,
    ) -> dict:
        """One composed and packaged draft with its provenance."""
        name = card.get("name", "strategy")
        pred, error = self._call(
            "compose",
            stats,
            temperature,
            tag=name,
            rollout=rollout,
            topic=ctx["topic"],
            angle=angle,
            strategy=format_card(card),
            platform=ctx["platform"],
            audience=ctx["audience"],
            example=format_trace(example) if example else "",
        )
        raw = str(pred.post) if pred is not None else ""
        packed = package(raw, ctx["platform"], ctx["style"], ctx["topic"])
        return {
            "topic": ctx["topic"],
            "platform": ctx["platform"],
            "audience": ctx["audience"],
            "angle": angle,
            "strategy": name,
            "strategy_post_ids": list(card.get("source_post_ids") or []),
            "trajectory_post_ids": _post_ids([*ctx["shown"], example]),
            "generation": self.generation,
            "temperature": temperature,
            "draft": raw,
            **packed,
            "parse_ok": error is None,
            "error": error,
            "selection": {"method": "single"},
            "slot": None,
        }

    # ---- generation strategies --------------------------------------------------------------
    def _self_consistency(self, ctx, angle, card, example, stats) -> dict:
        t = max(self.temperature, MIN_SAMPLE_TEMPERATURE)
        drafts = [
            self._draft(ctx, angle, card, example, t, stats, i) for i in range(self.n_samples)
        ]
        valid = [d for d in drafts if d["parse_ok"]]
        ok = valid or drafts[:1]
        if self.scorer is not None and valid:
            scores = [float(s) for s in self.scorer([d["text"] for d in ok])]
            best = max(range(len(ok)), key=lambda i: scores[i])
            selection = {"method": "scorer", "scores": scores, "picked": best}
        else:
            votes = Counter(normalize_text(d["text"]) for d in ok)
            top = max(votes.values())
            best = next(i for i, d in enumerate(ok) if votes[normalize_text(d["text"])] == top)
            selection = {"method": "majority", "votes": top, "picked": best}
        return {**ok[best], "selection": {**selection, "samples": len(drafts), "valid": len(valid)}}

    def _debate(self, ctx, angle, cards, i, examples, stats) -> dict:
        (t_a, t_b), j = self.debate_temperatures, (i + 1) % len(cards)
        a = self._draft(ctx, angle, cards[i % len(cards)], examples[0], t_a, stats)
        b = self._draft(ctx, angle, cards[j], examples[1], t_b, stats)
        if not (a["parse_ok"] and b["parse_ok"]):
            winner = b if b["parse_ok"] and not a["parse_ok"] else a
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

    # ---- the program ------------------------------------------------------------------------
    def forward(
        self,
        topic: str,
        platform: str,
        audience: str = "a general audience",
        strategies: Sequence[dict] = (),
        traces: Sequence[dict] = (),
        style: dict | None = None,
        slots: list[dict] | None = None,
    ) -> dspy.Prediction:
        """Candidates (plain dicts) for one topic, and `stats` of the LM calls."""
        if platform not in PLATFORM_LIMITS:
            raise ValueError(f"platform must be one of {sorted(PLATFORM_LIMITS)}, got {platform!r}")
        cards, traces = list(strategies) or [DEFAULT_CARD], list(traces)
        stats = _new_stats(self.generation)
        shown = traces[:MAX_EXAMPLES]
        ctx = {
            "topic": topic,
            "platform": platform,
            "audience": audience,
            "style": style,
            "shown": shown,
        }
        angles = self._angles(topic, platform, audience, cards, shown, stats)
        candidates = []
        for i, (angle, source) in enumerate(angles):
            card = cards[i % len(cards)]
            example = _example_for(card, traces, i)
            if self.generation == "single":
                c = self._draft(ctx, angle, card, example, self.temperature, stats)
            elif self.generation == "self_consistency":
                c = self._self_consistency(ctx, angle, card, example, stats)
            else:
                other = _example_for(cards[(i + 1) % len(cards)], traces, i + 1)
                c = self._debate(ctx, angle, cards, i, (example, other), stats)
            candidates.append({**c, "angle_source": source})
        stats["candidates"] = len(candidates)
        stats["schema_valid"] = sum(c["parse_ok"] for c in candidates)
        return dspy.Prediction(candidates=assign_slots(candidates, slots), stats=stats)


def draft_candidates(
    program: DraftProgram,
    lm,
    topics: Sequence[dict],
    strategies: Sequence[dict] = (),
    traces: Sequence[dict] = (),
    style: dict | None = None,
    slots: list[dict] | None = None,
    max_tokens: int = 256,
) -> tuple[list[dict], dict]:
    """Run `program` over topics ({topic, platform, audience}) on `lm` with the JSONAdapter.

    `lm` is a `LanguageModel` (wrapped with constrained decoding) or a `dspy.LM`. Slots are
    assigned across all candidates, best first. Returns (candidates, summed stats).
    """
    from reer_pipeline.lm.dspy_adapter import to_dspy

    dlm = lm if isinstance(lm, dspy.BaseLM) else to_dspy(lm, max_tokens=max_tokens)
    candidates, stats = [], None
    with dspy.context(lm=dlm, adapter=dspy.JSONAdapter()):
        for t in topics:
            pred = program(
                topic=t["topic"],
                platform=t["platform"],
                audience=t.get("audience") or "a general audience",
                strategies=strategies,
                traces=traces,
                style=style,
            )
            candidates += pred.candidates
            stats = merge_stats(stats, pred.stats)
    return assign_slots(candidates, slots), stats or _new_stats(program.generation)


def load_program(path, **config) -> DraftProgram:
    """A `DraftProgram` (built with `config`) with the state saved at `path` (`program.save`)."""
    program = DraftProgram(**config)
    program.load(path)
    return program
