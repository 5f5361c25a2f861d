"""Export parsers. The format is detected from the file's content, never from its name.

Each parser streams records and yields `Post`s or `RecordError`s, so a bad record never stops the
file and memory stays bounded however large the export is.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import ijson
from pydantic import BaseModel, ValidationError

from reer_pipeline.ingest.schema import Post
from reer_pipeline.ingest.text import MOJIBAKE_SIGNATURE, clean_text, find_links, repair_mojibake

CHUNK = 1 << 20
MAX_FIELD_CHARS = 1 << 20
X_ARCHIVE_PREFIX = re.compile(rb"^\s*window\.YTD\.(tweets?)\.part\d+\s*=\s*")
STATUS_URL = re.compile(
    r"https?://(?:mobile\.)?(?:twitter|x)\.com/([A-Za-z0-9_]+)/status(?:es)?/(\d+)"
)
X_ANALYTICS_COLUMNS = {"Tweet id", "Tweet permalink", "Tweet text", "time", "impressions"}
LINKEDIN_COLUMNS = {"Date", "ShareLink", "ShareCommentary"}
TIME_FORMATS = (
    "%m/%d/%y %H:%M",
    "%a %b %d %H:%M:%S %z %Y",
    "%Y-%m-%d %H:%M %z",
    "%Y-%m-%d %H:%M:%S",
)


class ExportError(ValueError):
    """The whole file cannot be read. The message names the file and the problem."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path.name}: {problem}")
        self.file = path.name
        self.problem = problem


@dataclass
class RecordError:
    record: int  # 1-based record number within the file
    message: str


class CsvMapping(BaseModel):
    """Columns of a plain CSV export. The defaults read the FiveThirtyEight twitter-ratio files."""

    text: str = "text"
    created_at: str = "created_at"
    post_id: str | None = None  # when absent, taken from the status url
    url: str | None = "url"
    author: str | None = "user"
    likes: str | None = "favorites"
    reposts: str | None = "retweets"
    replies: str | None = "replies"
    impressions: str | None = None
    platform: str = "x"


class ExportOptions(BaseModel):
    """What the content cannot tell: the author of formats that omit it, and the CSV columns."""

    author: str | None = None
    csv: CsvMapping = CsvMapping()


