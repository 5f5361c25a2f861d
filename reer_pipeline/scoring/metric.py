"""The tuning metric: the project's scorer as a GEPA feedback metric.

`DraftMetric(gold, pred, trace, pred_name, pred_trace)` returns `dspy.Prediction(score, feedback)`,
the five-argument form `dspy.GEPA` checks for. The score is `CandidateScorer`'s total for the
program's first draft on the example's topic; a draft the usable-draft gate rejects (empty,
residue, echo, loop, over the limit, a copy of the author's or the gold post, off topic) scores 0
and its feedback names the broken rule. Otherwise the feedback says in words which component fell
short of the gold post and why. The judge, when there is one, only adds words, and only when
GEPA asks for feedback on a predictor (`pred_name` set): it costs a model call and never changes
the score. Where the person rejected a draft for the example's request (`gold.rejections`, from
the review log), the feedback says so in their words: what GEPA's reflection should avoid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import dspy
import numpy as np

from reer_pipeline.scoring.candidates import COMPONENTS, CandidateScorer

# Structural cues a strategy card can name, and how to see them in a draft.
STRATEGY_CUES = {
    r"\bquestion": lambda t: "?" in t,
    r"\b(list|steps|points|bullets?)\b": lambda t: bool(re.search(r"(?m)^\s*(\d+[.)]|[-•*])\s", t)),
    r"\b(number|statistic|stat|data|percent|figure)s?\b": lambda t: bool(re.search(r"\d", t)),
    r"\b(link|url)s?\b": lambda t: "http" in t,
    r"\bhashtags?\b": lambda t: "#" in t,
    r"\bquot(e|es|ation)\b": lambda t: bool(re.search(r"[\"“”]", t)),
}


def strategy_followed(text: str, card: dict) -> bool:
    """Whether `text` shows the structure a strategy card names (its cues), or else shares one of
    the card's key terms. A card that names neither cue nor term counts as followed."""
    described = " ".join(str(card.get(k) or "") for k in ("name", "structure")).lower()
    cues = [seen for pattern, seen in STRATEGY_CUES.items() if re.search(pattern, described)]
    if cues:
        return any(seen(text) for seen in cues)
    terms = [t.lower() for t in card.get("key_terms") or []]
    return not terms or any(t in text.lower() for t in terms)


def draft_text(pred) -> str:
    """The first candidate's text of a `DraftProgram` prediction ('' when there is none)."""
    candidates = getattr(pred, "candidates", None) or []
    return str(candidates[0].get("text") or "") if candidates else ""


def rejection_feedback(gold) -> str:
    """The person's rejections of drafts for this request, in words ('' when none)."""
    notes = []
    for r in gold.get("rejections") or []:
        note = f": {r['note']}" if r.get("note") else ""
        notes.append(f"The person rejected a draft for this request as {r['why']}{note}.")
    return " ".join(notes)


class DraftMetric:
    """Scores a program's draft for an example against the example's real post.

    `references` maps an example's `post_id` to the gold post's components and total, computed
    once for all examples (one batched score call) by `with_references`.
    """

    def __init__(
        self,
        scorer: CandidateScorer,
        judge: Callable[[list[str]], list[float]] | None = None,
    ):
        self.scorer = scorer
        self.judge = judge
        self.references: dict[str, dict] = {}
        self.calls = 0  # rollouts scored (pred_name None); GEPA's metric-call budget counts these
        self.feedback_calls = 0  # calls for one predictor's feedback (pred_name set)

    def with_references(self, examples: Sequence[dspy.Example]) -> DraftMetric:
        todo = [e for e in examples if e.post_id not in self.references]
        if todo:
            gold = self.scorer.score([e.reference for e in todo])
            for e, s in zip(todo, gold, strict=True):
                self.references[e.post_id] = {k: s[k] for k in (*COMPONENTS, "total")}
        return self

    def reference(self, gold: dspy.Example, text: str) -> dict:
        card = (gold.strategies or [{}])[0]
        return {
            **self.references.get(gold.post_id, {}),
            "text": gold.get("reference"),  # copying the gold post is a copy too
            "strategy": card.get("name"),
            "strategy_followed": strategy_followed(text, card),
        }

    def score_texts(self, examples: Sequence[dspy.Example], texts: list[str]) -> list[dict]:
        """Scores and feedback of many drafts in one batched scorer call."""
        self.with_references(examples)
        refs = [self.reference(e, t) for e, t in zip(examples, texts, strict=True)]
        return self.scorer.score(texts, refs, topics=[e.get("topic") for e in examples])

    def __call__(self, gold, pred, trace=None, pred_name=None, pred_trace=None):
        if pred_name is None:
            self.calls += 1
        else:
            self.feedback_calls += 1
        text = draft_text(pred)
        result = self.score_texts([gold], [text])[0]
        feedback = result["feedback"]
        if not text.strip():
            feedback = (
                "Unusable draft (empty): the program produced no draft (its output did not "
                "parse or was empty)."
            )
        elif pred_name is not None and self.judge is not None:
            rating = self.judge([text])[0]
            if not np.isnan(rating):
                feedback += f" A judge model rated it {rating * 10:.0f}/10."
        if rejected := rejection_feedback(gold):
            feedback += " " + rejected
        return dspy.Prediction(score=float(result["total"]), feedback=feedback)

    def score_only(self, gold, pred, trace=None) -> float:
        """The plain float form BootstrapFewShot and MIPROv2 expect."""
        return self(gold, pred, trace).score
