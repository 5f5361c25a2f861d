"""Topics to draft for: `topics.yaml`, a list of {topic, platform, audience}."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from reer_pipeline.paths import data_dir


class TopicsError(ValueError):
    """A topics file that cannot be read or does not validate."""


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    topic: str = Field(min_length=1)
    platform: Literal["x", "linkedin", "mastodon"]
    audience: str = Field(default="a general audience", min_length=1)

    @field_validator("platform", mode="before")
    @classmethod
    def _lower(cls, v):
        return v.strip().lower() if isinstance(v, str) else v


_TOPICS = TypeAdapter(list[Topic])


SHIPPED = Path(__file__).resolve().parents[2] / "data" / "topics.yaml"


def topics_path() -> Path:
    """`<data root>/topics.yaml`, or the shipped examples when the data root has none."""
    path = data_dir() / "topics.yaml"
    return path if path.exists() else SHIPPED


def load_topics(path: str | Path | None = None) -> list[dict]:
    """The validated topics of `path` (default `topics_path()`) as plain dicts."""
    path = Path(path) if path else topics_path()
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
