"""What the exports-folder sensor needs to decide about one folder entry, without dagster."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from reer_pipeline.ingest.formats import file_hash
from reer_pipeline.ingest.mapping import is_sidecar, sidecar_path

PARTIAL_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial")


def skip_reason(entry: os.DirEntry | Path, folder: Path) -> str | None:
    """Why the sensor must not ingest this entry of the exports `folder` (one sentence naming
    it, to log), or None when it is an export to ingest. Silent skips (hidden files, partial
    downloads) return "" so the caller can tell them from the ones worth a log line."""
    path = Path(entry.path if isinstance(entry, os.DirEntry) else entry)
    name = path.name
    if name.startswith(".") or name.endswith(PARTIAL_SUFFIXES):
        return ""
    if is_sidecar(path):
        return ""  # a column mapping file, read with the export beside it
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(Path(folder).resolve()):
            return f"{name}: skipped, a symbolic link to {target}, which is outside {folder}"
        if not target.is_file():
            return f"{name}: skipped, a symbolic link to something that is not a file"
        return f"{name}: skipped, a symbolic link (the file it points to is ingested itself)"
    if path.is_dir():
        return f"{name}: skipped, a folder (zip an X archive folder, or use `reer ingest`)"
    if not path.is_file():
        return f"{name}: skipped, not a regular file"
    return None


def export_digest(path: Path, digest: str | None = None) -> str:
    """The content hash that names an export's partition: the file's SHA-256 (`digest`, when
    already known), combined with its `<file>.columns.yaml` when there is one, so that editing
    the mapping re-ingests it."""
    digest = digest or file_hash(path)
    side = sidecar_path(Path(path))
    if not side.is_file():
        return digest
    return hashlib.sha256(digest.encode() + b"\0" + side.read_bytes()).hexdigest()
