"""Reading a CSV export: encoding, mojibake repair, bounded lines, one record per row."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reer_pipeline.ingest.encoding import EncodingError, detect_encoding
from reer_pipeline.ingest.formats.base import (
    CHUNK,
    Context,
    ExportError,
    Head,
    ParseStats,
    RecordProblem,
)
from reer_pipeline.ingest.jsonstream import human_size
from reer_pipeline.ingest.schema import Post

Row = dict[str, str]


def read(ctx: Context, head: Head, build_for: Callable[[list[str]], Callable[[Row], Post]]):
    """The file's rows as records; `build_for(header)` gives the function that builds a row."""
    path, limits = ctx.path, ctx.limits
    enc = head.encoding
    if enc is None:
        try:
            enc = detect_encoding(path, head.data)
        except EncodingError as exc:
            raise ExportError(path, str(exc)) from None
    ctx.stats.encoding = enc.label
    csv.field_size_limit(limits.max_record_bytes)
    with path.open("rb") as raw:
        raw.seek(enc.skip)
        text = io.TextIOWrapper(raw, encoding=enc.codec, errors="replace", newline="")
        lines = _Lines(text, limits.max_record_bytes, enc.repairer(), ctx.stats)
        rows = _csv_rows(lines)
        header = next(rows, None)
        if header is None:
            raise ExportError(path, "empty CSV (no header row)")
        if isinstance(header, _RowProblem):
            raise ExportError(path, f"the header row {header.reason}")
        names = [c.replace("\ufeff", "").strip() for c in header]
        build = build_for(names)

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

        yield from ctx.records(dicts(), build_row, None)


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
