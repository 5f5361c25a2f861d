"""Topics to draft for: `topics.yaml`, a list of {topic, platform, audience, links, facts}."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from reer_pipeline import platforms
from reer_pipeline.platforms import Account


class TopicsError(ValueError):
    """A topics file that cannot be read or does not validate."""


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    topic: str = Field(min_length=1)
    platform: str
    audience: str = Field(default="a general audience", min_length=1)
    author: str | None = None  # only for this author's account; unset: every account
    links: list[str] = []  # real links a draft may carry; any other link is dropped
    facts: list[str] = []  # what a draft may assert (events, quotes, numbers) besides the posts

    @field_validator("platform", mode="before")
    @classmethod
    def _known(cls, v):
        return platforms.get(v).name if isinstance(v, str) else v


_TOPICS = TypeAdapter(list[Topic])


def load_topics(path: str | Path) -> list[dict]:
    """The validated topics of `path` as plain dicts."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise TopicsError(f"{path}: cannot read topics: {e}") from e
    if not isinstance(raw, list) or not raw:
        raise TopicsError(f"{path}: expected a non-empty list of {{topic, platform, audience}}")
    try:
        return [t.model_dump() for t in _TOPICS.validate_python(raw)]
    except ValidationError as e:
        problems = "; ".join(
            f"item {err['loc'][0] + 1}"
            + "".join(f".{x}" for x in err["loc"][1:])
            + f": {err['msg']}"
            for err in e.errors()
        )
        raise TopicsError(f"{path}: invalid topics: {problems}") from e


def account_topics(topics: list[dict], account: Account, own: list[dict]) -> list[dict]:
    """The topics for `account`: the file's entries naming its author, else its own topics
    `own`; the file's entries naming no author only when it has no topics of its own."""
    mine = [t for t in topics if t["platform"] == account.platform]
    named = [t for t in mine if t.get("author") == account.author]
    return named or own or [t for t in mine if not t.get("author")]
