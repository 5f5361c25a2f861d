"""Which column of a plain CSV holds which field: detected from common names, or given by the
user in a mapping file beside the export (`<file>.columns.yaml`) or on the command line.

In a `CsvMapping`, a field left as None is detected from the header; an empty string (or "-",
or null in the mapping file) maps the field to nothing. Precedence: command line or run config,
then the mapping file, then detection.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

FIELDS = (
    "text",
    "created_at",
    "post_id",
    "url",
    "author",
    "likes",
    "reposts",
    "replies",
    "impressions",
)
REQUIRED = ("text", "created_at")
SIDECAR_SUFFIX = ".columns.yaml"

# Header names seen in real exports and spreadsheets, compared after lowercasing and turning
# every run of other characters into "_". Earlier names win.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "post_id": ("id", "id_str", "tweet_id", "post_id", "status_id", "toot_id", "urn"),
    "text": (
        "text",
        "full_text",
        "content",
        "tweet_text",
        "post_text",
        "body",
        "message",
        "status",
        "post",
        "sharecommentary",
        "commentary",
    ),
    "created_at": (
        "created_at",
        "date",
        "timestamp",
        "time",
        "datetime",
        "date_time",
        "created",
        "published",
        "posted_at",
        "tweet_created_at",
    ),
    "likes": ("favorite_count", "favorites", "likes", "like_count", "favourites_count", "hearts"),
    "reposts": ("retweet_count", "retweets", "reposts", "repost_count", "shares", "boosts"),
    "replies": ("reply_count", "replies", "replies_count", "comments", "comment_count"),
    "impressions": ("impressions", "impression_count", "views", "view_count"),
    "url": ("url", "permalink", "tweet_permalink", "link", "status_url", "sharelink"),
    "author": ("user", "author", "username", "screen_name", "user_screen_name", "handle"),
}


class CsvMapping(BaseModel):
    """Columns of a plain CSV export. None: detect from the header; "": map to nothing."""

    text: str | None = None
    created_at: str | None = None
    post_id: str | None = None  # when there is none, taken from a status url, else a content hash
    url: str | None = None
    author: str | None = None
    likes: str | None = None
    reposts: str | None = None
    replies: str | None = None
    impressions: str | None = None
    platform: str = "x"


class MappingError(ValueError):
    """A mapping file or --columns value that cannot be used; the message names it."""


def normalize(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def sidecar_path(export: Path) -> Path:
    return export.with_name(export.name + SIDECAR_SUFFIX)


def is_sidecar(path: Path) -> bool:
    """True for a `<file>.columns.yaml` mapping file, which is not an export itself."""
    return path.name.endswith(SIDECAR_SUFFIX)


def mapping_from_dict(data: object, source: str) -> CsvMapping:
    """A CsvMapping from {field: column}; null, "" and "-" map a field to nothing."""
    if not isinstance(data, dict):
        raise MappingError(f"{source}: expected field: column pairs, e.g. 'text: body'")
    allowed = (*FIELDS, "platform")
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise MappingError(
            f"{source}: unknown field(s) {', '.join(unknown)}; fields are {', '.join(allowed)}"
        )
    values = {}
    for key, value in data.items():
        if value is not None and not isinstance(value, str | int):
            raise MappingError(f"{source}: '{key}' should name one column, not {value!r:.40}")
        value = "" if value is None or str(value).strip() == "-" else str(value).strip()
        if key == "platform":
            from reer_pipeline.platforms import get

            try:
                value = get(value).name
            except ValueError as exc:
                raise MappingError(f"{source}: {exc}") from None
        values[key] = value
    return CsvMapping(**values)


def load_column_mapping(path: Path) -> CsvMapping | None:
    """The mapping file `<file>.columns.yaml` beside the export `path`, or None when absent."""
    import yaml

    side = sidecar_path(Path(path))
    if not side.is_file():
        return None
    try:
        data = yaml.safe_load(side.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise MappingError(f"{side.name}: not readable YAML{line}") from None
    return mapping_from_dict(data or {}, side.name)


def parse_columns(spec: str) -> CsvMapping:
    """`text=body,created_at=when,likes=` (empty: map to nothing) as a CsvMapping."""
    pairs = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise MappingError(f"--columns: {part!r} should be FIELD=COLUMN")
        pairs[key.strip()] = value
    return mapping_from_dict(pairs, "--columns")


def merge(*layers: CsvMapping | None) -> CsvMapping:
    """Later layers win, field by field, where they say something (not None)."""
    out: dict = {}
    for layer in layers:
        if layer is None:
            continue
        for key, value in layer.model_dump().items():
            if key == "platform":
                if key in layer.model_fields_set:
                    out[key] = value
            elif value is not None:
                out[key] = value
    return CsvMapping(**out)


def resolve(columns: list[str], given: CsvMapping) -> tuple[dict[str, str | None], list[str]]:
    """({field: column or None}, missing required fields) for a header, detection filling in
    what `given` leaves None."""
    by_norm: dict[str, str] = {}
    for column in columns:
        by_norm.setdefault(normalize(column), column)
    resolved: dict[str, str | None] = {}
    for field in FIELDS:
        value = getattr(given, field)
        if value is None:
            value = next((by_norm[n] for n in SYNONYMS[field] if n in by_norm), None)
        elif value == "":
            value = None
        elif value not in columns:
            value = by_norm.get(normalize(value), value)
        resolved[field] = value
    missing = [f for f in FIELDS if resolved[f] is not None and resolved[f] not in columns] + [
        f for f in REQUIRED if resolved[f] is None
    ]
    return resolved, missing


def describe(resolved: dict[str, str | None]) -> str:
    return ", ".join(f"{k}={v if v is not None else '(none)'}" for k, v in resolved.items())
