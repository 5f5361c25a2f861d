"""Export parsers. The format is detected from the file's content, never from its name.

A format is one entry of `FORMATS`: a sniff that looks at the file's head and a parse that
streams records, yielding `Post`s or `RecordError`s, so a bad record never stops the file and
memory stays bounded however large the export is (see `limits.IngestLimits`). Every problem is
one sentence that names the file, the record and the field; no Python exception reaches the
caller except `ExportError`, whose message is such a sentence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reer_pipeline.ingest.formats import (  # one module per format
    bluesky_car,
    linkedin,
    mastodon,
    plain_csv,
    x_analytics,
    x_archive,
)
from reer_pipeline.ingest.formats.base import (
    CHUNK,
    Context,
    ExportError,
    ExportOptions,
    Head,
    ParseStats,
    RecordError,
)
from reer_pipeline.ingest.formats.fields import parse_time, parse_x_time
from reer_pipeline.ingest.formats.x_archive import ACCOUNT_FILE, archive_parts
from reer_pipeline.ingest.limits import IngestLimits
from reer_pipeline.ingest.mapping import CsvMapping, load_column_mapping
from reer_pipeline.ingest.schema import Post

__all__ = [
    "ACCOUNT_FILE",
    "FORMATS",
    "CsvMapping",
    "ExportError",
    "ExportOptions",
    "Format",
    "IngestLimits",
    "ParseStats",
    "RecordError",
    "archive_parts",
    "detect_format",
    "file_hash",
    "iter_posts",
    "load_column_mapping",
    "parse_time",
    "parse_x_time",
]


@dataclass(frozen=True)
class Format:
    name: str  # what `ParseStats.format` and the parse report call it
    # Whether the head is this format. It raises ExportError for a head that claims the
    # format and breaks it (a `window.` prefix that is not a tweets part).
    sniff: Callable[[Head], bool]
    parse: Callable[[Context, Head], Iterator[Post | RecordError]]


# In order: the first format whose sniff says yes reads the file. The folder format takes
# every folder and plain CSV every other text, so some format always does. Mastodon refuses
# any other JSON, so a new JSON format goes before it.
FORMATS = (
    Format("x_archive_dir", x_archive.sniff_dir, x_archive.parse_dir),
    Format("x_archive_zip", x_archive.sniff_zip, x_archive.parse_zip),
    Format("bluesky_car", bluesky_car.sniff, bluesky_car.parse),
    Format("x_archive", x_archive.sniff_js, x_archive.parse_js),
    Format("mastodon", mastodon.sniff, mastodon.parse),
    Format("linkedin", linkedin.sniff, linkedin.parse),
    Format("x_analytics", x_analytics.sniff, x_analytics.parse),
    Format("csv", plain_csv.sniff, plain_csv.parse),
)


def _sniff(head: Head) -> Format:
    return next(fmt for fmt in FORMATS if fmt.sniff(head))


def detect_format(path: Path) -> str:
    """The name of the format of `path` (see FORMATS). Raises ExportError for what is none."""
    return _sniff(Head.read(Path(path), IngestLimits())).name


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
    head = Head.read(path, options.limits)
    fmt = _sniff(head)
    stats.format = fmt.name
    source = {"source_file": path.name, "source_hash": source_hash or file_hash(path)}
    yield from fmt.parse(Context(path, options, source, stats), head)


def file_hash(path: Path) -> str:
    """SHA-256 of a file; of a folder, of its X archive parts (names and contents)."""
    digest = hashlib.sha256()
    path = Path(path)
    files = [path] if not path.is_dir() else archive_parts(path)
    for p in files:
        if path.is_dir():
            digest.update(p.relative_to(path).as_posix().encode() + b"\0")
        with p.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
