"""Export parsers. The format is detected from the file's content, never from its name.

Each parser streams records and yields `Post`s or `RecordError`s, so a bad record never stops the
file and memory stays bounded however large the export is (see `limits.IngestLimits`). Every
problem is one sentence that names the file, the record and the field; no Python exception
reaches the caller except `ExportError`, whose message is such a sentence.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ValidationError

from reer_pipeline.ingest.encoding import Encoding, EncodingError, detect_encoding, sniff_bytes
from reer_pipeline.ingest.jsonstream import JsonDamage, JsonStream, Skipped, human_size
from reer_pipeline.ingest.limits import IngestLimits
from reer_pipeline.ingest.mapping import (
    CsvMapping,
    MappingError,
    describe,
    load_column_mapping,
    merge,
    resolve,
    sidecar_path,
)
from reer_pipeline.ingest.schema import Post
from reer_pipeline.ingest.text import clean_text, find_links

__all__ = [
    "CsvMapping",
    "ExportError",
    "ExportOptions",
    "IngestLimits",
    "ParseStats",
    "RecordError",
    "detect_format",
    "file_hash",
    "iter_posts",
    "load_column_mapping",
    "parse_time",
    "parse_x_time",
]

CHUNK = 1 << 20
HEAD = 1 << 16
X_ARCHIVE_PREFIX = re.compile(r"\ufeff?\s*window\.YTD\.(tweets?)\.part\d+\s*=\s*")
ACCOUNT_PREFIX = re.compile(r"\ufeff?\s*window\.YTD\.account\.part\d+\s*=\s*")
X_PART = re.compile(r"(?:^|/)data/tweets?(?:-part(\d+))?\.js$")
X_ACCOUNT = re.compile(r"(?:^|/)data/account\.js$")
STATUS_URL = re.compile(
    r"https?://(?:mobile\.)?(?:twitter|x)\.com/([A-Za-z0-9_]+)/status(?:es)?/(\d+)"
)
X_ANALYTICS_COLUMNS = {"Tweet id", "Tweet permalink", "Tweet text", "time", "impressions"}
LINKEDIN_COLUMNS = {"Date", "ShareLink", "ShareCommentary"}
TIME_FORMATS = (
    "%m/%d/%y %H:%M",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%a %b %d %H:%M:%S %z %Y",
    "%Y-%m-%d %H:%M %z",
    "%Y-%m-%d %H:%M:%S",
)
AUTHOR_SCAN_CHARS = 16 << 20  # tweets held back while the author is looked for in media urls


class ExportError(ValueError):
    """The whole file cannot be read. The message names the file and the problem."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path.name}: {problem}")
        self.file = path.name
        self.problem = problem


@dataclass
class RecordError:
    record: int  # 1-based record number within the file (across all parts of an archive)
    message: str  # one sentence about the record, naming the field where there is one
    field: str | None = None
    where: str | None = None  # the archive member, for a zip

    def __str__(self) -> str:
        return f"{self.where + ' ' if self.where else ''}record {self.record}: {self.message}"


@dataclass
class ParseStats:
    """What the parser learned about the file as a whole, for the parse report."""

    format: str | None = None
    encoding: str | None = None
    mapping: dict | None = None  # plain CSV: field -> column actually used
    columns: list[str] | None = None  # plain CSV: the header
    members: list[str] = field(default_factory=list)  # archive: the tweets parts read
    author_from: str | None = None
    nul_removed: int = 0
    repaired_lines: int = 0
    lost_chars: int = 0  # U+FFFD in stored text: bytes an encoding chain destroyed


class ExportOptions(BaseModel):
    """What the content cannot tell: the author of formats that omit it, the CSV columns, and
    the limits. `csv` fields left None are taken from `<file>.columns.yaml`, then detected."""

    author: str | None = None
    csv: CsvMapping = CsvMapping()
    limits: IngestLimits = IngestLimits()
    use_mapping_file: bool = True


_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXT_FIELDS = ("text", "raw_text", "author", "post_id", "url", "lang", "reply_to_id")


