"""X (Twitter) through tweepy's API v2 `Client`: a thread is a reply chain
(`in_reply_to_tweet_id`), `find` reads the account's recent tweets, `outcomes` their
`public_metrics`. X has no idempotency key, so after a crash `find` is the only guard.

tweepy hard-codes `https://api.twitter.com`; `base_url` (tests, a proxy) mounts a requests
transport adapter on the client's own public `session` that sends those requests there instead.
The OAuth 1.0a signature is still computed for the api.twitter.com URL.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests
import tweepy

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Outcome, Post, Receipt
from reer_pipeline.publish.clients import (
    Seen,
    body_of,
    find_thread,
    keep_secret,
    refusal,
    send_thread,
    unreachable,
)

API = "https://api.twitter.com"
RECENT = 100  # tweets read by `find` (X's page maximum)
IDS_PER_CALL = 100  # tweets per lookup of outcomes


class _Redirect(requests.adapters.HTTPAdapter):
    """Sends requests for `API` to `base_url`."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request, **kwargs):
        request.url = self.base_url + request.url[len(API) :]
        return super().send(request, **kwargs)


class XPublisher:
    def __init__(self, account: Account, credentials: Credentials, base_url: str | None = None):
        keep_secret(credentials.values.values())
        self.account = account
        self.client = tweepy.Client(
            consumer_key=credentials["consumer_key"],
            consumer_secret=credentials["consumer_secret"],
            access_token=credentials["access_token"],
            access_token_secret=credentials["access_token_secret"],
        )
        if base_url:
            self.client.session.mount(API, _Redirect(base_url))
        self._user_id = None

    def __repr__(self) -> str:
        return f"XPublisher({self.account})"

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, user_auth=True, **kwargs)
        except tweepy.HTTPException as exc:
            r = exc.response
            raise refusal("X", r.status_code, r.headers, body_of(r)) from None
        except requests.RequestException as exc:
            raise unreachable("X", exc) from None

    def publish(self, post: Post, sent: Sequence[str] = ()) -> Receipt:
        def send(i: int, reply_to: str | None) -> str:
            tweet = self._call(
                self.client.create_tweet, text=post.parts[i], in_reply_to_tweet_id=reply_to
            )
            return tweet.data["id"]

        ids = send_thread(post, send, sent)
        return Receipt(ids, f"https://x.com/{self.account.author}/status/{ids[0]}")

    def find(self, post: Post) -> Receipt | None:
        if self._user_id is None:
            self._user_id = self._call(self.client.get_me).data.id
        tweets = self._call(
            self.client.get_users_tweets,
            self._user_id,
            max_results=RECENT,
            tweet_fields=["referenced_tweets", "created_at"],
        ).data
        seen = [Seen(t.id, t.text, _replied_to(t), t.created_at) for t in tweets or ()]
        ids = find_thread(post, seen)
        return Receipt(ids, f"https://x.com/{self.account.author}/status/{ids[0]}") if ids else None

    def outcomes(self, ids: Sequence[str]) -> list[Outcome]:
        found = []
        for start in range(0, len(ids), IDS_PER_CALL):
            chunk = list(ids[start : start + IDS_PER_CALL])
            tweets = self._call(self.client.get_tweets, chunk, tweet_fields=["public_metrics"])
            for t in tweets.data or ():
                m = t.public_metrics or {}
                found.append(
                    Outcome(
                        str(t.id),
                        likes=m.get("like_count"),
                        reposts=m.get("retweet_count"),
                        replies=m.get("reply_count"),
                        impressions=m.get("impression_count"),
                    )
                )
        return found


def _replied_to(tweet) -> str | None:
    for ref in tweet.referenced_tweets or ():
        if ref.type == "replied_to":
            return str(ref.id)
    return None
