"""X's analytics export (`tweet_activity_metrics_*.csv`): one row per post with impressions."""

from __future__ import annotations

from reer_pipeline.ingest.formats import csvfile
from reer_pipeline.ingest.formats.base import STATUS_URL, Context, Head
from reer_pipeline.ingest.formats.fields import cell, count, parse_time, req_time
from reer_pipeline.ingest.schema import Post
from reer_pipeline.ingest.text import clean_text

COLUMNS = {"Tweet id", "Tweet permalink", "Tweet text", "time", "impressions"}


def sniff(head: Head) -> bool:
    return COLUMNS <= head.columns


def parse(ctx: Context, head: Head):
    return csvfile.read(ctx, head, lambda header: lambda row: _row(ctx, row))


def _row(ctx: Context, row: csvfile.Row) -> Post:
    raw = cell(row, "Tweet text")
    text = clean_text(raw)
    link = cell(row, "Tweet permalink")
    status = STATUS_URL.match(link)
    return ctx.post(
        "Tweet text",
        platform="x",
        author=ctx.options.author or (status.group(1) if status else "me"),
        post_id=cell(row, "Tweet id"),
        created_at=req_time(row, "time", parse_time),
        text=text,
        raw_text=raw,
        is_repost=text.startswith("RT @"),
        is_reply=text.startswith("@"),
        likes=count(row, "likes"),
        reposts=count(row, "retweets"),
        replies=count(row, "replies"),
        impressions=count(row, "impressions"),
        url=link,
    )
