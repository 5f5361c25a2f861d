"""Platforms and accounts: names, character limits, threading rules, display names, links.

The one place that knows what a platform is. An account, `<platform>:<author>`, is the unit of
the product: every model-using asset is partitioned by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reer_pipeline.text import paragraphs, split_sentences


@dataclass(frozen=True)
class Platform:
    name: str  # the key: `posts.platform`, the first half of an account
    display: str  # the name prompts and requests use ("Write a LinkedIn post about ...")
    limit: int  # characters per post when drafting and posting
    threaded: bool  # a long draft becomes a numbered thread (else it is cut to one post)
    # The longest text the platform itself lets a post have: an exported record beyond it is
    # not a post that platform published, so ingest refuses it.
    text_max: int
    aliases: tuple[str, ...] = ()  # other names people use for it
    shorteners: tuple[str, ...] = ()  # its link domains that appear without a scheme


PLATFORMS = {
    p.name: p
    for p in (
        Platform(
            name="x",
            display="X (Twitter)",
            limit=280,
            threaded=True,
            text_max=25_000,  # X Premium long posts
            aliases=("twitter",),
            shorteners=("pic.twitter.com", "t.co"),
        ),
        Platform(
            name="linkedin",
            display="LinkedIn",
            limit=3000,
            threaded=False,
            text_max=3_000,
            shorteners=("lnkd.in",),
        ),
        Platform(
            name="mastodon",
            display="Mastodon",
            limit=500,
            threaded=True,
            text_max=100_000,  # 500 is only the default; instances raise it, some to 100,000
        ),
        Platform(
            name="bluesky",
            display="Bluesky",
            limit=300,  # graphemes; counted as characters here, which is stricter for emoji
            threaded=True,
            text_max=3_000,  # the lexicon's byte cap, read as characters
            aliases=("bsky",),
        ),
        Platform(
            name="facebook",
            display="Facebook",
            limit=3000,  # a Page post can be 63,206 characters; drafts keep to LinkedIn's length
            threaded=False,
            text_max=63_206,
            aliases=("fb",),
            shorteners=("fb.me",),
        ),
        Platform(
            name="discord",
            display="Discord",
            limit=2000,  # a webhook message's content limit
            threaded=True,
            text_max=4_000,  # Nitro messages
        ),
    )
}
NAMES = tuple(PLATFORMS)
ALIASES = {alias: p.name for p in PLATFORMS.values() for alias in p.aliases}
# Link shorteners seen in posts without a scheme: the platforms' own, and bit.ly, which is
# everyone's.
SHORTENERS = tuple(d for p in PLATFORMS.values() for d in p.shorteners) + ("bit.ly",)


def get(name: str) -> Platform:
    """The platform called `name` (case-insensitive, `twitter` = `x`), or a ValueError naming
    the known ones."""
    key = ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if key not in PLATFORMS:
        raise ValueError(f"unknown platform {name!r}; expected one of {', '.join(NAMES)}")
    return PLATFORMS[key]


def limit(name: str) -> int:
    return get(name).limit


def display_name(name: str) -> str:
    """How a prompt names the platform; a platform not in the table still reads as a name."""
    try:
        return get(name).display
    except ValueError:
        return str(name).strip().capitalize()


# ---- threading --------------------------------------------------------------------------------
def _paragraphs(text: str) -> list[list[tuple[str, str]]]:
    """Paragraphs as lists of (separator before, sentence), keeping line breaks."""
    found = []
    for para in paragraphs(text):
        units = []
        for i, line in enumerate(para.splitlines()):
            for s, sentence in enumerate(split_sentences(line)):
                if sentence:
                    units.append((" " if s else "\n" if i else "", sentence))
        if units:
            found.append(units)
    return found


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


# ---- accounts ---------------------------------------------------------------------------------
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, order=True)
class Account:
    """One person on one platform; its partition key is `<platform>:<author>`."""

    platform: str
    author: str

    @classmethod
    def parse(cls, key: str) -> Account:
        platform, sep, author = str(key).partition(":")
        if not sep or not author:
            raise ValueError(f"invalid account {key!r}: expected '<platform>:<author>'")
        return cls(get(platform).name, author)

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.author}"

    @property
    def slug(self) -> str:
        """A folder name for the account's files."""
        return f"{self.platform}__{UNSAFE.sub('_', self.author)}"

    def __str__(self) -> str:
        return self.key
