"""Mastodon through Mastodon.py: a thread is a reply chain (`in_reply_to_id`), each part sent
with its own `Idempotency-Key` (the server returns the status it already made for a key it saw
in the last hour), `find` reads the account's statuses, `outcomes` each status's counts.

The instance is `base_url`, else the host of an author named `user@host`.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonNetworkError,
    MastodonRatelimitError,
)

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Outcome, Post, PublishError, Receipt
from reer_pipeline.publish.clients import (
    TIMEOUT,
    Seen,
    body_of,
    find_thread,
    keep_secret,
    refusal,
    send_thread,
    unreachable,
)

RECENT = 40  # statuses read by `find` (Mastodon's page maximum)


class MastodonPublisher:
    def __init__(
        self,
        account: Account,
        credentials: Credentials,
        base_url: str | None = None,
        visibility: str = "public",
    ):
        keep_secret(credentials.values.values())
        if not base_url:
            if "@" not in account.author.strip("@"):
                raise ValueError(f"{account}: set base_url, or name the author user@instance")
            base_url = "https://" + account.author.rsplit("@", 1)[1]
        self.account, self.visibility = account, visibility
        self._last: requests.Response | None = None  # the last response, for its status/headers
        session = requests.Session()
        session.hooks["response"].append(self._record)
        self.api = Mastodon(
            access_token=credentials["access_token"],
            api_base_url=base_url,
            ratelimit_method="throw",  # the ledger decides when to retry, never a sleep here
            request_timeout=TIMEOUT,
            session=session,
        )
        self._me = None

    def __repr__(self) -> str:
        return f"MastodonPublisher({self.account})"

    def _record(self, response, *args, **kwargs):
        self._last = response

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except MastodonNetworkError as exc:
            raise unreachable("Mastodon", exc) from None
        except (MastodonAPIError, MastodonRatelimitError):
            r = self._last
            if r is None or r.ok:  # no answer, or one Mastodon.py could not read: the key
                # makes a retry safe
                raise PublishError("Mastodon gave no readable answer", retryable=True) from None
            raise refusal("Mastodon", r.status_code, r.headers, body_of(r)) from None

    def publish(self, post: Post, sent: Sequence[str] = ()) -> Receipt:
        urls = []

        def send(i: int, reply_to: str | None) -> str:
            status = self._call(
                self.api.status_post,
                post.parts[i],
                in_reply_to_id=reply_to,
                visibility=self.visibility,
                idempotency_key=post.key(i),
            )
            urls.append(status.get("url"))
            return status["id"]

        ids = send_thread(post, send, sent)
        return Receipt(ids, urls[0] if urls and not sent else None)

    def find(self, post: Post) -> Receipt | None:
        if self._me is None:
            self._me = self._call(self.api.me)["id"]
        statuses = self._call(self.api.account_statuses, self._me, limit=RECENT)
        seen = [
            Seen(s["id"], s["content"], s.get("in_reply_to_id"), s.get("created_at"))
            for s in statuses
        ]
        ids = find_thread(post, seen)
        if not ids:
            return None
        url = next((s.get("url") for s in statuses if str(s["id"]) == ids[0]), None)
        return Receipt(ids, url)

    def outcomes(self, ids: Sequence[str]) -> list[Outcome]:
        found = []
        for id_ in ids:
            try:
                s = self._call(self.api.status, id_)
            except PublishError as exc:
                if exc.status == 404:  # deleted, or not this instance's: left out
                    continue
                raise
            found.append(
                Outcome(
                    str(s["id"]),
                    likes=s.get("favourites_count"),
                    reposts=s.get("reblogs_count"),
                    replies=s.get("replies_count"),
                )
            )
        return found