class RecordProblem(Exception):
    """Raised inside a record builder: one sentence about one field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def file_hash(path: Path) -> str:
    """SHA-256 of a file; of a folder, of its X archive parts (names and contents)."""
    digest = hashlib.sha256()
    path = Path(path)
    files = [path] if not path.is_dir() else [p for _, p in _dir_parts(path)]
    for p in files:
        if path.is_dir():
            digest.update(p.relative_to(path).as_posix().encode() + b"\0")
        with p.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


# --- detection -------------------------------------------------------------------------------


def _sniff(path: Path, limits: IngestLimits) -> tuple[str, Encoding | None, bytes]:
    """(format, encoding proved by the first bytes or None, head)."""
    if path.is_dir():
        if not _dir_parts(path):
            raise ExportError(
                path, "a folder that is not an unzipped X archive (no data/tweets.js)"
            )
        return "x_archive_dir", None, b""
    size = path.stat().st_size
    if size == 0:
        raise ExportError(path, "empty file (0 bytes)")
    if size > limits.max_file_bytes:
        raise ExportError(
            path,
            f"the file is {human_size(size)}, over the {human_size(limits.max_file_bytes)} limit",
        )
    with path.open("rb") as f:
        head = f.read(HEAD)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "x_archive_zip", None, head
    try:
        enc = sniff_bytes(head)
    except EncodingError as exc:
        raise ExportError(path, str(exc)) from None
    text = head[enc.skip if enc else 0 :].decode(enc.codec if enc else "utf-8", "replace")
    stripped = text.replace("\x00", "").lstrip("\ufeff \t\r\n")
    if not stripped:
        raise ExportError(path, "empty file (only whitespace)")
    if stripped.startswith("window."):
        if not X_ARCHIVE_PREFIX.match(stripped):
            prefix = stripped.split("=", 1)[0].strip()[:60]
            raise ExportError(
                path, f"X archive prefix {prefix!r} is not window.YTD.tweets.partN or tweet.partN"
            )
        return "x_archive", enc, head
    if stripped[:1] in ("{", "["):
        if "orderedItems" in stripped or "activitystreams" in stripped:
            return "mastodon", enc, head
        raise ExportError(path, "JSON file that is neither an X archive nor a Mastodon outbox")
    first = stripped.split("\n", 1)[0]
    try:
        header = next(csv.reader([first]), [])
    except csv.Error:
        header = []
    columns = {c.strip() for c in header}
    if LINKEDIN_COLUMNS <= columns:
        return "linkedin", enc, head
    if X_ANALYTICS_COLUMNS <= columns:
        return "x_analytics", enc, head
    return "csv", enc, head


def detect_format(path: Path) -> str:
    """One of 'x_archive', 'x_archive_zip', 'x_archive_dir', 'mastodon', 'x_analytics',
    'linkedin', 'csv'. Raises ExportError for what is none of them."""
    return _sniff(Path(path), IngestLimits())[0]


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
    try:
        _, month, day, clock, zone, year = value.split()
        iso = f"{year}-{MONTHS[month]:02d}-{day}T{clock}{zone[:3]}:{zone[3:]}"
        return datetime.fromisoformat(iso).astimezone(UTC)
    except (ValueError, KeyError):
        return parse_time(value)


# --- entry point -----------------------------------------------------------------------------


def iter_posts(
    path: Path,
    options: ExportOptions | None = None,
    source_hash: str | None = None,
    stats: ParseStats | None = None,
) -> Iterator[Post | RecordError]:
    """Stream one export file (or unzipped X archive folder). Raises ExportError when the file
    as a whole is unreadable; the records yielded before that stand."""
    path = Path(path)
    options = options or ExportOptions()
    stats = stats if stats is not None else ParseStats()
    fmt, enc, head = _sniff(path, options.limits)
    stats.format = fmt
    source = {"source_file": path.name, "source_hash": source_hash or file_hash(path)}
    ctx = _Context(path, options, source, stats)
    if fmt == "x_archive":
        stats.encoding = enc.codec if enc else "utf-8"
        with path.open("rb") as f:
            f.seek(enc.skip if enc else 0)
            yield from ctx.x_part(f, enc.codec if enc else "utf-8-sig", None, options.author)
    elif fmt == "x_archive_zip":
        yield from _zip_archive(ctx)
    elif fmt == "x_archive_dir":
        yield from _dir_archive(ctx)
    elif fmt == "mastodon":
        stats.encoding = enc.codec if enc else "utf-8"
        with path.open("rb") as f:
            f.seek(enc.skip if enc else 0)
            yield from ctx.mastodon(f, enc.codec if enc else "utf-8-sig")
    else:
        yield from ctx.csv(fmt, enc, head)


@dataclass
class _Context:
    path: Path
    options: ExportOptions
    source: dict
    stats: ParseStats
    count: int = 0  # records so far

    def __post_init__(self):
        self.limits = self.options.limits
        self.text_max = dict(self.limits.max_text_chars)

    def stream(self, raw, codec: str) -> JsonStream:
        return JsonStream(raw, codec, self.limits.max_record_bytes, self.limits.max_depth)

    def records(self, items, build: Callable, where: str | None) -> Iterator[Post | RecordError]:
        """Number the items and build each; a failure is one RecordError, never an exception."""
        try:
            for item in items:
                self.count += 1
                n = self.count
                if isinstance(item, Skipped):
                    yield RecordError(n, f"skipped because {item.reason}", None, where)
                    continue
                try:
                    post = build(item)
                except RecordProblem as exc:
                    yield RecordError(n, exc.message, exc.field, where)
                except ValidationError as exc:
                    yield RecordError(n, *_validation(exc), where)
                except Exception:  # noqa: BLE001 - a record must never stop the file
                    yield RecordError(n, "could not be read: unexpected content", None, where)
                else:
                    if post is not None:
                        yield post
        except JsonDamage as exc:
            inside = f"{where}: " if where else ""
            raise ExportError(
                self.path, f"{inside}malformed or truncated JSON after record {self.count}: {exc}"
            ) from None

    def post(self, text_field: str, **fields) -> Post:
        """A Post, after the checks every format shares: NUL bytes out, text within limits."""
        values = [fields.get(k) or "" for k in _TEXT_FIELDS]
        joined = "".join(values)
        if "\x00" in joined or (not joined.isascii() and _SURROGATE.search(joined)):
            for key, value in zip(_TEXT_FIELDS, values, strict=True):
                if "\x00" in value:
                    self.stats.nul_removed += value.count("\x00")
                    fields[key] = value = value.replace("\x00", "")
                if not value.isascii() and _SURROGATE.search(value):
                    # A lone UTF-16 surrogate (JSON "\ud800") is no character: U+FFFD.
                    fields[key] = _SURROGATE.sub("\ufffd", value)
        text = fields["text"]
        limit = self.text_max.get(fields["platform"]) or self.limits.text_max(fields["platform"])
        if len(text) > limit:
            raise RecordProblem(
                f"'{text_field}' is {len(text):,} characters long, more than the {limit:,} "
                f"a {fields['platform']} post can have",
                text_field,
            )
        if not text or text.isspace():
            raise RecordProblem(f"'{text_field}' is empty", text_field)
        if not joined.isascii() and "\ufffd" in text:
            self.stats.lost_chars += text.count("\ufffd")
        return Post(links=find_links(text), **fields, **self.source)

    # --- X archive ---------------------------------------------------------------------------

    def x_part(self, raw, codec: str, where: str | None, author: str | None):
        stream = self.stream(raw, codec)
        try:
            if not stream.skip_text(X_ARCHIVE_PREFIX):
                raise JsonDamage("it does not start with window.YTD.tweets.partN = [")
        except JsonDamage as exc:
            raise ExportError(self.path, f"{where + ': ' if where else ''}{exc}") from None
        items = stream.items()
        buffered: list = []
        if author is None:
            # tweets.js does not name its author; the status urls of its own media do.
            held = 0
            self.stats.author_from = "media urls"
            try:
                for item in items:
                    buffered.append(item)
                    held += stream.last_size
                    author = _archive_author(item)
                    if author or held >= AUTHOR_SCAN_CHARS:
                        break
            except JsonDamage as exc:
                buffered.append(_Damage(exc))
        found = author
        yield from self.records(
            _chain(buffered, items), lambda t: self.x_tweet(t, found or "me"), where
        )
        return found

    def x_tweet(self, item, author: str) -> Post:
        t = item.get("tweet", item) if item.__class__ is dict else item
        if t.__class__ is not dict:
            raise RecordProblem(f"is {_kind(t)}, not a tweet object")
        # Fast paths for well-formed records; the helpers say what is wrong with the others.
        raw = t.get("full_text")
        if raw.__class__ is not str:
            raw = _req_str(t, "full_text", "text")
        post_id = t.get("id_str")
        if post_id.__class__ is not str or not post_id or post_id.isspace():
            post_id = _req_id(t, "id_str", "id")
        post_id = post_id.strip()
        reply_to = t.get("in_reply_to_status_id_str") or None
        if reply_to is not None and reply_to.__class__ is not str:
            reply_to = _opt_id(t, "in_reply_to_status_id_str")
        lang = t.get("lang")
        if lang is not None and lang.__class__ is not str:
            lang = _opt_str(t, "lang")
        entities = t.get("extended_entities")
        if entities is not None and entities.__class__ is not dict:
            entities = _opt_dict(t, "extended_entities")
        media = (entities or {}).get("media") or []
        return self.post(
            "full_text",
            platform="x",
            author=author,
            post_id=post_id,
            created_at=_time(t, "created_at", parse_x_time),
            text=clean_text(raw),
            raw_text=raw,
            is_repost=raw.startswith("RT @"),
            is_reply=reply_to is not None,
            is_thread=reply_to is not None and t.get("in_reply_to_screen_name") == author,
            reply_to_id=reply_to,
            lang=lang if lang not in (None, "und") else None,
            likes=_count(t, "favorite_count"),
            reposts=_count(t, "retweet_count"),
            media_count=len(media) if media.__class__ is list else 0,
            url=f"https://x.com/{author}/status/{post_id}",
        )

    # --- Mastodon ----------------------------------------------------------------------------

    def mastodon(self, raw, codec: str):
        stream = self.stream(raw, codec)

        def items():
            for key, _ in stream.members():
                if key == "orderedItems":
                    yield from stream.items()
                    return
                stream.skip_value()
            raise JsonDamage("the outbox has no orderedItems list")

        yield from self.records(items(), self.mastodon_activity, None)

    def mastodon_activity(self, activity) -> Post | None:
        if not isinstance(activity, dict):
            raise RecordProblem(f"is {_kind(activity)}, not an activity object")
        actor = _req_str(activity, "actor")
        author = self.options.author or actor.rstrip("/").rsplit("/", 1)[-1]
        if not author.strip():
            raise RecordProblem("'actor' is empty: the post has no author", "actor")
        kind = _req_str(activity, "type")
        if kind == "Announce":
            obj = activity.get("object")
            boosted = obj if isinstance(obj, str) else _req_str(_obj(activity, "object"), "id")
            return self.post(
                "object",
                platform="mastodon",
                author=author,
                post_id=_req_str(activity, "id")
                .rstrip("/")
                .removesuffix("/activity")
                .rsplit("/", 1)[-1],
                created_at=_time(activity, "published", parse_time),
                text=boosted,
                raw_text=boosted,
                is_repost=True,
                url=boosted,
            )
        if kind != "Create":
            raise RecordProblem(
                f"has activity type {kind!r}, which is not a post (only Create and Announce are)",
                "type",
            )
        note = _obj(activity, "object")
        content = _opt_str(note, "content", "object.content") or ""
        reply_to = _opt_str(note, "inReplyTo", "object.inReplyTo")
        attachments = note.get("attachment") or []
        if not isinstance(attachments, list):
            raise RecordProblem(
                f"'object.attachment' should be a list, not {_kind(attachments)}",
                "object.attachment",
            )
        text = clean_text(content, is_html=True) or _alt_text(attachments)
        if not text:
            what = "null" if note.get("content") is None else "empty"
            raise RecordProblem(
                f"'object.content' is {what} and the note has no described attachment",
                "object.content",
            )
        lang_map = note.get("contentMap")
        return self.post(
            "object.content",
            platform="mastodon",
            author=author,
            post_id=_req_str(note, "id", "object.id").rstrip("/").rsplit("/", 1)[-1],
            created_at=_time(note, "published", parse_time, "object.published"),
            text=text,
            raw_text=content,
            is_reply=reply_to is not None,
            is_thread=bool(reply_to and reply_to.startswith(actor + "/")),
            reply_to_id=reply_to.rstrip("/").rsplit("/", 1)[-1] if reply_to else None,
            lang=next(iter(lang_map), None) if isinstance(lang_map, dict) else None,
            media_count=len(attachments),
            url=_opt_str(note, "url", "object.url"),
        )

    # --- CSV formats -------------------------------------------------------------------------

    def csv(self, fmt: str, enc: Encoding | None, head: bytes):
        path, limits = self.path, self.limits
        if enc is None:
            try:
                enc = detect_encoding(path, head)
            except EncodingError as exc:
                raise ExportError(path, str(exc)) from None
        self.stats.encoding = enc.label
        csv.field_size_limit(limits.max_record_bytes)
        with path.open("rb") as raw:
            raw.seek(enc.skip)
            text = io.TextIOWrapper(raw, encoding=enc.codec, errors="replace", newline="")
            lines = _Lines(text, limits.max_record_bytes, enc.repairer(), self.stats)
            rows = _csv_rows(lines)
            header = next(rows, None)
            if header is None:
                raise ExportError(path, "empty CSV (no header row)")
            if isinstance(header, _RowProblem):
                raise ExportError(path, f"the header row {header.reason}")
            names = [c.replace("\ufeff", "").strip() for c in header]
            if fmt == "csv":
                mapping = self.csv_mapping(names)
                build = lambda row: self.plain_row(row, mapping)  # noqa: E731
            else:
                build = {"linkedin": self.linkedin_row, "x_analytics": self.x_analytics_row}[fmt]

            def dicts():
                for row in rows:
                    if isinstance(row, _RowProblem):
                        yield row
                    elif any(cell.strip() for cell in row):
                        yield dict(zip(names, row, strict=False))

            def build_row(row):
                if isinstance(row, _RowProblem):
                    raise RecordProblem(f"line {row.line} {row.reason}")
                return build(row)

            yield from self.records(dicts(), build_row, None)

    def csv_mapping(self, names: list[str]) -> dict[str, str | None]:
        path = self.path
        try:
            side = load_column_mapping(path) if self.options.use_mapping_file else None
        except MappingError as exc:
            raise ExportError(path, str(exc)) from None
        given = merge(side, self.options.csv)
        resolved, missing = resolve(names, given)
        self.stats.columns = names
        self.stats.mapping = resolved
        if missing:
            shown = ", ".join(repr(n) for n in names[:30]) + (" ..." if len(names) > 30 else "")
            raise ExportError(
                path,
                f"no usable column for {', '.join(missing)}; columns found: {shown}; "
                f"mapping tried: {describe(resolved)}; name the columns in "
                f"{sidecar_path(path).name} (e.g. 'text: body') or with --columns text=body",
            )
        return resolved | {"platform": given.platform}

    def plain_row(self, row: dict, m: dict) -> Post:
        raw = _cell(row, m["text"])
        text = clean_text(raw)
        url = _cell(row, m["url"], required=False) if m["url"] else None
        status = STATUS_URL.match(url or "")
        author = (
            (_cell(row, m["author"], required=False) if m["author"] else None)
            or self.options.author
            or (status.group(1) if status else None)
        )
        post_id = _cell(row, m["post_id"], required=False) if m["post_id"] else None
        post_id = post_id or (status.group(2) if status else None)
        created = _cell(row, m["created_at"])
        if not post_id:
            # No id column and no status url: the post is known by its time and text.
            post_id = "h" + hashlib.sha1(f"{created}\n{raw}".encode()).hexdigest()[:16]
        return self.post(
            m["text"],
            platform=m["platform"],
            author=author or "me",
            post_id=post_id,
            created_at=_time(row, m["created_at"], parse_time),
            text=text,
            raw_text=raw,
            is_repost=text.startswith("RT @"),
            is_reply=text.startswith("@"),
            likes=_count(row, m["likes"]) if m["likes"] else None,
            reposts=_count(row, m["reposts"]) if m["reposts"] else None,
            replies=_count(row, m["replies"]) if m["replies"] else None,
            impressions=_count(row, m["impressions"]) if m["impressions"] else None,
            url=url or None,
        )

    def x_analytics_row(self, row: dict) -> Post:
        raw = _cell(row, "Tweet text")
        text = clean_text(raw)
        link = _cell(row, "Tweet permalink")
        status = STATUS_URL.match(link)
        return self.post(
            "Tweet text",
            platform="x",
            author=self.options.author or (status.group(1) if status else "me"),
            post_id=_cell(row, "Tweet id"),
            created_at=_time(row, "time", parse_time),
            text=text,
            raw_text=raw,
            is_repost=text.startswith("RT @"),
            is_reply=text.startswith("@"),
            likes=_count(row, "likes"),
            reposts=_count(row, "retweets"),
            replies=_count(row, "replies"),
            impressions=_count(row, "impressions"),
            url=link,
        )

    def linkedin_row(self, row: dict) -> Post:
        raw = row.get("ShareCommentary") or ""
        link = _cell(row, "ShareLink")
        return self.post(
            "ShareCommentary",
            platform="linkedin",
            author=self.options.author or "me",
            post_id=link.rstrip("/").rsplit("%3A", 1)[-1].rsplit(":", 1)[-1],
            created_at=_time(row, "Date", parse_time),
            # A share with no commentary is a plain repost; its only content is what it points at.
            text=clean_text(_unquote_lines(raw)) or (row.get("SharedUrl") or "").strip() or link,
            raw_text=raw,
            is_repost=not raw.strip(),
            media_count=1 if (row.get("MediaUrl") or "").strip() else 0,
            url=link,
        )


# --- X archive as .zip or folder ---------------------------------------------------------------


def _unsafe_member(name: str) -> bool:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        return True
    return ".." in PurePosixPath(name.replace("\\", "/")).parts


def _part_number(name: str) -> int | None:
    m = X_PART.search(name)
    return None if m is None else int(m.group(1) or 0)


def _zip_archive(ctx: _Context):
    path, limits = ctx.path, ctx.limits
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ExportError(path, f"not a readable zip archive ({_plain(exc)})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_zip_members:
            raise ExportError(
                path,
                f"the archive has {len(infos):,} members, over the limit of "
                f"{limits.max_zip_members:,}; refusing it",
            )
        for info in infos:
            if _unsafe_member(info.filename):
                raise ExportError(
                    path,
                    f"archive member {info.filename!r} points outside the archive "
                    "(path traversal); refusing the whole archive",
                )
        parts = sorted(
            (n, i.filename, i) for i in infos if (n := _part_number(i.filename)) is not None
        )
        if not parts:
            raise ExportError(path, "zip archive without data/tweets.js: not an X archive")
        total = 0
        for _, name, info in parts:
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limits.max_file_bytes or total > limits.max_file_bytes:
                raise ExportError(
                    path,
                    f"{name} would unpack to {human_size(total)}, over the "
                    f"{human_size(limits.max_file_bytes)} limit; refusing it",
                )
            if ratio > limits.max_zip_ratio and info.file_size > 1 << 20:
                raise ExportError(
                    path,
                    f"{name} unpacks {ratio:,.0f} times larger than it is packed "
                    f"(limit {limits.max_zip_ratio:,.0f}): refusing it as a zip bomb",
                )
            if info.flag_bits & 0x1:
                raise ExportError(path, f"{name} is encrypted")
        author = ctx.options.author
        if author is None:
            account = next((i for i in infos if X_ACCOUNT.search(i.filename)), None)
            if account is not None and account.file_size <= limits.max_record_bytes:
                author = _account_username(lambda: _ZipRaw(zf.open(account)), ctx)
        ctx.stats.encoding = "utf-8"
        for _, name, info in parts:
            ctx.stats.members.append(name)
            try:
                raw = _ZipRaw(zf.open(info))
            except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as exc:
                raise ExportError(path, f"{name} cannot be read ({_plain(exc)})") from None
            with raw:
                author = yield from ctx.x_part(raw, "utf-8-sig", name, author)


class _ZipRaw:
    """A zip member's stream whose damage (CRC, truncation) ends the JSON as damage."""

    def __init__(self, raw):
        self.raw = raw

    def read(self, n: int = -1) -> bytes:
        try:
            return self.raw.read(n)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise JsonDamage(f"the archive member is damaged ({_plain(exc)})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.raw.close()


def _dir_parts(folder: Path) -> list[tuple[int, Path]]:
    data = folder / "data"
    if not data.is_dir():
        return []
    found = []
    for p in data.iterdir():
        n = _part_number(f"data/{p.name}")
        if n is not None and p.is_file():
            found.append((n, p))
    return sorted(found)


ACCOUNT_FILE = "data/account.js"


def archive_parts(folder: Path) -> list[Path]:
    """The tweets parts of an unzipped X archive folder, in part order ([] when it is none)."""
    return [p for _, p in _dir_parts(Path(folder))]


def _dir_archive(ctx: _Context):
    folder = ctx.path
    author = ctx.options.author
    account = folder / ACCOUNT_FILE
    if author is None and account.is_file():
        author = _account_username(lambda: account.open("rb"), ctx)
    ctx.stats.encoding = "utf-8"
    for _, part in _dir_parts(folder):
        name = part.relative_to(folder).as_posix()
        if part.stat().st_size > ctx.limits.max_file_bytes:
            raise ExportError(
                folder, f"{name} is over the {human_size(ctx.limits.max_file_bytes)} limit"
            )
        ctx.stats.members.append(name)
        with part.open("rb") as raw:
            author = yield from ctx.x_part(raw, "utf-8-sig", name, author)


def _account_username(opener, ctx: _Context) -> str | None:
    """The username in data/account.js, or None (then media urls are used)."""
    try:
        with opener() as raw:
            stream = ctx.stream(raw, "utf-8-sig")
            if not stream.skip_text(ACCOUNT_PREFIX):
                return None
            for item in stream.items():
                account = item.get("account") if isinstance(item, dict) else None
                name = account.get("username") if isinstance(account, dict) else None
                if isinstance(name, str) and name.strip():
                    ctx.stats.author_from = "data/account.js"
                    return name.strip()
    except (JsonDamage, OSError, zipfile.BadZipFile, zlib.error, EOFError):
        return None
    return None


# --- CSV reading -------------------------------------------------------------------------------


@dataclass
class _RowProblem:
    line: int
    reason: str


class _LineTooLong(Exception):
    def __init__(self, line: int):
        self.line = line


class _Lines:
    """Physical lines, each at most `limit` characters (a longer one is skipped), NUL bytes
    removed and counted, mojibake repaired."""

    def __init__(self, f, limit: int, repair, stats: ParseStats):
        self.f, self.limit, self.repair, self.stats = f, limit, repair, stats
        self.line = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.f.readline(self.limit + 1)
        if not line:
            raise StopIteration
        self.line += 1
        if len(line) > self.limit and not line.endswith(("\n", "\r")):
            while (rest := self.f.readline(CHUNK)) and not rest.endswith("\n"):
                pass
            raise _LineTooLong(self.line)
        if "\x00" in line:
            self.stats.nul_removed += line.count("\x00")
            line = line.replace("\x00", "")
        if self.repair is not None:
            line, fixed = self.repair(line)
            self.stats.repaired_lines += fixed
        return line


def _csv_rows(lines: _Lines) -> Iterator[list[str] | _RowProblem]:
    reader = csv.reader(lines)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except _LineTooLong as exc:
            too_long = f"is longer than the {human_size(lines.limit)} record limit"
            yield _RowProblem(exc.line, too_long)
            reader = csv.reader(lines)
            continue
        except csv.Error as exc:
            reason = str(exc)
            if "field limit" in reason:
                reason = f"has a field longer than the {human_size(lines.limit)} record limit"
            else:
                reason = f"is not valid CSV ({reason})"
            yield _RowProblem(lines.line, reason)
            reader = csv.reader(lines)
            continue
        yield row


# --- field access: one sentence per problem ------------------------------------------------------


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "something else"


def _get(d: dict, key: str, alt: str | None, label: str | None):
    name = label or key
    if key in d:
        return d[key], name
    if alt is not None and alt in d:
        return d[alt], label or alt
    return _MISSING, name


_MISSING = object()


def _req_str(d: dict, key: str, alt: str | None = None, label: str | None = None) -> str:
    value, name = _get(d, key, alt, label)
    if value is _MISSING:
        raise RecordProblem(f"has no '{name}'", name)
    if not isinstance(value, str):
        raise RecordProblem(f"'{name}' should be text, not {_kind(value)}", name)
    return value


def _opt_str(d: dict, key: str, label: str | None = None) -> str | None:
    value = d.get(key)
    if value is None or isinstance(value, str):
        return value
    name = label or key
    raise RecordProblem(f"'{name}' should be text, not {_kind(value)}", name)


def _req_id(d: dict, key: str, alt: str | None = None) -> str:
    value, name = _get(d, key, alt, None)
    if value is _MISSING or value is None:
        raise RecordProblem(f"has no '{key}'", key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str):
        raise RecordProblem(f"'{name}' should be an id, not {_kind(value)}", name)
    if not value.strip():
        raise RecordProblem(f"'{name}' is empty", name)
    return value.strip()


def _opt_id(d: dict, key: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    return _req_id(d, key)


def _opt_dict(d: dict, key: str) -> dict | None:
    value = d.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise RecordProblem(f"'{key}' should be an object, not {_kind(value)}", key)


def _obj(d: dict, key: str) -> dict:
    value = d.get(key)
    if not isinstance(value, dict):
        what = "missing" if key not in d else _kind(value)
        raise RecordProblem(f"'{key}' should be an object, not {what}", key)
    return value


def _count(d: dict, key: str) -> int | None:
    value = d.get(key)
    if value.__class__ is str and value.isdigit() and value.isascii():
        return int(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordProblem(f"'{key}' should be a count, not {_kind(value)}", key)
    try:
        number = float(value.strip().replace(",", "")) if isinstance(value, str) else value
    except ValueError:
        raise RecordProblem(f"'{key}' should be a count, not {value[:40]!r}", key) from None
    if number != number or number in (float("inf"), float("-inf")) or number != int(number):
        raise RecordProblem(f"'{key}' should be a whole number, not {value!r:.40}", key)
    if number < 0:
        raise RecordProblem(f"'{key}' is negative ({int(number)})", key)
    if number >= 2**63:
        raise RecordProblem(f"'{key}' is too large to be a count", key)
    return int(number)


def _time(d: dict, key: str, parse, label: str | None = None) -> datetime:
    value = d.get(key)
    if value.__class__ is str:
        try:
            return parse(value)
        except (ValueError, OverflowError):
            pass
    name = label or key
    if value is None:
        raise RecordProblem(f"has no '{name}'" if key not in d else f"'{name}' is null", name)
    if not isinstance(value, str):
        raise RecordProblem(f"'{name}' should be a date and time, not {_kind(value)}", name)
    try:
        return parse(value)
    except (ValueError, OverflowError):
        raise RecordProblem(f"'{name}' is not a date and time: {value[:40]!r}", name) from None


def _cell(row: dict, column: str, required: bool = True) -> str | None:
    value = row.get(column)
    if value is None:
        if required:
            raise RecordProblem(f"has no '{column}' value (the row is shorter than the header)")
        return None
    return value


def _validation(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    name = ".".join(map(str, err["loc"])) or "record"
    kind = err.get("type", "")
    if kind == "string_too_short":
        return f"'{name}' is empty", name
    if kind.startswith("greater_than"):
        return f"'{name}' is negative", name
    return f"'{name}' {err['msg'][0].lower()}{err['msg'][1:]}", name


def _plain(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or ["unreadable"])[0][:200]


@dataclass
class _Damage:
    exc: JsonDamage


def _chain(first: list, rest):
    for item in first:
        if isinstance(item, _Damage):
            raise item.exc
        yield item
    yield from rest


def _archive_author(tweet) -> str | None:
    t = tweet.get("tweet", tweet) if isinstance(tweet, dict) else None
    if not isinstance(t, dict):
        return None
    entities = t.get("extended_entities") or t.get("entities") or {}
    media = entities.get("media") if isinstance(entities, dict) else None
    for item in media if isinstance(media, list) else []:
        url = item.get("expanded_url") if isinstance(item, dict) else None
        match = STATUS_URL.match(url) if isinstance(url, str) else None
        if match and match.group(2) == t.get("id_str"):
            return match.group(1)
    return None


def _alt_text(attachments: list) -> str:
    """A media-only status is known by its attachments' descriptions."""
    return " ".join(
        f"[media: {a.get('name') or a.get('mediaType', '')}]"
        for a in attachments
        if isinstance(a, dict)
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
