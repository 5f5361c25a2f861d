"""The one `Post` schema every export is normalized into, as pydantic and as Arrow."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
from pydantic import BaseModel, Field, field_validator

from reer_pipeline.platforms import NAMES, PLATFORMS


class Post(BaseModel):
    platform: str
    author: str = Field(min_length=1)
    post_id: str = Field(min_length=1)
    created_at: datetime
    text: str = Field(min_length=1)
    raw_text: str
    is_repost: bool = False
    is_reply: bool = False
    is_thread: bool = False
    reply_to_id: str | None = None
    lang: str | None = None
    likes: int | None = Field(default=None, ge=0)
    reposts: int | None = Field(default=None, ge=0)
    replies: int | None = Field(default=None, ge=0)
    impressions: int | None = Field(default=None, ge=0)
    links: list[str] = []
    media_count: int = 0
    url: str | None = None
    source_file: str
    source_hash: str

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, v: str) -> str:
        if v not in PLATFORMS:
            raise ValueError(f"platform must be one of {NAMES}, got {v!r}")
        return v

    @field_validator("created_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


POST_SCHEMA = pa.schema(
    [
        pa.field("platform", pa.string(), nullable=False),
        pa.field("author", pa.string(), nullable=False),
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("raw_text", pa.string(), nullable=False),
        pa.field("is_repost", pa.bool_(), nullable=False),
        pa.field("is_reply", pa.bool_(), nullable=False),
        pa.field("is_thread", pa.bool_(), nullable=False),
        pa.field("reply_to_id", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("likes", pa.int64()),
        pa.field("reposts", pa.int64()),
        pa.field("replies", pa.int64()),
        pa.field("impressions", pa.int64()),
        pa.field("links", pa.list_(pa.string()), nullable=False),
        pa.field("media_count", pa.int32(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_hash", pa.string(), nullable=False),
    ]
)

assert POST_SCHEMA.names == list(Post.model_fields), "Arrow and pydantic schemas drifted apart"
