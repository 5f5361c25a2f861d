"""Text cleaning: HTML entities, Mastodon HTML, mojibake, and link marking."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

LINK_RE = re.compile(r"https?://[^\s<>\"']+")
_SPACES_RE = re.compile(r"[ \t\u00a0]+")
_BLANKS_RE = re.compile(r"\n{3,}")

# The FiveThirtyEight files hold UTF-8 that was read as cp1252 twice over and saved as Mac Roman.
# Decoding walks that chain back. The third byte of a 3-byte sequence is sometimes lost: the
# cp1252 character it became has no Mac Roman code and was written as "_", or it was undefined in
# cp1252 and came back as "˘". These fills restore the characters that the data shows were lost.
_LOST_THIRD_BYTE = {("\u2026", "_"), ("\u201d", "\u02d8")}
MOJIBAKE_SIGNATURE = "\u2030\u00db"  # "‰Û", the Mac Roman face of UTF-8's E2 80 lead bytes


def _cp1252(ch: str) -> bytes:
    try:
        return ch.encode("cp1252")
    except UnicodeEncodeError:
        # The five bytes cp1252 leaves undefined were passed through as their latin-1 code points.
        return bytes([ord(ch)]) if ord(ch) < 256 else b"?"


def _from_cp1252(data: bytes) -> str:
    return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in data)


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 -> cp1252 -> Mac Roman mojibake in text decoded as Mac Roman."""
    once = b"".join(_cp1252(ch) for ch in text).decode("mac_roman")
    for full, lost in _LOST_THIRD_BYTE:
        utf8 = full.encode("utf-8")
        once = once.replace(_from_cp1252(utf8[:2]) + lost, _from_cp1252(utf8))
    return b"".join(_cp1252(ch) for ch in once).decode("utf-8", errors="replace")


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


def find_links(text: str) -> list[str]:
    """Links stay in the text; this marks them (t.co and others) for features and filters."""
    return [m.rstrip(".,;:!?)…") for m in LINK_RE.findall(text)]
