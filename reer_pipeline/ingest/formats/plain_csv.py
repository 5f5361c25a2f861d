"""Any other CSV: the columns are named by a mapping (`ExportOptions.csv`, `<file>.columns.yaml`)
or detected from the header (`ingest.mapping`)."""

from __future__ import annotations

import hashlib

from reer_pipeline.ingest.formats import csvfile
from reer_pipeline.ingest.formats.base import STATUS_URL, Context, ExportError, Head
from reer_pipeline.ingest.formats.fields import cell, count, parse_time, req_time
from reer_pipeline.ingest.mapping import (
    MappingError,
    describe,
    load_column_mapping,
    merge,
    resolve,
    sidecar_path,
)
from reer_pipeline.ingest.schema import Post
from reer_pipeline.ingest.text import clean_text


def sniff(head: Head) -> bool:
    """Any text the formats before it did not take (`head.text` refuses a blank file)."""
    return bool(head.text)


def parse(ctx: Context, head: Head):
    return csvfile.read(ctx, head, lambda header: _builder(ctx, header))


def _builder(ctx: Context, names: list[str]):
    mapping = _mapping(ctx, names)
    return lambda row: _row(ctx, row, mapping)


def _mapping(ctx: Context, names: list[str]) -> dict[str, str | None]:
    path = ctx.path
    try:
        side = load_column_mapping(path) if ctx.options.use_mapping_file else None
    except MappingError as exc:
        raise ExportError(path, str(exc)) from None
    given = merge(side, ctx.options.csv)
    resolved, missing = resolve(names, given)
    ctx.stats.columns = names
    ctx.stats.mapping = resolved
    if missing:
        shown = ", ".join(repr(n) for n in names[:30]) + (" ..." if len(names) > 30 else "")
        raise ExportError(
            path,
            f"no usable column for {', '.join(missing)}; columns found: {shown}; "
            f"mapping tried: {describe(resolved)}; name the columns in "
            f"{sidecar_path(path).name} (e.g. 'text: body') or with --columns text=body",
        )
    return resolved | {"platform": given.platform}


def _row(ctx: Context, row: csvfile.Row, m: dict) -> Post:
    raw = cell(row, m["text"])
    text = clean_text(raw)
    url = cell(row, m["url"], required=False) if m["url"] else None
    status = STATUS_URL.match(url or "")
    author = (
        (cell(row, m["author"], required=False) if m["author"] else None)
        or ctx.options.author
        or (status.group(1) if status else None)
    )
    post_id = cell(row, m["post_id"], required=False) if m["post_id"] else None
    post_id = post_id or (status.group(2) if status else None)
    created = cell(row, m["created_at"])
    if not post_id:
        # No id column and no status url: the post is known by its time and text.
        post_id = "h" + hashlib.sha1(f"{created}\n{raw}".encode()).hexdigest()[:16]
    return ctx.post(
        m["text"],
        platform=m["platform"],
        author=author or "me",
        post_id=post_id,
        created_at=req_time(row, m["created_at"], parse_time),
        text=text,
        raw_text=raw,
        is_repost=text.startswith("RT @"),
        is_reply=text.startswith("@"),
        likes=count(row, m["likes"]) if m["likes"] else None,
        reposts=count(row, m["reposts"]) if m["reposts"] else None,
        replies=count(row, m["replies"]) if m["replies"] else None,
        impressions=count(row, m["impressions"]) if m["impressions"] else None,
        url=url or None,
    )
