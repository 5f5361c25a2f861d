"""Deterministic packaging of a draft for a platform: hashtags, length limits and X threads."""

from __future__ import annotations

import re

from reer_pipeline.program.style import DEFAULT_STYLE, HASHTAG, split_trailing_tags

PLATFORM_LIMITS = {"x": 280, "linkedin": 3000, "mastodon": 500}
THREADED = {"x", "mastodon"}  # platforms where a long draft becomes a numbered thread
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
DEFAULT_TAG_CAP = 3


def normalize(text: str) -> str:
    """Collapse spaces, strip lines, keep at most one blank line between paragraphs."""
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _paragraphs(text: str) -> list[list[tuple[str, str]]]:
    """Paragraphs as lists of (separator before, sentence), keeping line breaks."""
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        units = []
        for i, line in enumerate(para.splitlines()):
            for s, sentence in enumerate(SENTENCE_END.split(line.strip())):
                if sentence:
                    units.append((" " if s else "\n" if i else "", sentence))
        if units:
            paragraphs.append(units)
    return paragraphs


def _fit(sentence: str, limit: int) -> list[str]:
    """A sentence as chunks of whole words within `limit` (a single longer word is cut)."""
    if len(sentence) <= limit:
        return [sentence]
    chunks, cur = [], ""
    for word in sentence.split():
        while len(word) > limit:
            if cur:
                chunks.append(cur)
                cur = ""
            chunks.append(word[:limit])
            word = word[limit:]
        if cur and len(cur) + 1 + len(word) <= limit:
            cur += " " + word
        else:
            if cur:
                chunks.append(cur)
            cur = word
    return chunks + [cur] if cur else chunks


def pack(text: str, limit: int) -> list[str]:
    """Greedy parts of at most `limit` chars, broken between paragraphs where a paragraph fits
    in a part, else between sentences, else between words."""
    parts, cur = [], ""
    for units in _paragraphs(text):
        size = sum(len(sep) + len(s) for sep, s in units)
        if cur and len(cur) + 2 + size > limit and size <= limit:
            parts.append(cur)
            cur = ""
        for k, (sep, sentence) in enumerate(units):
            sep = "\n\n" if k == 0 else sep
            for chunk in _fit(sentence, limit):
                if cur and len(cur) + len(sep) + len(chunk) <= limit:
                    cur += sep + chunk
                else:
                    if cur:
                        parts.append(cur)
                    cur = chunk
                sep = " "
    return parts + [cur] if cur else parts


def split_thread(text: str, limit: int) -> list[str]:
    """Thread parts within `limit`, numbered ` i/n` only when there is more than one."""
    n, parts = 1, pack(text, limit)
    while len(parts) > n:
        n = len(parts)
        parts = pack(text, limit - len(f" {n}/{n}"))
    if len(parts) == 1:
        return parts
    return [f"{p} {i}/{len(parts)}" for i, p in enumerate(parts, 1)]


def _tag_word(body: str, tag: str) -> tuple[str, bool]:
    """Turn the first whole-word use of `tag` in `body` into a hashtag."""
    m = re.search(rf"(?<![\w#]){re.escape(tag)}(?!\w)", body, flags=re.IGNORECASE)
    if not m:
        return body, False
    return body[: m.start()] + "#" + m.group() + body[m.end() :], True


def place_hashtags(text: str, style: dict | None, topic: str = "") -> tuple[str, list[str]]:
    """(body, closing tags) with hashtags where the author puts them (`style` from author_style).

    'none' drops the '#'; 'end' moves every tag to a closing block; 'inline' tags words in the
    text. Tags come from the draft and from the author's typical tags the draft or topic mentions.
    """
    style = style or DEFAULT_STYLE
    position = style.get("hashtag_position", "none")
    cap = style.get("hashtags_per_post") or DEFAULT_TAG_CAP
    body, closing = split_trailing_tags(text)
    inline = HASHTAG.findall(body)
    plain = HASHTAG.sub(r"\1", body)
    mentioned = f"{plain}\n{topic}".lower()
    typical = [
        t
        for t in style.get("typical_hashtags", [])
        if re.search(rf"(?<!\w){re.escape(t.lower())}(?!\w)", mentioned)
    ]
    wanted = list(dict.fromkeys(t.lower() for t in [*inline, *typical, *closing]))
    if position == "end":
        spelled: dict[str, str] = {}  # the author's spelling first
        for t in [*typical, *inline, *closing]:
            spelled.setdefault(t.lower(), t)
        return plain, [spelled[t] for t in wanted[:cap]]
    if position == "inline":
        body, placed = plain, 0
        for tag in wanted:
            if placed < cap:
                body, ok = _tag_word(body, tag)
                placed += ok
        return body, []
    return plain, []


def package(text: str, platform: str, style: dict | None = None, topic: str = "") -> dict:
    """The post as published: text, thread parts, limit, whether it fits, and its hashtags."""
    if platform not in PLATFORM_LIMITS:
        raise ValueError(
            f"unknown platform {platform!r}; expected one of {sorted(PLATFORM_LIMITS)}"
        )
    limit = PLATFORM_LIMITS[platform]
    body, tags = place_hashtags(normalize(text), style, topic)
    block = " ".join(f"#{t}" for t in tags)
    truncated = False
    if platform in THREADED:
        full = "\n\n".join(x for x in (body, block) if x)
        parts = split_thread(full, limit) if full else []
    else:
        room = limit - (len(block) + 2 if block else 0)
        kept = pack(body, room)
        truncated = len(kept) > 1
        full = "\n\n".join(x for x in (kept[:1] + [block]) if x)
        parts = [full] if full else []
    return {
        "text": full,
        "parts": parts,
        "limit": limit,
        "within_limit": all(len(p) <= limit for p in parts),
        "truncated": truncated,
        "hashtags": HASHTAG.findall(full),
    }
