"""Postiz through its public API, which reaches every provider the Postiz user connected:
`POST /public/v1/posts` (header `Authorization: <api key>`) with one integration id and the
post's parts as that integration's values (Postiz sends parts after the first as replies or
comments, as the provider does threads). It answers one post id per integration, so a receipt
holds one id. `find` lists the posts around the slot (`GET /public/v1/posts?startDate&endDate`),
`outcomes` reads `GET /public/v1/analytics/post/:id` (series labelled Likes, Comments, ...).
Postiz has no idempotency key. Its hosted API allows 30 requests an hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Outcome, Post, PublishError, Receipt
from reer_pipeline.publish.clients import Http, Seen, find_thread

API = "https://api.postiz.com"
# Each provider's `settings` (its `__type` and required fields); others need only `__type`.
SETTINGS = {"x": {"__type": "x", "who_can_reply_post": "everyone"}}
# Analytics labels -> Outcome fields.
LABELS = {
    "likes": "likes",
    "reactions": "likes",
    "comments": "replies",
    "replies": "replies",
    "retweets": "reposts",
    "reposts": "reposts",
    "shares": "reposts",
    "impressions": "impressions",
    "views": "impressions",
}
WINDOW = timedelta(days=2)  # `find` reads posts this far either side of the slot
ANALYTICS_DAYS = 7


class PostizPublisher:
    def __init__(
        self,
        account: Account,
        credentials: Credentials,
        base_url: str | None = None,
        integration_id: str | None = None,
    ):
        if not integration_id:
            raise ValueError(
                f"{account}: the postiz publisher needs integration_id "
                "(GET /public/v1/integrations lists them)"
            )
        self.account, self.integration = account, integration_id
        key = credentials["api_key"]
        self.http = Http("Postiz", base_url or API, {"Authorization": key}, [key])

    def __repr__(self) -> str:
        return f"PostizPublisher({self.account}, integration {self.integration})"

    def publish(self, post: Post) -> Receipt:
        body = {
            "type": "now",
            "date": _when(post.slot).isoformat().replace("+00:00", "Z"),
            "shortLink": False,  # the text goes out as approved
            "tags": [],
            "posts": [
                {
                    "integration": {"id": self.integration},
                    "value": [{"content": part, "image": []} for part in post.parts],
                    "settings": SETTINGS.get(
                        self.account.platform, {"__type": self.account.platform}
                    ),
                }
            ],
        }
        created = self.http.call("POST", "/public/v1/posts", json=body).json()
        mine = [c for c in created if c.get("integration") == self.integration] or created
        if not mine or not mine[0].get("postId"):
            raise PublishError("Postiz accepted the post but returned no post id")
        return Receipt((str(mine[0]["postId"]),))

    def find(self, post: Post) -> Receipt | None:
        when = _when(post.slot)
        listed = self.http.call(
            "GET",
            "/public/v1/posts",
            params={"startDate": _iso(when - WINDOW), "endDate": _iso(max(when, _now()) + WINDOW)},
        ).json()
        posts = [
            p
            for p in listed.get("posts", [])
            if (p.get("integration") or {}).get("id") == self.integration
        ]
        first = Post(post.draft_id, post.account, post.parts[:1], post.slot)
        seen = [Seen(p["id"], p.get("content", ""), created=p.get("publishDate")) for p in posts]
        ids = find_thread(first, seen)
        if not ids:
            return None
        url = next((p.get("releaseURL") for p in posts if str(p["id"]) == ids[0]), None)
        return Receipt(ids, url)

    def outcomes(self, ids: Sequence[str]) -> list[Outcome]:
        found = []
        for id_ in ids:
            series = self.http.call(
                "GET", f"/public/v1/analytics/post/{id_}", params={"date": ANALYTICS_DAYS}
            ).json()
            if not isinstance(series, list) or not series:  # unknown, or {"missing": true}
                continue
            values = {}
            for s in series:
                field = LABELS.get(str(s.get("label", "")).strip().lower())
                points = s.get("data") or []
                if field and points and field not in values:
                    values[field] = int(float(points[-1].get("total", 0)))
            found.append(Outcome(str(id_), **values))
        return found


def _now() -> datetime:
    return datetime.now(UTC)


def _when(slot: str) -> datetime:
    """The slot as a UTC time (now when it is not an ISO time)."""
    try:
        when = datetime.fromisoformat(slot.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return _now()
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
