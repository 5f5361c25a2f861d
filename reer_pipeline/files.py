"""Atomic file writes: a reader sees the old file or folder or the new one, never half of one;
and durable JSON-lines logs: a record appended is on disk, a torn line is never read."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write a file or build a folder at. When the block ends,
    what is there replaces `path` (an old folder is moved aside first, then removed); when the
    block raises, it is removed. Leave nothing at the temporary path to keep `path` as it is."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if not tmp.exists():
        return
    if tmp.is_dir() and path.exists():  # os.replace cannot replace a folder that has files
        old = path.with_name(f".{path.name}.old{os.getpid()}")
        _remove(old)
        os.replace(path, old)
        os.replace(tmp, path)
        _remove(old)
    else:
        os.replace(tmp, path)


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it over `path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)


def write_json(path: Path, data, indent: int = 2) -> Path:
    """`data` as JSON, written atomically."""
    return write_atomic(path, json.dumps(data, indent=indent, default=str, ensure_ascii=False))


def append_jsonl(path: Path, record: dict) -> None:
    """Append `record` as one JSON line: one `write` under an exclusive file lock, then fsync,
    so it is on disk when this returns. A line torn by a killed writer is closed with a newline
    first, so it costs only itself."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # close a line torn by a killed writer
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def read_jsonl(path: Path) -> Iterator[dict]:
    """Every complete record of the JSON-lines file at `path`, oldest first (a torn line is
    skipped; no file, no records)."""
    try:
        with Path(path).open("rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    try:
                        yield json.loads(line)
                    except ValueError:  # a torn line that a later record closed
                        continue
    except FileNotFoundError:
        return
