"""Bluesky through atproto's `Client`: a thread is a reply chain (root and parent refs), links
and mentions are facets at UTF-8 byte offsets, and engagement is read from the AppView.

Bluesky has no idempotency key, so `find` reads the author's recent posts for the same texts in
the same chain. Errors become `PublishError` with the server's own reason; the app password is
sent only in the login request and is never part of an error (each is raised `from None`, so
no chained exception carries the request that held it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from atproto import Client, models
from atproto_client import exceptions as xrpc
from atproto_client.models.common import XrpcError
from atproto_client.utils.facet_detection import detect_mentions
from atproto_core.exceptions import AtProtocolError
from pydantic import ValidationError

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Outcome, Post, PublishError, Receipt
from reer_pipeline.text import LINK_RE

T = TypeVar("T")
POSTS_PER_READ = 25  # app.bsky.feed.getPosts takes at most 25 URIs
FEED_PAGES = 4  # `find` reads the newest 4 x 100 posts of the account
WEB = "https://bsky.app"

Facet = models.AppBskyRichtextFacet


class BlueskyPublisher:
    """One Bluesky account (handle + app password) on one PDS (`base_url`)."""

    def __init__(
        self, account: Account, credentials: Credentials, base_url: str = "https://bsky.social"
    ):
        self.account = account
        self._credentials = credentials
        self._client = Client(base_url)
        self._did: str | None = None

    def __repr__(self) -> str:
        return f"BlueskyPublisher({self.account})"

    # ---- the protocol ---------------------------------------------------------------------------
    def publish(self, post: Post) -> Receipt:
        did = self._login()
        root = parent = None
        ids: list[str] = []
        for i, text in enumerate(post.parts):
            reply = models.AppBskyFeedPost.ReplyRef(root=root, parent=parent) if parent else None
            try:
                record = models.AppBskyFeedPost.Record(
                    created_at=self._client.get_current_time_iso(),
                    text=text,
                    reply=reply,
                    facets=self.facets(text) or None,
                )
            except ValidationError as exc:
                reason = f"{self.account}: part {i + 1}: {_first_error(exc)}"
                raise PublishError(reason + _sent(ids)) from None
            ref = self._call(lambda r=record: self._client.app.bsky.feed.post.create(did, r), ids)
            parent = models.ComAtprotoRepoStrongRef.Main(uri=ref.uri, cid=ref.cid)
            root = root or parent
            ids.append(ref.uri)
        return Receipt(tuple(ids), post_url(ids[0]))

    def find(self, post: Post) -> Receipt | None:
        did = self._login()
        by_text: dict[str, list] = {}
        for view in self._feed(did):
            by_text.setdefault(view.record.text, []).append(view)
        ids: list[str] = []
        for text in post.parts:
            match = next(
                (
                    v
                    for v in by_text.get(text, [])
                    if _parent_of(v) == (ids[-1] if ids else None) and v.uri not in ids
                ),
                None,
            )
            if match is None:
                return None
            ids.append(match.uri)
        return Receipt(tuple(ids), post_url(ids[0]))

    def outcomes(self, ids: Sequence[str]) -> list[Outcome]:
        self._login()
        found = []
        for start in range(0, len(ids), POSTS_PER_READ):
            batch = list(ids[start : start + POSTS_PER_READ])
            found += self._call(lambda b=batch: self._client.get_posts(b)).posts
        return [
            Outcome(
                v.uri,
                likes=v.like_count,
                reposts=_sum(v.repost_count, v.quote_count),
                replies=v.reply_count,
            )
            for v in found
        ]

    # ---- text -----------------------------------------------------------------------------------
    def facets(self, text: str) -> list[Facet.Main]:
        """Link facets (links as `text.LINK_RE` finds them) and mention facets (handles that
        resolve to a DID), each over its UTF-8 byte range."""
        found = []
        for m in LINK_RE.finditer(text):
            uri = m.group() if "://" in m.group() else f"https://{m.group()}"
            start = len(text[: m.start()].encode())
            found.append(_facet(Facet.Link(uri=uri), start, start + len(m.group().encode())))
        for mention in detect_mentions(text):
            did = self._resolve(mention.handle)
            if did:
                found.append(_facet(Facet.Mention(did=did), mention.byte_start, mention.byte_end))
        return sorted(found, key=lambda f: f.index.byte_start)

    # ---- the server -----------------------------------------------------------------------------
    def _login(self) -> str:
        if self._did is None:
            creds = self._credentials
            self._call(
                lambda: self._client.login(
                    creds["handle"], creds["app_password"], fetch_bsky_profile=False
                )
            )
            self._did = self._call(lambda: self._client.com.atproto.server.get_session()).did
        return self._did

    def _resolve(self, handle: str) -> str | None:
        try:
            return self._call(lambda: self._client.resolve_handle(handle).did)
        except PublishError as exc:
            if exc.status == 400:  # no such handle: the text stays plain there
                return None
            raise

    def _feed(self, did: str) -> Iterator:
        cursor = None
        for _ in range(FEED_PAGES):
            page = self._call(
                lambda c=cursor: self._client.get_author_feed(
                    did, cursor=c, filter="posts_with_replies", limit=100
                )
            )
            for item in page.feed:
                if item.post.author.did == did and item.reason is None:  # not a repost
                    yield item.post
            cursor = page.cursor
            if not cursor:
                return

    def _call(self, fn: Callable[[], T], sent: Sequence[str] = ()) -> T:
        """`fn()`, with every failure of the server or the connection as a PublishError."""
        try:
            return fn()
        except AtProtocolError as exc:
            raise _error(self.account, exc, sent) from None


def post_url(uri: str) -> str:
    """The web address of a post's AT URI (at://did/app.bsky.feed.post/rkey)."""
    did, _, rkey = uri.removeprefix("at://").split("/", 2)
    return f"{WEB}/profile/{did}/post/{rkey.rsplit('/', 1)[-1]}"


