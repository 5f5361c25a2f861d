"""An author's hashtag habits, read from their own posts."""

from __future__ import annotations

import re
from collections import Counter
from statistics import median

from reer_pipeline.text import HASHTAG_RE

HASHTAG = HASHTAG_RE
TRAILING_TAGS = re.compile(r"(^|[.!?…:)]\s+|\n\s*)((?:#\w+\s*)+)$")  # a closing block of tags
MIN_SHARE = 0.2  # authors tagging fewer posts than this are treated as not tagging
TOP_TAGS = 5

DEFAULT_STYLE = {"hashtag_position": "none", "typical_hashtags": [], "hashtags_per_post": 0}


def split_trailing_tags(text: str) -> tuple[str, list[str]]:
    """The text without its closing block of hashtags (after a sentence or line), and its tags."""
    m = TRAILING_TAGS.search(text)
    if not m:
        return text, []
    return (text[: m.start()] + m.group(1)).rstrip(), HASHTAG.findall(m.group(2))


def author_style(texts: list[str]) -> dict:
    """{hashtag_position: 'end'|'inline'|'none', typical_hashtags, hashtags_per_post}."""
    end = inline = 0
    counts: list[int] = []
    tags: Counter[str] = Counter()
    for text in texts:
        found = HASHTAG.findall(text or "")
        if not found:
            continue
        body, _ = split_trailing_tags(text)
        inline += bool(HASHTAG.search(body))
        end += not HASHTAG.search(body)
        counts.append(len(found))
        tags.update(found)
    if not texts or len(counts) / len(texts) < MIN_SHARE:
        return dict(DEFAULT_STYLE)
    spelling: dict[str, str] = {}  # lowercased tag -> its most used spelling
    totals: Counter[str] = Counter()
    for tag, n in tags.most_common():
        spelling.setdefault(tag.lower(), tag)
        totals[tag.lower()] += n
    return {
        "hashtag_position": "end" if end >= inline else "inline",
        "typical_hashtags": [spelling[t] for t, _ in totals.most_common(TOP_TAGS)],
        "hashtags_per_post": max(1, round(median(counts))),
    }
