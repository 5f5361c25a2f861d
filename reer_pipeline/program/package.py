"""Deterministic packaging of a draft for a platform: links, hashtags, length limits and X
threads."""

from __future__ import annotations

import re
from collections.abc import Sequence

from reer_pipeline import platforms
from reer_pipeline.platforms import pack, split_thread
from reer_pipeline.program.style import DEFAULT_STYLE, HASHTAG, split_trailing_tags
from reer_pipeline.text import link_re

DEFAULT_TAG_CAP = 3
LINK = "[link]"  # what a link in the author model's training targets became
URL = link_re(platforms.SHORTENERS)  # any link, also "www." and bare short links
_MD_LINK = re.compile(r"\[+[^\]\n]{0,40}\]+\((?:[^)\s]*)\)")  # [text](url), [[Link]](url)
_PLACEHOLDER = re.compile(r"\[+\s*link\s*\]+(?!\()", re.I)  # [link], [Link], [[link]]


def fill_links(text: str, links: Sequence[str] = ()) -> str:
    """Every link a generated draft holds (a URL, a markdown link, a `[link]`-style placeholder)
    becomes the next of the real `links`, or is dropped (with the space before it) when none are
    left. So a URL the model invented never reaches a draft."""
    text = _MD_LINK.sub(LINK, text)
    text = URL.sub(LINK, text)
    text = _PLACEHOLDER.sub(LINK, text)
    pending = list(links)

    def sub(m: re.Match) -> str:
        return (m.group(1) + pending.pop(0)) if pending else ""

    out = re.sub(r"(\s?)" + re.escape(LINK), sub, text)
    out = re.sub(r"[ \t]+\n", "\n", out)
    return re.sub(r"\s*[-:–—]\s*$", "", out.strip()).strip()


def normalize(text: str) -> str:
    """Collapse spaces, strip lines, keep at most one blank line between paragraphs."""
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


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


def package(
    text: str,
    platform: str,
    style: dict | None = None,
    topic: str = "",
    links: Sequence[str] = (),
) -> dict:
    """The post as published: text (its links the topic's real `links`, others dropped), thread
    parts, limit, whether it fits, and its hashtags."""
    spec = platforms.get(platform)
    limit = spec.limit
    body, tags = place_hashtags(normalize(fill_links(text, links)), style, topic)
    block = " ".join(f"#{t}" for t in tags)
    truncated = False
    if spec.threaded:
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
