"""The preference model of one account: would this person approve this draft?

Trained on the review log's decisions: the text decided on (the approved text, else the draft)
and the scorer's components at that moment (the decision's `scores`), labelled approved (1) or
rejected (0). Features: each component (0 where not measured, with a flag saying so) and hashed
word 1- and 2-grams of the text; a balanced logistic regression.

Judged on later decisions (a time split by the log's order) by ROC AUC with a bootstrap
interval, against the scorer's total alone and against the total with the preference as its
factor (`scoring.candidates`' `preference` component). It is adopted as a scorer component only
where that total beats the plain total on the held-out decisions: the lower end of the paired
AUC difference's interval above 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np

from reer_pipeline.stats import bootstrap_interval

# the scorer's components the model reads (never `preference` itself: it is the output)
FEATURES = (
    "heuristics",
    "fluency",
    "ending",
    "style_fit",
    "style_lm",
    "style_clf",
    "topic",
    "engagement",
)
HASH_FEATURES = 2**14
TEST_SHARE = 0.3  # the newest share of decisions held out
MIN_DECISIONS = 10  # fewer, and there is nothing to learn or judge


def text_of(decision: dict) -> str:
    """The text a decision is about: the approved (maybe edited) text, else the draft."""
    return decision.get("approved_text") or decision["drafted_text"]


def label_of(decision: dict) -> int:
    return int(decision["decision"] == "approved")


def latest(decisions: Sequence[dict]) -> list[dict]:
    """The newest decision per draft, in the log's order."""
    newest = {d["draft_id"]: d["seq"] for d in decisions}
    return [d for d in decisions if newest[d["draft_id"]] == d["seq"]]


def auc(labels, scores) -> float:
    """ROC AUC (ties count half); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    if labels.min() == labels.max():
        return math.nan
    return float(roc_auc_score(labels, scores))


class PreferenceModel:
    """Would this person approve this text? `predict(texts, scores)` -> probabilities."""

    def __init__(self, c: float = 1.0):
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.linear_model import LogisticRegression

        self.words = HashingVectorizer(
            n_features=HASH_FEATURES, ngram_range=(1, 2), alternate_sign=False, norm="l2"
        )
        self.model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)

    def _matrix(self, texts: Sequence[str], scores: Sequence[dict]):
        from scipy.sparse import csr_matrix, hstack

        values = np.array(
            [
                [float(s.get(k) if s.get(k) is not None else math.nan) for k in FEATURES]
                for s in scores
            ]
        ).reshape(len(scores), len(FEATURES))
        missing = np.isnan(values)
        numeric = np.hstack([np.where(missing, 0.0, values), missing.astype(float)])
        return hstack([self.words.transform(list(texts)), csr_matrix(numeric)]).tocsr()

    def fit(self, texts: Sequence[str], scores: Sequence[dict], labels: Sequence[int]):
        self.model.fit(self._matrix(texts, scores), np.asarray(labels))
        return self

    def predict(self, texts: Sequence[str], scores: Sequence[dict]) -> list[float]:
        if not texts:
            return []
        return [float(p) for p in self.model.predict_proba(self._matrix(texts, scores))[:, 1]]

    def fit_decisions(self, decisions: Sequence[dict]) -> PreferenceModel:
        return self.fit(
            [text_of(d) for d in decisions],
            [d["scores"] for d in decisions],
            [label_of(d) for d in decisions],
        )

    def save(self, path: Path) -> Path:
        from reer_pipeline.files import atomic_path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(Path(path)) as tmp:
            joblib.dump(self, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> PreferenceModel:
        return joblib.load(Path(path))


def total_with(scores: dict, preference: float) -> float:
    """The scorer's total with the preference as its factor (0 for an unusable draft)."""
    from reer_pipeline.scoring.candidates import DEFAULT_WEIGHTS, combine

    if not scores.get("usable") or not scores.get("within_limit", True):
        return 0.0
    parts = {k: float(scores[k]) for k in DEFAULT_WEIGHTS if scores.get(k) is not None}
    return combine(parts | {"preference": preference}, DEFAULT_WEIGHTS)


def time_split(decisions: Sequence[dict], test_share: float = TEST_SHARE):
    """(earlier, later) decisions by the log's order: train on the first, judge on the rest."""
    ordered = sorted(latest(decisions), key=lambda d: d["seq"])
    n_test = max(1, round(len(ordered) * test_share))
    return ordered[:-n_test], ordered[-n_test:]


def interval(labels, *scores) -> dict:
    """AUC [95% interval] of one score, or of the paired difference of two."""

    def stat(y, *s):
        return auc(y, s[0]) if len(s) == 1 else auc(y, s[0]) - auc(y, s[1])

    est, low, high = bootstrap_interval((np.asarray(labels, float), *map(np.asarray, scores)), stat)
    return {"estimate": est, "low": low, "high": high}


def evaluate(decisions: Sequence[dict], test_share: float = TEST_SHARE) -> dict:
    """Train on earlier decisions, judge on later ones; the model, its report, and whether it
    becomes a scorer component (`adopted`). Raises ValueError when either side lacks a class."""
    train, test = time_split(decisions, test_share)
    if len(train) + len(test) < MIN_DECISIONS:
        raise ValueError(
            f"{len(train) + len(test)} decisions; the preference model needs {MIN_DECISIONS}"
        )
    for name, part in (("earlier", train), ("later", test)):
        if len({label_of(d) for d in part}) < 2:
            raise ValueError(f"the {name} decisions are all of one kind: nothing to learn or judge")
    model = PreferenceModel().fit_decisions(train)
    labels = [label_of(d) for d in test]
    pref = model.predict([text_of(d) for d in test], [d["scores"] for d in test])
    total = [float(d["scores"].get("total") or 0.0) for d in test]
    combined = [total_with(d["scores"], p) for d, p in zip(test, pref, strict=True)]
    report = {
        "n_train": len(train),
        "n_test": len(test),
        "approved_train": sum(label_of(d) for d in train),
        "approved_test": sum(labels),
        "auc_total": interval(labels, total),
        "auc_preference": interval(labels, pref),
        "auc_total_with_preference": interval(labels, combined),
        "auc_gain": interval(labels, combined, total),
        "split_seq": [train[0]["seq"], train[-1]["seq"], test[0]["seq"], test[-1]["seq"]],
    }
    report["adopted"] = bool(report["auc_gain"]["low"] > 0)
    # the adopted model is refitted on every decision: the split only judged it
    final = PreferenceModel().fit_decisions([*train, *test]) if report["adopted"] else model
    return {"model": final, "report": report}
