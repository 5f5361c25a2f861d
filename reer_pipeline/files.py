"""Atomic file writes: a reader sees the old file or folder or the new one, never half of one."""

from __future__ import annotations

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
