"""The X archive: `data/tweets.js` on its own, the archive `.zip`, or the unzipped folder."""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reer_pipeline.ingest.formats.base import STATUS_URL, Context, ExportError, Head, RecordProblem
from reer_pipeline.ingest.formats.fields import (
    count,
    kind_of,
    opt_dict,
    opt_id,
    opt_str,
    parse_x_time,
    req_id,
    req_str,
    req_time,
)
from reer_pipeline.ingest.jsonstream import JsonDamage, human_size
from reer_pipeline.ingest.schema import Post
from reer_pipeline.ingest.text import clean_text

X_ARCHIVE_PREFIX = re.compile(r"\ufeff?\s*window\.YTD\.(tweets?)\.part\d+\s*=\s*")
ACCOUNT_PREFIX = re.compile(r"\ufeff?\s*window\.YTD\.account\.part\d+\s*=\s*")
X_PART = re.compile(r"(?:^|/)data/tweets?(?:-part(\d+))?\.js$")
X_ACCOUNT = re.compile(r"(?:^|/)data/account\.js$")
ACCOUNT_FILE = "data/account.js"
AUTHOR_SCAN_CHARS = 16 << 20  # tweets held back while the author is looked for in media urls


# --- sniff and parse, one pair per entry of the format table -----------------------------------


def sniff_js(head: Head) -> bool:
    """`window.YTD.tweets.partN = [...]` (or the older `tweet.partN`)."""
    if not head.text.startswith("window."):
        return False
    if not X_ARCHIVE_PREFIX.match(head.text):
        prefix = head.text.split("=", 1)[0].strip()[:60]
        raise ExportError(
            head.path,
            f"X archive prefix {prefix!r} is not window.YTD.tweets.partN or tweet.partN",
        )
    return True


def parse_js(ctx: Context, head: Head):
    enc = head.encoding
    ctx.stats.encoding = enc.codec if enc else "utf-8"
    with ctx.path.open("rb") as f:
        f.seek(enc.skip if enc else 0)
        yield from _part(ctx, f, enc.codec if enc else "utf-8-sig", None, ctx.options.author)


def sniff_zip(head: Head) -> bool:
    return head.data.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def parse_zip(ctx: Context, head: Head):
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
                author = yield from _part(ctx, raw, "utf-8-sig", name, author)


def sniff_dir(head: Head) -> bool:
    """Any folder: the unzipped archive is the one folder format."""
    if not head.folder:
        return False
    if not _dir_parts(head.path):
        raise ExportError(
            head.path, "a folder that is not an unzipped X archive (no data/tweets.js)"
        )
    return True


def parse_dir(ctx: Context, head: Head):
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
            author = yield from _part(ctx, raw, "utf-8-sig", name, author)


# --- the folder's parts ------------------------------------------------------------------------


def _dir_parts(folder: Path) -> list[tuple[int, Path]]:
    """(part number, path) of the tweets parts of an unzipped X archive folder, in order."""
    data = folder / "data"
    if not data.is_dir():
        return []
    found = []
    for p in data.iterdir():
        n = _part_number(f"data/{p.name}")
        if n is not None and p.is_file():
            found.append((n, p))
    return sorted(found)


def archive_parts(folder: Path) -> list[Path]:
    """The tweets parts of an unzipped X archive folder, in part order ([] when it is none)."""
    return [p for _, p in _dir_parts(Path(folder))]


# --- one tweets part ---------------------------------------------------------------------------


def _part(ctx: Context, raw, codec: str, where: str | None, author: str | None):
    """Yield the part's posts; return the author (found in media urls when not given)."""
    stream = ctx.stream(raw, codec)
    try:
        if not stream.skip_text(X_ARCHIVE_PREFIX):
            raise JsonDamage("it does not start with window.YTD.tweets.partN = [")
    except JsonDamage as exc:
        raise ExportError(ctx.path, f"{where + ': ' if where else ''}{exc}") from None
    items = stream.items()
    buffered: list = []
    if author is None:
        # tweets.js does not name its author; the status urls of its own media do.
        held = 0
        ctx.stats.author_from = "media urls"
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
    yield from ctx.records(_chain(buffered, items), lambda t: _tweet(ctx, t, found or "me"), where)
    return found


def _tweet(ctx: Context, item, author: str) -> Post:
    t = item.get("tweet", item) if item.__class__ is dict else item
    if t.__class__ is not dict:
        raise RecordProblem(f"is {kind_of(t)}, not a tweet object")
    # Fast paths for well-formed records; the helpers say what is wrong with the others.
    raw = t.get("full_text")
    if raw.__class__ is not str:
        raw = req_str(t, "full_text", "text")
    post_id = t.get("id_str")
    if post_id.__class__ is not str or not post_id or post_id.isspace():
        post_id = req_id(t, "id_str", "id")
    post_id = post_id.strip()
    reply_to = t.get("in_reply_to_status_id_str") or None
    if reply_to is not None and reply_to.__class__ is not str:
        reply_to = opt_id(t, "in_reply_to_status_id_str")
    lang = t.get("lang")
    if lang is not None and lang.__class__ is not str:
        lang = opt_str(t, "lang")
    entities = t.get("extended_entities")
    if entities is not None and entities.__class__ is not dict:
        entities = opt_dict(t, "extended_entities")
    media = (entities or {}).get("media") or []
    return ctx.post(
        "full_text",
        platform="x",
        author=author,
        post_id=post_id,
        created_at=req_time(t, "created_at", parse_x_time),
        text=clean_text(raw),
        raw_text=raw,
        is_repost=raw.startswith("RT @"),
        is_reply=reply_to is not None,
        is_thread=reply_to is not None and t.get("in_reply_to_screen_name") == author,
        reply_to_id=reply_to,
        lang=lang if lang not in (None, "und") else None,
        likes=count(t, "favorite_count"),
        reposts=count(t, "retweet_count"),
        media_count=len(media) if media.__class__ is list else 0,
        url=f"https://x.com/{author}/status/{post_id}",
    )


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


# --- archive members ---------------------------------------------------------------------------


def _unsafe_member(name: str) -> bool:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        return True
    return ".." in PurePosixPath(name.replace("\\", "/")).parts


def _part_number(name: str) -> int | None:
    m = X_PART.search(name)
    return None if m is None else int(m.group(1) or 0)


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


def _account_username(opener, ctx: Context) -> str | None:
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


def _plain(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or ["unreadable"])[0][:200]
