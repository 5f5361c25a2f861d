"""Rule-based checks of a draft: platform limits, readability and a hook, as a 0..1 score.

Readability is Flesch reading ease with a vowel-group syllable count. The `textstat` package
was not used: for English it downloads NLTK's cmudict at run time, which this project forbids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reer_pipeline import platforms
from reer_pipeline.platforms import split_thread
from reer_pipeline.scoring.features import MENTION_RE, hook_type
from reer_pipeline.text import split_sentences, strip_links, words

PLATFORM_LIMITS = {name: p.limit for name, p in platforms.PLATFORMS.items()}
THREADED = {name for name, p in platforms.PLATFORMS.items() if p.threaded}

THREAD_LENGTH_SCORE = 0.8  # a clean thread is postable, but a single post is tighter
WEIGHTS = {"length": 0.4, "readability": 0.3, "hook": 0.3}
READABLE = (30.0, 70.0)  # Flesch ease mapped linearly to 0..1 between these (70+: plain English)

VOWELS_RE = re.compile(r"[aeiouy]+")


def syllables(word: str) -> int:
    """Vowel groups, less a silent final 'e'; at least 1."""
    word = word.lower()
    count = len(VOWELS_RE.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and count > 1:
        count -= 1
    return max(1, count)


def flesch_reading_ease(text: str) -> float | None:
    """206.835 - 1.015 words/sentence - 84.6 syllables/word; None for text without words.

    Links, @mentions and bare numbers are left out; a line break ends a sentence too; higher is
    easier (60-70 is plain English).
    """
    lines = MENTION_RE.sub(" ", strip_links(text)).splitlines()
    sentences = [
        [w for w in words(s) if not w.isdigit()] for line in lines for s in split_sentences(line)
    ]
    found = [w for sentence in sentences for w in sentence]
    if not found:
        return None
    n_sentences = sum(1 for sentence in sentences if sentence)
    per_word = sum(syllables(w) for w in found) / len(found)
    return 206.835 - 1.015 * len(found) / n_sentences - 84.6 * per_word


def thread_parts(text: str, platform: str) -> int:
    """1 when `text` fits one post; the number of thread parts when it splits cleanly (no word
    cut) on a threaded platform; 0 when it cannot be posted as it is."""
    p = platforms.get(platform)
    text = text.strip()
    if len(text) <= p.limit:
        return 1
    if p.threaded and max(map(len, text.split()), default=0) < p.limit:
        return len(split_thread(text, p.limit))
    return 0


@dataclass
class HeuristicScore:
    """A 0..1 score: the weighted mean of `components`, or 0 when the text is not postable."""

    score: float
    postable: bool
    components: dict[str, float] = field(default_factory=dict)
    details: dict = field(default_factory=dict)


def heuristic_score(text: str, platform: str) -> HeuristicScore:
    """Score a draft for `platform` (see PLATFORM_LIMITS, WEIGHTS, READABLE).

    length: 1 within the platform limit; THREAD_LENGTH_SCORE when it splits cleanly into a
    thread on a THREADED platform; else 0 and not postable. readability: Flesch ease mapped
    from READABLE to 0..1. hook: 1 when the first sentence has a hook (features.hook_type).
    """
    text = text.strip()
    limit = platforms.limit(platform)  # a ValueError naming the platforms for an unknown one
    parts = thread_parts(text, platform)
    length = 1.0 if parts == 1 else THREAD_LENGTH_SCORE if parts > 1 else 0.0
    ease = flesch_reading_ease(text)
    low, high = READABLE
    readability = 0.0 if ease is None else min(1.0, max(0.0, (ease - low) / (high - low)))
    hook = hook_type(text)
    components = {"length": length, "readability": readability, "hook": float(hook != "none")}
    postable = bool(text) and parts > 0
    score = sum(WEIGHTS[name] * value for name, value in components.items()) if postable else 0.0
    details = {"chars": len(text), "limit": limit, "parts": parts, "flesch": ease, "hook": hook}
    return HeuristicScore(score, postable, components, details)
