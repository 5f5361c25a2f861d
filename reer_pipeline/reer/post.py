"""A post to mine, as plain data."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class PostRef:
    """One high-performing post y. `engagement_pct` is its engagement percentile (0-100)."""

    post_id: str
    platform: str
    author: str
    text: str
    created_at: str = ""
    engagement_pct: float = 0.0

    @property
    def post_hash(self) -> str:
        """sha256 of platform|author|post_id|text: stable across runs and machines."""
        key = "|".join([self.platform, self.author, self.post_id, self.text])
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    @classmethod
    def from_any(cls, post: PostRef | dict[str, Any]) -> PostRef:
        """Accept a PostRef or a dict (extra keys ignored, `engagement_percentile` accepted)."""
        if isinstance(post, cls):
            return post
        d = dict(post)
        if "engagement_pct" not in d and "engagement_percentile" in d:
            d["engagement_pct"] = d["engagement_percentile"]
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names and v is not None}
        for k in ("post_id", "platform", "author", "text", "created_at"):
            if k in kw:
                kw[k] = str(kw[k])
        if "engagement_pct" in kw:
            kw["engagement_pct"] = float(kw["engagement_pct"])
        return cls(**kw)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
