"""LinkedIn's `Shares.csv` (from "Get a copy of your data")."""

from __future__ import annotations

from reer_pipeline.ingest.formats import csvfile
from reer_pipeline.ingest.formats.base import Context, Head
from reer_pipeline.ingest.formats.fields import cell, parse_time, req_time
from reer_pipeline.ingest.schema import Post
from reer_pipeline.ingest.text import clean_text

COLUMNS = {"Date", "ShareLink", "ShareCommentary"}


def sniff(head: Head) -> bool:
    return COLUMNS <= head.columns


def parse(ctx: Context, head: Head):
    return csvfile.read(ctx, head, lambda header: lambda row: _row(ctx, row))


def _row(ctx: Context, row: csvfile.Row) -> Post:
    raw = row.get("ShareCommentary") or ""
    link = cell(row, "ShareLink")
    return ctx.post(
        "ShareCommentary",
        platform="linkedin",
        author=ctx.options.author or "me",
        post_id=link.rstrip("/").rsplit("%3A", 1)[-1].rsplit(":", 1)[-1],
        created_at=req_time(row, "Date", parse_time),
        # A share with no commentary is a plain repost; its only content is what it points at.
        text=clean_text(_unquote_lines(raw)) or (row.get("SharedUrl") or "").strip() or link,
        raw_text=raw,
        is_repost=not raw.strip(),
        media_count=1 if (row.get("MediaUrl") or "").strip() else 0,
        url=link,
    )


def _unquote_lines(text: str) -> str:
    """LinkedIn wraps each line of a multi-line post in stray quotes: strip them."""
    lines = text.split("\n")
    if len(lines) < 2:
        return text
    out = []
    for i, line in enumerate(lines):
        if i > 0 and line.startswith('"'):
            line = line[1:]
        if i < len(lines) - 1 and line.endswith('"'):
            line = line[:-1]
        out.append(line)
    return "\n".join(out)
