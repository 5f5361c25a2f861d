"""Append-only JSONL trace store under the data root's `traces/` folder.

Every record is validated against its JSON Schema version on write and on read. An append is
atomic: one `write` of the whole line, then flush and fsync, under a directory-wide file lock.
Ids are content-addressed (`post_hash-config_hash`), so appending an existing id is a no-op. A
line torn by a killed writer (no trailing newline) is ignored by readers and cut off by the next
writer before it appends, so it never corrupts later records.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

from reer_pipeline.reer.schema import SCHEMA_VERSION, SchemaError, validate_trace

log = logging.getLogger(__name__)

LOCK_NAME = ".traces.lock"


def trace_id(post_hash: str, config_hash: str) -> str:
    return f"{post_hash}-{config_hash}"


class CorruptStoreError(RuntimeError):
    """A complete (newline-terminated) line of the store is not a valid trace."""


class TraceStore:
    """Append-only, schema-validated JSONL store of REER traces.

    All `*.jsonl` files in `root` belong to the store; this instance appends to `<name>.jsonl`.
    """

    def __init__(self, root: str | Path, name: str = "traces"):
        self.root = Path(root)
        self.path = self.root / f"{name}.jsonl"
        self.lock = FileLock(str(self.root / LOCK_NAME))
        self._offsets: dict[Path, int] = {}
        self._ids: set[str] = set()
        self.repaired_bytes = 0  # torn bytes this instance cut off

    # -- reading -------------------------------------------------------------------------------
    def files(self) -> list[Path]:
        return sorted(self.root.glob("*.jsonl")) if self.root.exists() else []

    @staticmethod
    def _complete_lines(path: Path, offset: int) -> Iterator[tuple[int, bytes]]:
        """(end offset, line) for each newline-terminated line after `offset`; torn tail skipped."""
        with open(path, "rb") as f:
            f.seek(offset)
            for raw in f:
                if not raw.endswith(b"\n"):
                    return  # a torn or in-flight last line: not a record (yet)
                offset += len(raw)
                yield offset, raw

    def _scan(self) -> None:
        """Read lines appended since the last scan and remember their ids."""
        for path in self.files():
            start = self._offsets.get(path, 0)
            if path.stat().st_size < start:  # shorter than what we consumed: rewritten, rescan
                start = 0
            for end, raw in self._complete_lines(path, start):
                if raw.strip():
                    try:
                        self._ids.add(json.loads(raw)["id"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("unreadable trace line in %s at byte %d", path, start)
                start = end
            self._offsets[path] = start

    def has(self, id_: str) -> bool:
        self._scan()
        return id_ in self._ids

    def ids(self) -> frozenset[str]:
        self._scan()
        return frozenset(self._ids)

    def __len__(self) -> int:
        return len(self.ids())

    def read(self, validate: bool = True) -> Iterator[dict[str, Any]]:
        """Every complete record, validated against its schema version; first copy of an id wins."""
        seen: set[str] = set()
        for path in self.files():
            pos = 0
            for end, raw in self._complete_lines(path, 0):
                if raw.strip():
                    try:
                        rec = json.loads(raw)
                        if validate:
                            validate_trace(rec)
                    except (ValueError, SchemaError) as e:
                        raise CorruptStoreError(f"{path} at byte {pos}: {e}") from e
                    if rec["id"] not in seen:
                        seen.add(rec["id"])
                        yield rec
                pos = end

    # -- writing -------------------------------------------------------------------------------
    def _repair_tail(self, path: Path) -> None:
        """Cut a torn last line (bytes after the last newline). Call under the lock."""
        if not path.exists():
            return
        with open(path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            pos, keep = size, 0
            while pos > 0:
                step = min(65536, pos)
                pos -= step
                f.seek(pos)
                i = f.read(step).rfind(b"\n")
                if i >= 0:
                    keep = pos + i + 1
                    break
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        self.repaired_bytes += size - keep
        log.warning("cut a torn trace line (%d bytes) from %s", size - keep, path)

    def append(self, trace: dict[str, Any]) -> bool:
        """Validate and append one trace; False (and nothing written) if its id is stored."""
        validate_trace(trace)
        if trace["schema_version"] != SCHEMA_VERSION:
            raise SchemaError(f"writers emit schema_version {SCHEMA_VERSION} only")
        line = (json.dumps(trace, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        self.root.mkdir(parents=True, exist_ok=True)
        with self.lock:
            self._repair_tail(self.path)
            self._scan()
            if trace["id"] in self._ids:
                return False
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.root)
            self._ids.add(trace["id"])
        return True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- DuckDB ------------------------------------------------------------------------------------
_COLUMNS = {
    "schema_version": "INTEGER",
    "id": "VARCHAR",
    "post_hash": "VARCHAR",
    "config_hash": "VARCHAR",
    "post_id": "VARCHAR",
    "platform": "VARCHAR",
    "author": "VARCHAR",
    "post_created_at": "VARCHAR",
    "engagement_pct": "DOUBLE",
    "y": "VARCHAR",
    "x": "JSON",
    "z_initial": "VARCHAR",
    "trajectory": "VARCHAR",
    "segments": "JSON",
    "score_before": "DOUBLE",
    "score_after": "DOUBLE",
    "steps": "JSON",
    "stop_reason": "VARCHAR",
    "kept": "BOOLEAN",
    "rejected_reason": "VARCHAR",
    "usage": "JSON",
    "wall_time_s": "DOUBLE",
    "config": "JSON",
    "proposer_uri": "VARCHAR",
    "scorer_uri": "VARCHAR",
    "created_at": "VARCHAR",
}


def create_duckdb_view(con: Any, root: str | Path, name: str = "reer_traces") -> str:
    """Create (or replace) the temporary view `name` in `con` over the store's JSONL files.

    Temporary, so it works on read-only connections and never outlives the data it reads.

    DuckDB reads the files directly at query time, so new traces show up without re-creating the
    view. A torn last line is skipped. Columns are flattened (topic, audience, intent, token
    counts, n_steps, n_accepted); nested parts stay JSON. Returns the view name.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if not any(root.glob("*.jsonl")):
        (root / "traces.jsonl").touch()  # an empty store file keeps the glob valid
    pattern = str(root / "*.jsonl").replace("'", "''")
    cols = ", ".join(f"'{k}': '{v}'" for k, v in _COLUMNS.items())
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {name} AS
        SELECT
            id, post_id, author, platform, post_hash, config_hash, post_created_at,
            engagement_pct, y,
            json_extract_string(x, '$.text') AS x,
            json_extract_string(x, '$.topic') AS topic,
            json_extract_string(x, '$.audience') AS audience,
            json_extract_string(x, '$.intent') AS intent,
            z_initial, trajectory,
            score_before, score_after, score_before - score_after AS score_gain,
            json_array_length(steps) AS n_steps,
            len(list_filter(json_extract(steps, '$[*].accepted'),
                            lambda a: a::VARCHAR <> 'null')) AS n_accepted,
            stop_reason, kept, rejected_reason,
            CAST(json_extract(usage, '$.generate_calls') AS BIGINT) AS generate_calls,
            CAST(json_extract(usage, '$.score_calls') AS BIGINT) AS score_calls,
            CAST(json_extract(usage, '$.prompt_tokens') AS BIGINT) AS prompt_tokens,
            CAST(json_extract(usage, '$.completion_tokens') AS BIGINT) AS completion_tokens,
            CAST(json_extract(usage, '$.scored_tokens') AS BIGINT) AS scored_tokens,
            wall_time_s, proposer_uri, scorer_uri,
            TRY_CAST(created_at AS TIMESTAMPTZ) AS created_at,
            steps, segments, usage, config, schema_version
        FROM read_json('{pattern}', format = 'newline_delimited', columns = {{{cols}}},
                       ignore_errors = true)
        WHERE schema_version = {SCHEMA_VERSION} AND id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY created_at) = 1
        """
    )
    return name
