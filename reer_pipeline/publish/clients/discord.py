"""Discord through a channel webhook: `POST {webhook}?wait=true` returns the message (so its id
comes back). Webhooks have no reply chain, so a thread of parts is successive messages. A
webhook cannot list a channel's messages, so `find` cannot see a post already sent (None: after
a crash between the call and the record, a retry may post twice), and there is no idempotency
key. `outcomes` reads a message the webhook sent (`GET {webhook}/messages/{id}`): its reactions
when Discord includes them, else None.

The webhook URL holds its token: it is a credential, kept out of every message and log line.
Its query (`?thread_id=…`, a forum or thread channel) is kept on every call.
Mentions in a draft never ping anyone (`allowed_mentions` parses none).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Outcome, Post, PublishError, Receipt
from reer_pipeline.publish.clients import Http, send_thread


class DiscordPublisher:
    def __init__(self, account: Account, credentials: Credentials):
        url = credentials["webhook_url"]
        parts = urlsplit(url)
        hook = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.account = account
        self.query = dict(parse_qsl(parts.query))  # e.g. thread_id: post into a thread
        self.http = Http("Discord", hook, {}, [url, hook, hook.rsplit("/", 1)[-1]])

    def __repr__(self) -> str:
        return f"DiscordPublisher({self.account})"

    def publish(self, post: Post, sent: Sequence[str] = ()) -> Receipt:
        first = []

        def send(i: int, reply_to: str | None) -> str:
            message = self.http.call(
                "POST",
                "",
                params={**self.query, "wait": "true"},
                json={"content": post.parts[i], "allowed_mentions": {"parse": []}},
            ).json()
            first.append(message)
            return message["id"]

        ids = send_thread(post, send, sent)
        return Receipt(ids, _url(first[0]) if first and not sent else None)

    def find(self, post: Post) -> Receipt | None:
        return None  # a webhook cannot list the channel's messages

    def outcomes(self, ids: Sequence[str]) -> list[Outcome]:
        found = []
        for id_ in ids:
            try:
                message = self.http.call("GET", f"/messages/{id_}", params=self.query).json()
            except PublishError as exc:
                if exc.status == 404:
                    continue
                raise
            reactions = message.get("reactions")
            likes = sum(r.get("count", 0) for r in reactions) if reactions is not None else None
            found.append(Outcome(str(message["id"]), likes=likes))
        return found


def _url(message: dict) -> str | None:
    """The message's link, when Discord says which server it is in."""
    if message.get("guild_id") and message.get("channel_id"):
        return f"https://discord.com/channels/{message['guild_id']}/{message['channel_id']}/{message['id']}"
    return None
