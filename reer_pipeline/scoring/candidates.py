"""Score drafts on four components and combine them into a ranked total.

- heuristics: platform limits, readability, a hook (`heuristics.heuristic_score`);
- style fit: the scorer model's per-token loss on the draft, as the share of the author's own
  posts that the draft fits at least as well (0..1), all scored in one batched call;
- predicted engagement: the author's engagement model (0..1);
- judge (optional): a judge model's 1-10 rating, as 0..1.

Each component also explains a shortfall in words, which is the feedback GEPA reflects on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.scoring.engagement import EngagementModel
from reer_pipeline.scoring.heuristics import heuristic_score

DEFAULT_WEIGHTS = {"heuristics": 0.3, "style_fit": 0.3, "engagement": 0.4, "judge": 0.0}
CLIP_LOW = -4.0  # per-token logprob floor, so one odd token cannot dominate a mean


def style_prefix(platform: str) -> str:
    return f"A {platform} post:\n"


def mean_loss(logprobs: Sequence[float]) -> float:
    return float(-np.mean(np.clip(logprobs, CLIP_LOW, 0.0))) if len(logprobs) else float("inf")


@dataclass
class CandidateScorer:
    """Scores drafts of one author on one platform against that author's own posts."""

    platform: str
    author_texts: list[str]
    scorer: LanguageModel | None = None
    engagement: EngagementModel | None = None
    judge: Callable[[list[str]], list[float]] | None = None  # texts -> 0..1
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    _author_losses: np.ndarray | None = None

    def _losses(self, texts: list[str]) -> np.ndarray:
        prefix = style_prefix(self.platform)
        logprobs = self.scorer.score([prefix] * len(texts), texts)
        return np.array([mean_loss(lp) for lp in logprobs])

    def style_fit(self, texts: list[str]) -> list[float]:
        if self.scorer is None or not self.author_texts:
            return [float("nan")] * len(texts)
        if self._author_losses is None:
            self._author_losses = np.sort(self._losses(self.author_texts))
        losses = self._losses(texts)
        # the share of the author's own posts whose loss is at least the draft's
        below = np.searchsorted(self._author_losses, losses, side="left")
        return [float(1 - b / len(self._author_losses)) for b in below]

    def score(self, texts: list[str], references: list[dict] | None = None) -> list[dict]:
        """Component scores, the weighted total over the components present, and feedback.

        `references` (optional, one per text) may hold a gold post's `engagement` (0..1) and
        `style_fit`, so the feedback can say how a draft falls short of a real post.
        """
        if not texts:
            return []
        style = self.style_fit(texts)
        engagement = (
            [float(v) for v in self.engagement.predict(texts)]
            if self.engagement is not None
            else [float("nan")] * len(texts)
        )
        judged = self.judge(texts) if self.judge is not None else [float("nan")] * len(texts)
        results = []
        for i, text in enumerate(texts):
            h = heuristic_score(text, self.platform)
            parts = {
                "heuristics": h.score,
                "style_fit": style[i],
                "engagement": engagement[i],
                "judge": judged[i],
            }
            used = {k: v for k, v in parts.items() if not np.isnan(v) and self.weights.get(k)}
            weight = sum(self.weights[k] for k in used)
            total = sum(self.weights[k] * v for k, v in used.items()) / weight if weight else 0.0
            if not h.postable:
                total = 0.0
            ref = (references or [None] * len(texts))[i] or {}
            results.append(
                {
                    **parts,
                    "total": total,
                    "within_limit": h.postable,
                    "heuristic_details": h.details,
                    "feedback": feedback(parts, h, ref),
                }
            )
        return results


def feedback(parts: dict, h, ref: dict) -> str:
    """What fell short and why, in words."""
    notes = []
    if not h.postable:
        notes.append(
            f"Over the platform limit: {h.details['chars']} characters against "
            f"{h.details['limit']}, and it does not split cleanly into a thread."
        )
    if h.components.get("hook", 1.0) < 1.0:
        notes.append("No hook: open with a question, a number, a list, a bold claim or a story.")
    if h.components.get("readability", 1.0) < 0.5:
        notes.append("Hard to read: use shorter sentences and plainer words.")
    style, gold_style = parts["style_fit"], ref.get("style_fit")
    if not np.isnan(style) and style < 0.3:
        notes.append(f"Low style fit ({style:.2f}): it does not sound like the author's own posts.")
    elif gold_style is not None and not np.isnan(style) and style < gold_style - 0.2:
        notes.append(f"Style fit {style:.2f} is below the reference post's {gold_style:.2f}.")
    eng, gold_eng = parts["engagement"], ref.get("engagement")
    if gold_eng is not None and not np.isnan(eng) and eng < gold_eng:
        notes.append(
            f"Predicted engagement {eng:.2f} is below the reference post's {gold_eng:.2f}."
        )
    if ref.get("strategy") and not ref.get("strategy_followed", True):
        notes.append(f"It ignores the strategy '{ref['strategy']}'.")
    return " ".join(notes) or "Meets the platform rules, fits the author's style, and engages."
