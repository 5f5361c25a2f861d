"""Parse one export file into a staged Parquet file, streaming, with a parse report."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from reer_pipeline.ingest.formats import (
    ExportError,
    ExportOptions,
    RecordError,
    detect_format,
    file_hash,
    iter_posts,
)
from reer_pipeline.ingest.schema import POST_SCHEMA

STAGED_SCHEMA = POST_SCHEMA.append(pa.field("source_mtime", pa.timestamp("us", tz="UTC")))
BATCH_ROWS = 5000


@dataclass
class ParseReport:
    file: str
    format: str | None = None
    records: int = 0
    posts: int = 0
    errors: int = 0
    error: str | None = None  # why the whole file could not be read
    error_samples: list[str] = field(default_factory=list)

    @property
    def parse_rate(self) -> float:
        return self.posts / self.records if self.records else 0.0

    def as_dict(self) -> dict:
        return asdict(self) | {"parse_rate": round(self.parse_rate, 4)}


def stage_export(
    path: Path, out: Path, options: ExportOptions | None = None, digest: str | None = None
) -> ParseReport:
    """Write the valid posts of `path` to the Parquet file `out`; never raises on bad input."""
    path, out = Path(path), Path(out)
    report = ParseReport(file=path.name)
    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    tmp = out.with_suffix(".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    try:
        report.format = detect_format(path)
        with pq.ParquetWriter(tmp, STAGED_SCHEMA) as writer:
            for item in iter_posts(path, options, digest or file_hash(path)):
                report.records += 1
                if isinstance(item, RecordError):
                    report.errors += 1
                    if len(report.error_samples) < 20:
                        report.error_samples.append(f"record {item.record}: {item.message}")
                    continue
                report.posts += 1
                rows.append(item.model_dump() | {"source_mtime": mtime})
                if len(rows) >= BATCH_ROWS:
                    writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=STAGED_SCHEMA))
                    rows.clear()
            if rows:
                writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=STAGED_SCHEMA))
    except ExportError as exc:
        report.error = str(exc)
    if report.error is None and report.records == 0:
        report.error = f"{path.name}: no records found"
    os.replace(tmp, out) if tmp.exists() else None
    return report
