"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if isinstance(data, str):
        data = data.encode()
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def write_json(path: Path, data, indent: int = 2) -> Path:
    """`data` as JSON, written atomically."""
    return write_atomic(path, json.dumps(data, indent=indent, default=str, ensure_ascii=False))
