"""What every export format shares: the file's head as the sniffers see it, the options, the
errors, and the `Context` that numbers records and builds each `Post` after the shared checks."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ValidationError

from reer_pipeline.ingest.encoding import Encoding, EncodingError, sniff_bytes
from reer_pipeline.ingest.jsonstream import JsonDamage, JsonStream, Skipped, human_size
from reer_pipeline.ingest.limits import IngestLimits
from reer_pipeline.ingest.mapping import CsvMapping
from reer_pipeline.ingest.schema import Post
from reer_pipeline.text import find_links

CHUNK = 1 << 20
HEAD = 1 << 16
STATUS_URL = re.compile(
    r"https?://(?:mobile\.)?(?:twitter|x)\.com/([A-Za-z0-9_]+)/status(?:es)?/(\d+)"
)


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


class RecordProblem(Exception):
    """Raised inside a record builder: one sentence about one field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class Head:
    """The start of an export: all a format's sniff sees. Decoded only when a sniff asks."""

    path: Path
    folder: bool
    data: bytes  # the first 64 KiB (b"" for a folder)

    @classmethod
    def read(cls, path: Path, limits: IngestLimits) -> Head:
        if path.is_dir():
            return cls(path, True, b"")
        size = path.stat().st_size
        if size == 0:
            raise ExportError(path, "empty file (0 bytes)")
        if size > limits.max_file_bytes:
            raise ExportError(
                path,
                f"the file is {human_size(size)}, over the "
                f"{human_size(limits.max_file_bytes)} limit",
            )
        with path.open("rb") as f:
            return cls(path, False, f.read(HEAD))

    @cached_property
    def encoding(self) -> Encoding | None:
        """The encoding the first bytes prove (a BOM, UTF-16), or None."""
        try:
            return sniff_bytes(self.data)
        except EncodingError as exc:
            raise ExportError(self.path, str(exc)) from None

    @cached_property
    def text(self) -> str:
        """The head decoded, without NUL bytes and without a leading BOM or whitespace."""
        enc = self.encoding
        text = self.data[enc.skip if enc else 0 :].decode(enc.codec if enc else "utf-8", "replace")
        stripped = text.replace("\x00", "").lstrip("\ufeff \t\r\n")
        if not stripped:
            raise ExportError(self.path, "empty file (only whitespace)")
        return stripped

    @cached_property
    def columns(self) -> set[str]:
        """The first line's names, read as a CSV header."""
        first = self.text.split("\n", 1)[0]
        try:
            header = next(csv.reader([first]), [])
        except csv.Error:
            header = []
        return {c.strip() for c in header}


_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXT_FIELDS = ("text", "raw_text", "author", "post_id", "url", "lang", "reply_to_id")


@dataclass
class Context:
    """One file being parsed: its options, its source columns, its stats, its record count."""

    path: Path
    options: ExportOptions
    source: dict
    stats: ParseStats
    count: int = 0  # records so far

    def __post_init__(self):
        self.limits = self.options.limits

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
        limit = self.limits.text_max(fields["platform"])
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


def _validation(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    name = ".".join(map(str, err["loc"])) or "record"
    kind = err.get("type", "")
    if kind == "string_too_short":
        return f"'{name}' is empty", name
    if kind.startswith("greater_than"):
        return f"'{name}' is negative", name
    return f"'{name}' {err['msg'][0].lower()}{err['msg'][1:]}", name
