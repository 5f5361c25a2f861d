"""Strategy cards: cluster an author's REER trajectories, then name each cluster's strategy."""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import asdict, dataclass

import dspy
import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import TfidfVectorizer

from reer_pipeline.program.subjects import GENERAL_WORDS
from reer_pipeline.scoring.topic import STOP
from reer_pipeline.text import words

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


MARKUP = re.compile(r"[#{}\[\]<>|*`\\]|\.json\b|https?://", re.I)
RUN = re.compile(r"(.{1,6}?)\1{3,}")  # "1.1.1.1", "####", "ababab": a loop in miniature
WORD = re.compile(r"[^\W\d_]{3,}")
CARD_FIELDS = ("name", "when_to_use", "structure", "example_hook")


def degenerate(text: str) -> bool:
    """Whether a card field is model debris rather than words: empty, markup or template
    residue ("## posts##", "{Post.json}"), a repeating run ("#1.1.1.1"), or a loop of words."""
    text = str(text or "").strip()
    words = WORD.findall(text)
    if not words or RUN.search(text) or len(MARKUP.findall(text)) >= 2:
        return True
    letters = sum(ch.isalpha() or ch.isspace() for ch in text)
    if letters < 0.8 * len(text):
        return True
    lower = [w.lower() for w in words]
    return len(lower) >= 6 and len(set(lower)) < 0.5 * len(lower)


# what a trajectory says about writing any post, not what this cluster's posts are about
PLAN_WORDS = frozenset(
    "will want going make start open opening end ending close hook readers reader audience "
    "followers tone voice structure paragraph paragraphs sentence sentences line lines short "
    "message goal idea ideas point points plan think feel engage engagement call action "
    "followed follow author".split()
)
PAIR_WEIGHT = 2.0  # a pair of words side by side ("health care") names a subject better


def _kept(text: str) -> list[str | None]:
    """Each word of `text`, or None where it says nothing about the subject."""
    out = []
    for w in words(text):
        w = w.removesuffix("'s")
        bad = (
            "'" in w
            or len(w) < 3
            or not w.isalpha()
            or w in STOP
            or w in PLAN_WORDS
            or w in GENERAL_WORDS
        )
        out.append(None if bad else w)
    return out


def content_terms(text: str) -> list[str]:
    """The words of `text` that say what it is about, and its pairs of such words side by side
    ("health care"): no stop words, no contraction residue ("we'll", "ll"), no numbers, no words
    about posts or about planning one."""
    kept = _kept(text)
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(kept) if a and b and a != b]
    return [w for w in kept if w] + pairs


def _phrase(terms: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return " and ".join(filter(None, [", ".join(terms[:-1]), terms[-1]])) if terms else ""


def fallback_fields(terms: list[str], first: dict | None = None) -> dict:
    """The deterministic card of a cluster: its top terms, and the best trace's opening."""
    first = first or {}
    structure = str(first.get("trajectory") or "").split("\n\n")[0][:300]
    hook = str(first.get("y") or "").split("\n")[0][:200]
    return {
        "name": " / ".join(terms[:3]) or "uncategorized",
        "when_to_use": f"When the subject is {_phrase(terms[:3]) or 'one of these themes'}.",
        "structure": structure if structure and not degenerate(structure) else "one clear point",
        "example_hook": hook if hook and not degenerate(hook) else "",
    }


NAME_WORDS = 6  # a name is a label ("health care calls to action"), not a sentence


def bad_name(name: str) -> bool:
    """A name that is not a label: debris, a quote or a line copied from a post (seen:
    `, "No one is born hating another`), or a sentence."""
    name = str(name or "").strip()
    return (
        degenerate(name)
        or not name[:1].isalnum()
        or any(q in name for q in '"“”‘’')
        or len(name.split()) > NAME_WORDS
        or name[-1] in ",;:"
    )


def card_is_degenerate(card: dict) -> bool:
    """A card whose name, use or structure is debris (the hook may be empty)."""
    return bad_name(card.get("name", "")) or any(
        degenerate(card.get(k, "")) for k in ("when_to_use", "structure")
    )


def clean_cards(cards: list[dict]) -> tuple[list[dict], int]:
    """Cards with every degenerate one replaced by its deterministic card (from its key terms),
    and how many were replaced. Cards written before the check are cleaned when read."""
    out, replaced = [], 0
    for card in cards:
        if card_is_degenerate(card):
            replaced += 1
            terms = [str(t) for t in card.get("key_terms") or []]
            card = {**card, **fallback_fields(terms), "written_by": "fallback"}
        out.append(card)
    return out, replaced


def _top_terms(row: np.ndarray, terms: np.ndarray, k: int) -> list[str]:
    """The k best terms of a centre, a pair counting `PAIR_WEIGHT` times; a term sharing a word
    with a better one is left out."""
    weight = row * np.array([PAIR_WEIGHT if " " in t else 1.0 for t in terms])
    out: list[str] = []
    for i in np.argsort(-weight, kind="stable"):
        if weight[i] <= 0 or len(out) == k:
            break
        if not any(set(terms[i].split()) & set(t.split()) for t in out):
            out.append(str(terms[i]))
    return out


def cluster(
    texts: list[str],
    max_clusters: int = 5,
    min_size: int = 3,
    seed: int = 0,
    subjects: list[str] | None = None,
):
    """Cluster texts with TF-IDF (of their content terms and pairs of them) + k-means:
    (labels, top terms per cluster). Given `subjects` (the posts), a cluster's terms are only
    those its texts share with them, so a plan's words ("invites replies") name none."""
    k = max(1, min(max_clusters, len(texts) // min_size))
    vectorizer = TfidfVectorizer(
        analyzer=content_terms,
        max_features=2000,
        sublinear_tf=True,
    )
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
    if subjects is not None:
        said = {t for text in subjects for t in content_terms(text)}
        centers = centers * np.array([t in said for t in terms])
    return labels, [_top_terms(row, terms, 5) for row in centers]


def write_cards(
    traces: list[dict], lm: dspy.LM | None, uri: str, max_clusters: int = 5, examples: int = 3
) -> tuple[list[StrategyCard], dict]:
    """One card per cluster of one author's traces. Parse failures and degenerate cards (see
    `degenerate`) fall back to the deterministic card, counted, never raise."""
    stats = {"clusters": 0, "calls": 0, "parse_failures": 0, "degenerate": 0}
    if not traces:
        return [], stats
    labels, top_terms = cluster(
        [f"{t['y']}\n\n{t['trajectory']}" for t in traces],
        max_clusters,
        subjects=[t["y"] for t in traces],
    )
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
                fields = {k: str(getattr(out, k)).strip() for k in CARD_FIELDS}
                if not all(fields.values()):
                    raise ValueError("empty field")
                written_by = uri
            except Exception as exc:  # noqa: BLE001 - a small model's bad output is counted
                stats["parse_failures"] += 1
                log.warning("strategy card for cluster %s did not parse: %s", label, exc)
                fields = None
        terms = top_terms[label] if label < len(top_terms) else []
        if fields is not None and card_is_degenerate(fields):
            stats["degenerate"] += 1
            log.warning("strategy card for cluster %s is degenerate: %s", label, fields["name"])
            fields, written_by = None, "fallback"
        if fields is None:
            fields = fallback_fields(terms, first)
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