def file_hash(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sniff_encoding(path: Path) -> str:
    """'utf-8', or 'mojibake' for UTF-8 read as cp1252 and saved as Mac Roman; else an error."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = offset + exc.start
                f.seek(0)
                if MOJIBAKE_SIGNATURE in f.read(bad + CHUNK).decode("mac_roman"):
                    return "mojibake"
                raise ExportError(
                    path, f"not UTF-8 text: invalid byte 0x{chunk[exc.start]:02x} at offset {bad}"
                ) from None
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ExportError(path, "not UTF-8 text: the file ends inside a character") from None
    return "utf-8"


def detect_format(path: Path) -> str:
    """One of 'x_archive', 'mastodon', 'x_analytics', 'linkedin', 'csv'."""
    with path.open("rb") as f:
        head = f.read(8192)
    if not head:
        raise ExportError(path, "empty file (0 bytes)")
    if b"\x00" in head:
        raise ExportError(path, "binary file (NUL bytes), not a text export")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ExportError(path, "empty file (only whitespace)")
    if stripped.startswith(b"window."):
        if not X_ARCHIVE_PREFIX.match(stripped):
            prefix = stripped.split(b"=", 1)[0].strip().decode("utf-8", "replace")[:60]
            raise ExportError(
                path, f"X archive prefix {prefix!r} is not window.YTD.tweets.partN or tweet.partN"
            )
        return "x_archive"
    if stripped[:1] in (b"{", b"["):
        if b"orderedItems" in head or b"activitystreams" in head:
            return "mastodon"
        raise ExportError(path, "JSON file that is neither an X archive nor a Mastodon outbox")
    header = next(csv.reader(io.StringIO(stripped.decode("utf-8", "replace").split("\n")[0])))
    columns = {c.strip() for c in header}
    if LINKEDIN_COLUMNS <= columns:
        return "linkedin"
    if X_ANALYTICS_COLUMNS <= columns:
        return "x_analytics"
    return "csv"


def parse_time(value: str) -> datetime:
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        for fmt in TIME_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"unrecognized time {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


def parse_x_time(value: str) -> datetime:
    """X's 'Thu Nov 03 08:50:26 +0000 2022', without strptime (it dominated the profile)."""
    _, month, day, clock, zone, year = value.split()
    iso = f"{year}-{MONTHS[month]:02d}-{day}T{clock}{zone[:3]}:{zone[3:]}"
    return datetime.fromisoformat(iso).astimezone(UTC)


def _count(value) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return int(float(value))


def _post(**fields) -> Post:
    text = fields["text"]
    return Post(links=find_links(text), **fields)


def iter_posts(
    path: Path, options: ExportOptions | None = None, source_hash: str | None = None
) -> Iterator[Post | RecordError]:
    """Stream one export file. Raises ExportError when the file as a whole is unreadable."""
    path = Path(path)
    options = options or ExportOptions()
    fmt = detect_format(path)
    encoding = sniff_encoding(path)
    source = {"source_file": path.name, "source_hash": source_hash or file_hash(path)}
    if fmt == "x_archive":
        records = _x_archive(path, options, source)
    elif fmt == "mastodon":
        records = _mastodon(path, options, source)
    else:
        rows = _csv_rows(path, encoding)
        header = next(rows, None)
        if header is None:
            raise ExportError(path, "empty CSV (no header row)")
        parser = {"linkedin": _linkedin_row, "x_analytics": _x_analytics_row, "csv": _plain_row}
        if fmt == "csv":
            _check_columns(path, header, options.csv)
        records = _csv_records(path, rows, header, parser[fmt], options, source)
    yield from records


def _numbered(path: Path, items, build) -> Iterator[Post | RecordError]:
    """Run `build` on each item, turning its failures into RecordErrors."""
    for n, item in enumerate(items, start=1):
        try:
            post = build(item)
        except (ValidationError, ValueError, KeyError, TypeError, AttributeError) as exc:
            yield RecordError(n, _short(exc))
            continue
        if post is not None:
            yield post


def _json_items(path: Path, f, prefix: str) -> Iterator[dict]:
    """Stream the JSON objects at `prefix`; damage ends the file after the records before it."""
    n = 0
    try:
        for item in ijson.items(f, prefix, use_float=True):
            yield item
            n += 1
    except ijson.JSONError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ExportError(path, f"malformed or truncated JSON after record {n}: {reason}") from None


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
    return f"{type(exc).__name__}: {exc}"[:300]


# --- X archive -------------------------------------------------------------------------------


def _x_archive(path: Path, options: ExportOptions, source: dict) -> Iterator[Post | RecordError]:
    with path.open("rb") as f:
        head = f.read(256)
        f.seek(X_ARCHIVE_PREFIX.match(head.lstrip(b"\xef\xbb\xbf")).end() + _bom(head))
        tweets = (item.get("tweet", item) for item in _json_items(path, f, "item"))
        author, buffered, damage = options.author, [], None
        if author is None:
            # tweets.js does not name its author; the status urls of its own media do.
            try:
                for tweet in tweets:
                    buffered.append(tweet)
                    author = _archive_author(tweet)
                    if author or len(buffered) >= 5000:
                        break
            except ExportError as exc:
                damage = exc
        tweets = _chain(buffered, tweets, damage)
        yield from _numbered(path, tweets, lambda t: _x_tweet(t, author or "me", source))


def _bom(head: bytes) -> int:
    return 3 if head.startswith(b"\xef\xbb\xbf") else 0


def _chain(first: list, rest, damage: Exception | None):
    yield from first
    if damage:
        raise damage
    yield from rest


def _archive_author(tweet: dict) -> str | None:
    media = tweet.get("extended_entities", tweet.get("entities", {})).get("media", [])
    for item in media:
        match = STATUS_URL.match(item.get("expanded_url", ""))
        if match and match.group(2) == tweet.get("id_str"):
            return match.group(1)
    return None


def _x_tweet(t: dict, author: str, source: dict) -> Post:
    raw = t["full_text"]
    text = clean_text(raw)
    reply_to = t.get("in_reply_to_status_id_str")
    return _post(
        platform="x",
        author=author,
        post_id=t["id_str"],
        created_at=parse_x_time(t["created_at"]),
        text=text,
        raw_text=raw,
        is_repost=raw.startswith("RT @"),
        is_reply=reply_to is not None,
        is_thread=reply_to is not None and t.get("in_reply_to_screen_name") == author,
        reply_to_id=reply_to,
        lang=t.get("lang") if t.get("lang") not in (None, "und") else None,
        likes=_count(t.get("favorite_count")),
        reposts=_count(t.get("retweet_count")),
        media_count=len(t.get("extended_entities", {}).get("media", [])),
        url=f"https://x.com/{author}/status/{t['id_str']}",
        **source,
    )


# --- Mastodon --------------------------------------------------------------------------------


def _mastodon(path: Path, options: ExportOptions, source: dict) -> Iterator[Post | RecordError]:
    with path.open("rb") as f:
        items = _json_items(path, f, "orderedItems.item")
        yield from _numbered(path, items, lambda a: _mastodon_activity(a, options, source))


def _mastodon_activity(activity: dict, options: ExportOptions, source: dict) -> Post | None:
    actor = activity["actor"]
    author = options.author or actor.rstrip("/").rsplit("/", 1)[-1]
    if activity["type"] == "Announce":
        boosted = (
            activity["object"] if isinstance(activity["object"], str) else activity["object"]["id"]
        )
        return _post(
            platform="mastodon",
            author=author,
            post_id=activity["id"].rstrip("/").removesuffix("/activity").rsplit("/", 1)[-1],
            created_at=parse_time(activity["published"]),
            text=boosted,
            raw_text=boosted,
            is_repost=True,
            url=boosted,
            **source,
        )
    if activity["type"] != "Create":
        raise ValueError(f"unsupported activity type {activity['type']!r}")
    note = activity["object"]
    reply_to = note.get("inReplyTo")
    return _post(
        platform="mastodon",
        author=author,
        post_id=note["id"].rstrip("/").rsplit("/", 1)[-1],
        created_at=parse_time(note["published"]),
        text=clean_text(note["content"], is_html=True) or _alt_text(note),
        raw_text=note["content"],
        is_reply=reply_to is not None,
        is_thread=bool(reply_to and reply_to.startswith(actor + "/")),
        reply_to_id=reply_to.rstrip("/").rsplit("/", 1)[-1] if reply_to else None,
        lang=next(iter(note.get("contentMap") or {}), None),
        media_count=len(note.get("attachment") or []),
        url=note.get("url"),
        **source,
    )


def _alt_text(note: dict) -> str:
    """A media-only status is known by its attachments' descriptions."""
    return " ".join(
        f"[media: {a.get('name') or a.get('mediaType', '')}]" for a in note["attachment"]
    )


# --- CSV formats ------------------------------------------------------------------------------


def _csv_rows(path: Path, encoding: str) -> Iterator[list[str]]:
    csv.field_size_limit(MAX_FIELD_CHARS)
    with path.open(
        encoding="mac_roman" if encoding == "mojibake" else "utf-8-sig", newline=""
    ) as f:
        lines = f if encoding == "utf-8" else (repair_mojibake(line) for line in f)
        reader = csv.reader(lines)
        try:
            yield from reader
        except csv.Error as exc:
            raise ExportError(path, f"CSV line {reader.line_num}: {exc}") from None


def _check_columns(path: Path, header: list[str], mapping: CsvMapping) -> None:
    columns = [c.strip() for c in header]
    missing = [c for c in (mapping.text, mapping.created_at) if c not in columns]
    if missing:
        raise ExportError(
            path, f"CSV lacks the column(s) {missing} named by the mapping; it has {columns[:12]}"
        )


def _csv_records(path, rows, header, parse_row, options, source):
    names = [c.strip() for c in header]
    dicts = (
        dict(zip(names, row, strict=False)) for row in rows if any(cell.strip() for cell in row)
    )
    yield from _numbered(path, dicts, lambda row: parse_row(row, options, source))


def _plain_row(row: dict, options: ExportOptions, source: dict) -> Post:
    m = options.csv
    raw = row[m.text]
    text = clean_text(raw)
    url = row.get(m.url) if m.url else None
    status = STATUS_URL.match(url or "")
    author = (
        (row.get(m.author) if m.author else None)
        or options.author
        or (status.group(1) if status else None)
    )
    post_id = row.get(m.post_id) if m.post_id else (status.group(2) if status else None)
    if not post_id:
        raise ValueError("no post id: the mapping names no id column and the url is not a status")
    return _post(
        platform=m.platform,
        author=author or "me",
        post_id=post_id,
        created_at=parse_time(row[m.created_at]),
        text=text,
        raw_text=raw,
        is_repost=text.startswith("RT @"),
        is_reply=text.startswith("@"),
        likes=_count(row.get(m.likes)) if m.likes else None,
        reposts=_count(row.get(m.reposts)) if m.reposts else None,
        replies=_count(row.get(m.replies)) if m.replies else None,
        impressions=_count(row.get(m.impressions)) if m.impressions else None,
        url=url or None,
        **source,
    )


def _x_analytics_row(row: dict, options: ExportOptions, source: dict) -> Post:
    raw = row["Tweet text"]
    text = clean_text(raw)
    status = STATUS_URL.match(row["Tweet permalink"])
    return _post(
        platform="x",
        author=options.author or (status.group(1) if status else "me"),
        post_id=row["Tweet id"],
        created_at=parse_time(row["time"]),
        text=text,
        raw_text=raw,
        is_repost=text.startswith("RT @"),
        is_reply=text.startswith("@"),
        likes=_count(row.get("likes")),
        reposts=_count(row.get("retweets")),
        replies=_count(row.get("replies")),
        impressions=_count(row.get("impressions")),
        url=row["Tweet permalink"],
        **source,
    )


def _linkedin_row(row: dict, options: ExportOptions, source: dict) -> Post:
    raw = row["ShareCommentary"]
    link = row["ShareLink"]
    return _post(
        platform="linkedin",
        author=options.author or "me",
        post_id=link.rstrip("/").rsplit("%3A", 1)[-1].rsplit(":", 1)[-1],
        created_at=parse_time(row["Date"]),
        # A share with no commentary is a plain repost; its only content is what it points at.
        text=clean_text(_unquote_lines(raw)) or (row.get("SharedUrl") or "").strip() or link,
        raw_text=raw,
        is_repost=not raw.strip(),
        media_count=1 if (row.get("MediaUrl") or "").strip() else 0,
        url=link,
        **source,
    )


def _unquote_lines(text: str) -> str:
    """LinkedIn wraps each line of a multi-line post in stray quotes: strip them."""
    lines = text.split("\n")
    if len(lines) < 2:
        return text
    out = []
    for i, line in enumerate(lines):
        if i > 0 and line.startswith('"'):
            line = line[1:]
        if i < len(lines) - 1 and line.endswith('"'):
            line = line[:-1]
        out.append(line)
    return "\n".join(out)
