"""Parse one export file into a staged Parquet file, streaming, with a parse report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from reer_pipeline.files import atomic_path
from reer_pipeline.ingest.formats import (
    ExportError,
    ExportOptions,
    ParseStats,
    RecordError,
    file_hash,
    iter_posts,
)
from reer_pipeline.ingest.schema import POST_SCHEMA

# source_row: the record's position in its file, so that the last of two records with the same
# post id wins (see warehouse.build_posts).
STAGED_SCHEMA = POST_SCHEMA.append(pa.field("source_mtime", pa.timestamp("us", tz="UTC"))).append(
    pa.field("source_row", pa.int64())
)
BATCH_ROWS = 5000
SAMPLES = 20


@dataclass
class ParseReport:
    file: str
    format: str | None = None
    encoding: str | None = None
    records: int = 0
    posts: int = 0
    errors: int = 0
    error: str | None = None  # why the file could not be read (whole or from some point on)
    error_samples: list[str] = field(default_factory=list)
    mapping: dict | None = None  # plain CSV: field -> column used
    columns: list[str] | None = None  # plain CSV: the columns found
    members: list[str] = field(default_factory=list)  # X archive: the tweets parts read
    author_from: str | None = None
    nul_removed: int = 0
    repaired_lines: int = 0
    lost_chars: int = 0

    @property
    def parse_rate(self) -> float:
        return self.posts / self.records if self.records else 0.0

    @property
    def zero_posts(self) -> bool:
        """True when the file gave no post at all: its ingest run must fail."""
        return self.posts == 0

    def failure(self) -> str | None:
        """The one message an ingest step fails with, or None when the file gave posts."""
        if not self.zero_posts:
            return None
        why = self.error or f"{self.file}: no records found"
        if self.records and not self.error:
            why = f"{self.file}: none of its {self.records:,} records is a valid post"
        if self.error_samples:
            why += f"; first problem: {self.error_samples[0]}"
        return f"{why} (0 posts; nothing was staged and the posts table is unchanged)"

    def summary(self) -> str:
        """One line for a log."""
        line = f"{self.file}: {self.posts:,} posts from {self.records:,} records"
        extras = [f"{self.errors:,} record errors"] if self.errors else []
        extras += [f"encoding {self.encoding}"] if self.encoding else []
        extras += [f"{self.nul_removed:,} NUL removed"] if self.nul_removed else []
        extras += [f"{self.repaired_lines:,} lines repaired"] if self.repaired_lines else []
        extras += [f"{self.lost_chars:,} characters lost"] if self.lost_chars else []
        return line + (f" ({'; '.join(extras)})" if extras else "")

    def as_dict(self) -> dict:
        return asdict(self) | {
            "parse_rate": round(self.parse_rate, 4),
            "zero_posts": self.zero_posts,
        }


def stage_export(
    path: Path, out: Path, options: ExportOptions | None = None, digest: str | None = None
) -> ParseReport:
    """Write the valid posts of `path` to the Parquet file `out`; never raises on bad input.

    A file that gives no post writes nothing (an older `out` is removed): see
    `ParseReport.failure()`.
    """
    path, out = Path(path), Path(out)
    report = ParseReport(file=path.name)
    stats = ParseStats()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        rows: list[dict] = []
        writer = None
        try:
            mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            for item in iter_posts(path, options, digest or file_hash(path), stats):
                report.records += 1
                if isinstance(item, RecordError):
                    report.errors += 1
                    if len(report.error_samples) < SAMPLES:
                        report.error_samples.append(str(item))
                    continue
                report.posts += 1
                rows.append(
                    item.model_dump() | {"source_mtime": mtime, "source_row": report.records}
                )
                if len(rows) >= BATCH_ROWS:
                    writer = writer or pq.ParquetWriter(tmp, STAGED_SCHEMA)
                    writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=STAGED_SCHEMA))
                    rows.clear()
        except ExportError as exc:  # the records before the damage stand
            report.error = str(exc)
        except OSError as exc:
            report.error = f"{path.name}: cannot be read ({exc.strerror or 'input/output error'})"
        except Exception:  # noqa: BLE001 - whatever it was, the user gets one sentence
            report.error = (
                f"{path.name}: reading stopped after record {report.records:,} on content this "
                "reader does not understand"
            )
        if rows:
            writer = writer or pq.ParquetWriter(tmp, STAGED_SCHEMA)
            writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=STAGED_SCHEMA))
        if writer is not None:
            writer.close()
        if not report.posts:  # nothing to stage: an older `out` goes too
            tmp.unlink(missing_ok=True)
            out.unlink(missing_ok=True)
    for key in ("format", "encoding", "mapping", "columns", "members", "author_from"):
        setattr(report, key, getattr(stats, key))
    for key in ("nul_removed", "repaired_lines", "lost_chars"):
        setattr(report, key, getattr(stats, key))
    if report.error is None and report.records == 0:
        report.error = f"{path.name}: no records found"
    return report
