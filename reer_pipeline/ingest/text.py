"""Text cleaning of raw exports: HTML entities and Mastodon HTML (mojibake: encoding.py).

Links are found with `reer_pipeline.text.find_links`."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_SPACES_RE = re.compile(r"[ \t\u00a0]+")
_BLANKS_RE = re.compile(r"\n{3,}")


class _HTMLText(HTMLParser):
    """Mastodon status HTML to plain text: paragraphs become blank lines, <br> newlines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data):
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def clean_text(raw: str, *, is_html: bool = False) -> str:
    """Readable text from a raw post: entities unescaped, HTML removed, whitespace tidied."""
    text = html_to_text(raw) if is_html else html.unescape(raw)
    text = _SPACES_RE.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    if "\n" in text:
        text = _BLANKS_RE.sub("\n\n", "\n".join(line.strip() for line in text.split("\n")))
    return text.strip()
