"""A Facebook Page through the Graph API: `POST /{page-id}/feed` with the Page access token
(sent as a bearer header, never in the URL), no threads: one part. `find` reads the Page's
feed, `outcomes` reads likes, comments and shares of many posts in one `?ids=` call. The Graph
API has no idempotency key.

The Graph API throttles with HTTP 400 or 403 and an error code (4, 17, 32, 613, 80001), not
429, and says when access returns in the `X-Business-Use-Case-Usage` header
(`estimated_time_to_regain_access`, minutes): those refusals are retryable, with that wait.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import requests

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Outcome, Post, PublishError, Receipt
from reer_pipeline.publish.clients import Http, Seen, body_of, find_thread, refusal, single

API = "https://graph.facebook.com"
VERSION = "v23.0"  # Graph API versions live about two years: raise it when it expires
RECENT = 25  # feed posts read by `find`
IDS_PER_CALL = 50  # the Graph API's limit for `?ids=`
ENGAGEMENT = "likes.summary(true),comments.summary(true),shares"
THROTTLED = {4, 17, 32, 613, 80001}  # the Graph API's rate-limit error codes


class GraphHttp(Http):
    def refused(self, response: requests.Response) -> PublishError:
        body = body_of(response)
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return refusal(
            self.platform,
            response.status_code,
            response.headers,
            body,
            throttled=code in THROTTLED,
            wait=regain_access(response.headers),
        )


def regain_access(headers: Mapping[str, str]) -> float | None:
    """Seconds until the Graph API serves the app again, from `X-Business-Use-Case-Usage`."""
    try:
        usage = json.loads(headers.get("X-Business-Use-Case-Usage") or "{}")
        minutes = [
            u.get("estimated_time_to_regain_access", 0)
            for entries in usage.values()
            for u in entries
        ]
    except (ValueError, AttributeError, TypeError):
        return None
    return max(minutes) * 60.0 if minutes else None


def post_url(post_id: str) -> str:
    return f"https://www.facebook.com/{post_id}"


class FacebookPublisher:
    def __init__(
        self,
        account: Account,
        credentials: Credentials,
        base_url: str | None = None,
        page_id: str | None = None,
    ):
        if not page_id:
            raise ValueError(f"{account}: the facebook publisher needs page_id (the Page's id)")
        self.account, self.page_id = account, str(page_id)
        token = credentials["page_access_token"]
        self.http = GraphHttp(
            "Facebook",
            f"{(base_url or API).rstrip('/')}/{VERSION}",
            {"Authorization": f"Bearer {token}"},
            [token],
        )

    def __repr__(self) -> str:
        return f"FacebookPublisher({self.account}, page {self.page_id})"

    def publish(self, post: Post) -> Receipt:
        text = single("Facebook", post)
        post_id = self.http.call("POST", f"/{self.page_id}/feed", data={"message": text}).json()[
            "id"
        ]
        return Receipt((post_id,), post_url(post_id))

    def find(self, post: Post) -> Receipt | None:
        feed = self.http.call(
            "GET",
            f"/{self.page_id}/feed",
            params={"fields": "id,message,created_time", "limit": RECENT},
        ).json()
        seen = [
            Seen(p["id"], p.get("message", ""), created=p.get("created_time"))
            for p in feed.get("data", [])
        ]
        ids = find_thread(post, seen)
        return Receipt(ids, post_url(ids[0])) if ids else None

    def outcomes(self, ids: Sequence[str]) -> list[Outcome]:
        found = []
        for start in range(0, len(ids), IDS_PER_CALL):
            chunk = ids[start : start + IDS_PER_CALL]
            got = self.http.call("GET", "/", params={"ids": ",".join(chunk), "fields": ENGAGEMENT})
            for post_id, p in got.json().items():
                found.append(
                    Outcome(
                        post_id,
                        likes=_total(p.get("likes")),
                        replies=_total(p.get("comments")),
                        reposts=(p.get("shares") or {}).get("count", 0),
                    )
                )
        return found


def _total(edge) -> int | None:
    return (edge or {}).get("summary", {}).get("total_count")
