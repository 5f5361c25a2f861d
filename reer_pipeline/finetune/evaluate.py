"""Held-out perplexity of posts given their requests, with a bootstrap interval.

A text's perplexity is exp(mean negative logprob of its tokens) given the chat-rendered request;
the set's perplexity is token-weighted (exp of the mean over all tokens), as a language-model
perplexity is. Intervals resample texts (not tokens) with replacement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.stats import bootstrap_interval


@dataclass
class Perplexity:
    ppl: float
    low: float  # bootstrap interval of ppl (level `level`)
    high: float
    level: float
    per_text: list[float]
    nll: list[float]  # summed negative logprob of each text
    tokens: list[int]  # scored tokens of each text

    def as_dict(self, per_text: bool = False) -> dict:
        d = asdict(self)
        if not per_text:
            for k in ("per_text", "nll", "tokens"):
                d.pop(k)
        d["n_texts"] = len(self.per_text)
        d["n_tokens"] = sum(self.tokens)
        return d


def _ppl(nll, tokens) -> float:
    """Token-weighted perplexity of texts with summed negative logprobs `nll`."""
    return math.exp(float(np.sum(nll)) / max(1.0, float(np.sum(tokens))))


def heldout_perplexity(
    lm: LanguageModel,
    texts: Sequence[str],
    requests: Sequence[str],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    batch: int = 64,
) -> Perplexity:
    """Perplexity of each text after its request (a user message rendered with the model's chat
    template), the token-weighted set perplexity and its bootstrap interval."""
    if len(texts) != len(requests):
        raise ValueError(f"{len(texts)} texts but {len(requests)} requests")
    if not texts:
        raise ValueError("no held-out texts")
    prefixes = [lm.render([{"role": "user", "content": r}]) for r in requests]
    nll, tokens = [], []
    for i in range(0, len(texts), batch):
        for lps in lm.score(prefixes[i : i + batch], list(texts[i : i + batch])):
            nll.append(-sum(lps))
            tokens.append(len(lps))
    per_text = [math.exp(n / max(1, t)) for n, t in zip(nll, tokens, strict=True)]
    ppl, lo, hi = bootstrap_interval((nll, tokens), stat=_ppl, n=n_boot, level=level, seed=seed)
    return Perplexity(ppl, lo, hi, level, per_text, nll, tokens)


def relative_reduction(
    base: Perplexity, adapted: Perplexity, n_boot: int = 1000, seed: int = 0
) -> dict:
    """1 - ppl(adapted)/ppl(base) with a paired bootstrap interval (same resampled texts)."""
    if base.tokens != adapted.tokens:
        raise ValueError("the two perplexities were not measured on the same tokens")

    def reduction(base_nll, tokens, adapted_nll):
        return 1 - _ppl(adapted_nll, tokens) / _ppl(base_nll, tokens)

    value, lo, hi = bootstrap_interval(
        (base.nll, base.tokens, adapted.nll), stat=reduction, n=n_boot, level=base.level, seed=seed
    )
    return {"reduction": value, "low": lo, "high": hi, "level": base.level}
