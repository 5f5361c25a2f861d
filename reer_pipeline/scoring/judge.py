"""An optional judge: a model's 1-10 rating of each draft, as 0..1."""

from __future__ import annotations

import dspy

from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.lm.dspy_adapter import to_dspy


class RateDraft(dspy.Signature):
    """Rate how likely this social media post is to engage its readers."""

    post: str = dspy.InputField()
    rating: int = dspy.OutputField(desc="1 (dull) to 10 (compelling)")


def judge_scores(lm: LanguageModel, texts: list[str], max_tokens: int = 32) -> list[float]:
    """One rating per text; a rating that does not parse is NaN (counted in lm.usage.failures)."""
    rate = dspy.Predict(RateDraft)
    out = []
    with dspy.context(
        lm=to_dspy(lm, max_tokens=max_tokens, temperature=0.0), adapter=dspy.JSONAdapter()
    ):
        for text in texts:
            try:
                out.append(min(10, max(1, int(rate(post=text).rating))) / 10)
            except Exception:  # noqa: BLE001 - a small model's bad output is counted, not fatal
                lm.usage.failures += 1
                out.append(float("nan"))
    return out


def judge_with(lm: LanguageModel):
    """`texts -> ratings (0..1)` on `lm`, the judge the scorer and the tuning metric take."""

    def judge(texts: list[str]) -> list[float]:
        return judge_scores(lm, texts)

    return judge
