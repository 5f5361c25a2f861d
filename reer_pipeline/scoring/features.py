"""Measured features of a post: its hook, size, shape, entities and posting slot.

`text_features` works on any text, so drafts and published posts are measured the same way.
`build_post_features` writes one row per original post to the DuckDB table `post_features`.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa

from reer_pipeline.text import HASHTAG_RE, LINK_RE, first_sentence, strip_links

HOOKS = ("quote", "question", "list", "story", "number", "bold_claim", "none")

# Counted features, in the order the model and the lift table use them.
COUNTS = ("chars", "words", "line_breaks", "hashtags", "mentions", "links", "emojis")

MENTION_RE = re.compile(r"(?<![\w@/])@\w{1,30}")
EMOJI_RE = re.compile(
    "[\U0001f300-\U0001faff\U0001f1e6-\U0001f1ff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff]"
)
NUMBER_RE = re.compile(r"(?<![\w/])[$€£]?\d[\d,.]*(?:%|[kKmMbB]\b|x\b)?")
LIST_LINE_RE = re.compile(r"^\s*(?:[-*•·→▪✅]|\d{1,2}[.)]|\(\d{1,2}\))\s+")
QUOTE_OPENERS = ('"', "“", "„", "«", "'", "‘")
STORY_RE = re.compile(
    r"^(?:i|i'm|i’m|i've|i’ve|i was|my|when i|yesterday|today i|this morning|last "
    r"(?:night|week|month|year)|years ago|a (?:few|couple of) (?:days|weeks|months|years) ago|"
    r"once|back in|story time)\b",
    re.IGNORECASE,
)
BOLD_WORDS_RE = re.compile(
    r"\b(?:never|always|everyone|everybody|nobody|no one|every|best|worst|only|must|stop|"
    r"truth|myth|wrong|mistake|secret|nothing|everything)\b",
    re.IGNORECASE,
)


def _opens_list(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return False
    if LIST_LINE_RE.match(lines[0]):
        return True
    items = sum(bool(LIST_LINE_RE.match(ln)) for ln in lines[1:])
    return strip_links(lines[0], "").rstrip().endswith(":") and items >= 2


def hook_type(text: str) -> str:
    """The hook of a post, from its first line and sentence; the first rule that matches wins.

    quote: the sentence opens with a quotation mark. question: it ends with '?'.
    list: the first line is a list item, or ends with ':' and two or more list items (lines
    starting with a bullet, '1.' or '1)') follow. story: it opens in the first
    person or with a time marker ('I', 'My', 'When I', 'Yesterday', 'Last week', ...).
    number: it holds a number ('3 ways', '50%', '$2M'). bold_claim: it ends with '!' or uses an
    absolute word (never, always, best, only, ...). Else none.
    """
    sentence = first_sentence(strip_links(text.strip().split("\n", 1)[0], ""))
    if not sentence:
        return "none"
    if sentence.startswith(QUOTE_OPENERS):
        return "quote"
    if sentence.rstrip(" .\"”'’)").endswith("?"):
        return "question"
    if _opens_list(text):
        return "list"
    if STORY_RE.match(sentence):
        return "story"
    if NUMBER_RE.search(HASHTAG_RE.sub("", MENTION_RE.sub("", sentence))):
        return "number"
    if sentence.endswith("!") or BOLD_WORDS_RE.search(sentence):
        return "bold_claim"
    return "none"


def text_features(text: str) -> dict:
    """The features that the text alone determines: hook and counts (see COUNTS)."""
    bare = strip_links(text)
    return {
        "hook": hook_type(text),
        "chars": len(text),
        "words": len(text.split()),
        "line_breaks": text.count("\n"),
        "hashtags": len(HASHTAG_RE.findall(bare)),
        "mentions": len(MENTION_RE.findall(bare)),
        "links": len(LINK_RE.findall(text)),
        "emojis": len(EMOJI_RE.findall(text)),
    }


TEXT_SCHEMA = pa.schema(
    [pa.field("hook", pa.string())] + [pa.field(name, pa.int32()) for name in COUNTS]
)

POSTS_SQL = """
WITH RECURSIVE chain(platform, author, root, post_id, depth) AS (
    SELECT platform, author, post_id, post_id, 1 FROM posts WHERE is_original
    UNION ALL
    SELECT c.platform, c.author, c.root, p.post_id, c.depth + 1
    FROM chain c JOIN posts p
        ON p.reply_to_id = c.post_id AND p.platform = c.platform AND p.author = c.author
    WHERE p.is_thread AND c.depth < 200
), threads AS (
    SELECT platform, author, root AS post_id, max(depth) AS thread_length
    FROM chain GROUP BY ALL
)
SELECT p.platform, p.author, p.post_id, p.created_at, p.text,
    t.thread_length > 1 AS is_thread,
    t.thread_length::INTEGER AS thread_length,
    p.media_count::INTEGER AS media,
    hour(p.created_at AT TIME ZONE 'UTC')::INTEGER AS hour,
    isodow(p.created_at AT TIME ZONE 'UTC')::INTEGER AS weekday,
    p.engagement, p.engagement_pct
FROM posts p JOIN threads t USING (platform, author, post_id)
WHERE p.is_original
ORDER BY p.platform, p.author, p.created_at, p.post_id
"""


def build_post_features(con: duckdb.DuckDBPyConnection) -> int:
    """Replace `post_features` with one row per original post in `posts`; returns the row count.

    Columns: platform, author, post_id, created_at, text, is_thread (heads a chain of the
    author's own replies), thread_length (posts in that chain, 1 when alone), media, hour and
    weekday (UTC; weekday is ISO, 1 = Monday), engagement, engagement_pct, hook and COUNTS.
    An original post is always the first part of its thread, so its thread position is 1.
    """
    posts = con.sql(POSTS_SQL).to_arrow_table()
    measured = pa.Table.from_pylist(
        [text_features(t) for t in posts.column("text").to_pylist()], schema=TEXT_SCHEMA
    )
    for name in TEXT_SCHEMA.names:
        posts = posts.append_column(name, measured.column(name))
    con.register("post_features_arrow", posts)
    try:
        con.execute("CREATE OR REPLACE TABLE post_features AS SELECT * FROM post_features_arrow")
    finally:
        con.unregister("post_features_arrow")
    return posts.num_rows
