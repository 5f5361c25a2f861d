"""Strategy cards: cluster an author's REER trajectories, then name each cluster's strategy."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import dspy
import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import TfidfVectorizer

log = logging.getLogger(__name__)


class StrategyCardSignature(dspy.Signature):
    """Name the writing strategy these high-performing posts share, using the reasoning behind
    them, so a writer can reuse it."""

    posts: list[str] = dspy.InputField(desc="high-performing posts by one author")
    reasoning: list[str] = dspy.InputField(desc="the reasoning that led to each post")
    name: str = dspy.OutputField(desc="the strategy in 2 to 5 words")
    when_to_use: str = dspy.OutputField(desc="one sentence")
    structure: str = dspy.OutputField(desc="the post's parts, in order")
    example_hook: str = dspy.OutputField(desc="an opening line in this style")


@dataclass
class StrategyCard:
    platform: str
    author: str
    card_id: str
    name: str
    when_to_use: str
    structure: str
    example_hook: str
    source_post_ids: list[str]
    key_terms: list[str]
    written_by: str  # the model's URI, or "fallback" when its output did not parse

    def as_dict(self) -> dict:
        return asdict(self)


def cluster(texts: list[str], max_clusters: int = 5, min_size: int = 3, seed: int = 0):
    """Cluster texts with TF-IDF + k-means: (labels, top terms per cluster)."""
    k = max(1, min(max_clusters, len(texts) // min_size))
    vectorizer = TfidfVectorizer(stop_words="english", max_features=2000, sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # nothing but stop words
        return np.zeros(len(texts), dtype=int), [[]]
    if k == 1:
        labels = np.zeros(len(texts), dtype=int)
        centers = np.asarray(matrix.mean(axis=0))
    else:
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(matrix)
        labels, centers = model.labels_, model.cluster_centers_
    terms = vectorizer.get_feature_names_out()
    top = [[terms[i] for i in np.argsort(-row)[:5] if row[i] > 0] for row in centers]
    return labels, top


def write_cards(
    traces: list[dict], lm: dspy.LM | None, uri: str, max_clusters: int = 5, examples: int = 3
) -> tuple[list[StrategyCard], dict]:
    """One card per cluster of one author's traces. Parse failures fall back, never raise."""
    stats = {"clusters": 0, "calls": 0, "parse_failures": 0}
    if not traces:
        return [], stats
    labels, top_terms = cluster([t["trajectory"] for t in traces], max_clusters)
    predict = dspy.Predict(StrategyCardSignature)
    cards = []
    for label in sorted(set(labels.tolist())):
        members = sorted(
            (t for t, lab in zip(traces, labels, strict=True) if lab == label),
            key=lambda t: -(t.get("engagement_pct") or 0),
        )
        first = members[0]
        fields, written_by = None, "fallback"
        if lm is not None:
            stats["calls"] += 1
            try:
                with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
                    out = predict(
                        posts=[t["y"] for t in members[:examples]],
                        reasoning=[t["trajectory"][:600] for t in members[:examples]],
                    )
                fields = {
                    k: str(getattr(out, k)).strip()
                    for k in ("name", "when_to_use", "structure", "example_hook")
                }
                if not all(fields.values()):
                    raise ValueError("empty field")
                written_by = uri
            except Exception as exc:  # noqa: BLE001 - a small model's bad output is counted
                stats["parse_failures"] += 1
                log.warning("strategy card for cluster %s did not parse: %s", label, exc)
                fields = None
        terms = top_terms[label] if label < len(top_terms) else []
        if fields is None:
            fields = {
                "name": " / ".join(terms[:3]) or "uncategorized",
                "when_to_use": f"Posts about {', '.join(terms[:3]) or 'these themes'}.",
                "structure": first["trajectory"].split("\n\n")[0][:300],
                "example_hook": first["y"].split("\n")[0][:200],
            }
        cards.append(
            StrategyCard(
                platform=first["platform"],
                author=first["author"],
                card_id=f"{first['platform']}:{first['author']}:{label}",
                source_post_ids=[t["post_id"] for t in members],
                key_terms=terms,
                written_by=written_by,
                **fields,
            )
        )
    stats["clusters"] = len(cards)
    return cards, stats
