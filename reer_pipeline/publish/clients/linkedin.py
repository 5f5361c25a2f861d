"""LinkedIn through its Posts API (`POST /rest/posts`, versioned by the `LinkedIn-Version`
header, Rest.li protocol 2.0.0): the author is a member (`urn:li:person:…`) or an organization
(`urn:li:organization:…`), the new post's URN comes back in the `x-restli-id` header. No
threads: one part. `find` lists the author's posts (the `author` finder), `outcomes` reads each
post's `socialActions` summary (likes, comments). LinkedIn has no idempotency key.

`commentary` is in LinkedIn's "little text" format, where `\\ | { } @ [ ] ( ) < > # * _ ~` are
markup, so they are escaped to arrive as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Outcome, Post, PublishError, Receipt
from reer_pipeline.publish.clients import Http, Seen, find_thread, single

API = "https://api.linkedin.com"
VERSION = "202511"  # YYYYMM; LinkedIn serves each version for a year: raise it when it sunsets
RECENT = 20  # posts read by `find`
AUTHORS = ("urn:li:person:", "urn:li:organization:")
_LITTLE_RE = re.compile(r"([\\|{}@\[\]()<>#*_~])")


def little_text(text: str) -> str:
    """`text` with LinkedIn's little-text markup characters escaped."""
    return _LITTLE_RE.sub(r"\\\1", text)


def post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}"


class LinkedInPublisher:
    def __init__(
        self,
        account: Account,
        credentials: Credentials,
        base_url: str | None = None,
        author_urn: str | None = None,
    ):
        if not author_urn or not author_urn.startswith(AUTHORS):
            raise ValueError(
                f"{account}: the linkedin publisher needs author_urn "
                "(urn:li:person:<id> or urn:li:organization:<id>)"
            )
        self.account, self.author = account, author_urn
        token = credentials["access_token"]
        self.http = Http(
            "LinkedIn",
            base_url or API,
            {
                "Authorization": f"Bearer {token}",
                "LinkedIn-Version": VERSION,
                "X-Restli-Protocol-Version": "2.0.0",
            },
            [token],
        )

    def __repr__(self) -> str:
        return f"LinkedInPublisher({self.account}, {self.author})"

    def publish(self, post: Post) -> Receipt:
        body = {
            "author": self.author,
            "commentary": little_text(single("LinkedIn", post)),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        response = self.http.call("POST", "/rest/posts", json=body)
        urn = response.headers.get("x-restli-id")
        if not urn:
            raise PublishError("LinkedIn created a post but sent no x-restli-id", retryable=False)
        return Receipt((urn,), post_url(urn))

    def find(self, post: Post) -> Receipt | None:
        response = self.http.call(
            "GET",
            "/rest/posts",
            params={
                "author": self.author,
                "q": "author",
                "count": RECENT,
                "sortBy": "LAST_MODIFIED",
            },
            headers={"X-RestLi-Method": "FINDER"},
        )
        seen = [
            Seen(e["id"], e.get("commentary", ""), created=e.get("createdAt"))
            for e in response.json().get("elements", [])
        ]
        ids = find_thread(post, seen)
        return Receipt(ids, post_url(ids[0])) if ids else None

    def outcomes(self, ids: Sequence[str]) -> list[Outcome]:
        found = []
        for urn in ids:
            try:
                actions = self.http.call("GET", f"/rest/socialActions/{quote(urn, safe='')}").json()
            except PublishError as exc:
                if exc.status == 404:
                    continue
                raise
            found.append(
                Outcome(
                    urn,
                    likes=(actions.get("likesSummary") or {}).get("totalLikes"),
                    replies=(actions.get("commentsSummary") or {}).get("aggregatedTotalComments"),
                )
            )
        return found
