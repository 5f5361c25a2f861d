"""Topic adherence without a language model: does a draft talk about the requested topic?

A topic is a short phrase ("remote work tips"). Its content words are stemmed crudely (a few
English suffixes off) and looked for in the draft, also inside squashed hashtags and compounds
("#RemoteWork" holds "remote" and "work"). Character 4-grams give partial credit to word forms the
stemmer misses. `topic_score` is 0..1.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from reer_pipeline.text import strip_links, words

# words that say what kind of text is wanted, not what it is about
TOPIC_FILLER = frozenset(
    "post posts tweet tweets thread threads write writing about regarding topic thoughts "
    "update news share sharing new people thing things way ways".split()
)
STOP = ENGLISH_STOP_WORDS | TOPIC_FILLER | {"amp", "rt", "via", "just", "like", "get", "got"}
SUFFIXES = ("ations", "ation", "ings", "ing", "ness", "ments", "ment", "ies", "ied", "ers", "er")
SUFFIXES += ("es", "ed", "ly", "s")
OFF_TOPIC_BELOW = 0.2  # topic_score under this, for a topic with content words, is off topic


def stem(word: str) -> str:
    word = word.lower().replace("’", "'").split("'")[0]
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    """Lower-case words of `text` without links, numbers, stop words or one-letter words."""
    return [w for w in words(text) if len(w) > 1 and not w[0].isdigit() and w not in STOP]


def _grams(text: str, n: int = 4) -> Counter:
    squashed = " " + " ".join(content_words(text)) + " "
    return Counter(squashed[i : i + n] for i in range(len(squashed) - n + 1))


def _cosine(a: Counter, b: Counter) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    norm = math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def topic_terms(topic: str) -> list[str]:
    """The distinct stems of the topic's content words, in order."""
    return list(dict.fromkeys(stem(w) for w in content_words(topic)))


def topic_score(text: str, topic: str) -> float:
    """0..1: the share of the topic's content stems the draft holds (as a word stem or inside a
    squashed word such as a hashtag), or the character 4-gram cosine when that is higher.
    NaN when the topic has no content words (nothing to adhere to)."""
    terms = topic_terms(topic)
    if not terms:
        return float("nan")
    stems = {stem(w) for w in content_words(text)}
    squashed = re.sub(r"[^\w]+", "", strip_links(text).lower())
    found = sum(1 for t in terms if t in stems or (len(t) >= 4 and t in squashed))
    coverage = found / len(terms)
    return max(coverage, min(1.0, _cosine(_grams(topic), _grams(text))))


def off_topic(text: str, topic: str | None) -> bool:
    score = topic_score(text, topic or "")
    return not math.isnan(score) and score < OFF_TOPIC_BELOW