def _facet(feature, start: int, end: int) -> Facet.Main:
    return Facet.Main(features=[feature], index=Facet.ByteSlice(byte_start=start, byte_end=end))


def _parent_of(view) -> str | None:
    reply = view.record.reply
    return reply.parent.uri if reply else None


def _sum(*counts: int | None) -> int | None:
    known = [c for c in counts if c is not None]
    return sum(known) if known else None


def _sent(ids: Sequence[str]) -> str:
    """What a thread that failed part-way left on the platform."""
    return f" (after {len(ids)} part(s) went out: {', '.join(ids)})" if ids else ""


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"


def _error(account: Account, exc: AtProtocolError, sent: Sequence[str]) -> PublishError:
    """The server's reason (its `error: message`), the status, and when to call again."""
    response = getattr(exc, "response", None)
    status = response.status_code if response is not None else None
    content = response.content if response is not None else None
    if isinstance(content, XrpcError) and content.error:
        reason = f"{content.error}: {content.message}" if content.message else content.error
    elif status is not None:
        reason = f"HTTP {status}"
    elif isinstance(exc, xrpc.NetworkError):  # no response: the connection failed
        reason = f"no answer from the server ({type(exc.__cause__ or exc).__name__})"
    else:
        reason = str(exc) or type(exc).__name__
    retry_after = None
    if isinstance(exc, xrpc.RateLimitExceededError):
        retry_after = exc.retry_after
        if retry_after is None and exc.reset_at is not None:
            retry_after = max((exc.reset_at - datetime.now(UTC)).total_seconds(), 0.0)
        if retry_after is None:
            retry_after = 60.0  # a 429 that says nothing: wait a minute
    return PublishError(
        f"{account}: {reason}{_sent(sent)}",
        status=status,
        retryable=status is None or status >= 500 or status in (408, 409),
        retry_after=retry_after,
    )
