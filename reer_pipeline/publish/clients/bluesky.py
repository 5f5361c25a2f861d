"""Bluesky through atproto's `Client`: a thread is a reply chain (root and parent refs), links
and mentions are facets at UTF-8 byte offsets, and engagement is read from the AppView.

Bluesky has no idempotency key, so `find` reads the author's recent posts for the same words in
the same chain (`clients.find_thread`), and a thread that broke off is finished from where it
stopped (`publish(post, sent=ids)`). Errors are `clients.refusal`s in the server's own words;
the app password is sent only in the login request and is never part of an error (each is
raised `from None`, so no chained exception carries the request that held it).
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
from requests.structures import CaseInsensitiveDict

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Outcome, Post, PublishError, Receipt
from reer_pipeline.publish.clients import (
    Seen,
    find_thread,
    keep_secret,
    refusal,
    scrub,
    send_thread,
    unreachable,
)
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
        keep_secret([credentials["app_password"]])
        self._client = Client(base_url)
        self._did: str | None = None

    def __repr__(self) -> str:
        return f"BlueskyPublisher({self.account})"

    # ---- the protocol ---------------------------------------------------------------------------
    def publish(self, post: Post, sent: Sequence[str] = ()) -> Receipt:
        """Send the parts after those already `sent` (AT URIs, from `find`), each replying to
        the one before with the thread's root and its parent as strong refs."""
        did = self._login()
        refs = [self._ref(did, uri) for uri in (sent[:1] + sent[-1:] if sent else ())]
        root, parent = (refs[0], refs[-1]) if refs else (None, None)

        def send(i: int, reply_to: str | None) -> str:
            nonlocal root, parent
            reply = models.AppBskyFeedPost.ReplyRef(root=root, parent=parent) if parent else None
            try:
                record = models.AppBskyFeedPost.Record(
                    created_at=self._client.get_current_time_iso(),
                    text=post.parts[i],
                    reply=reply,
                    facets=self.facets(post.parts[i]) or None,
                )
            except ValidationError as exc:
                raise PublishError(f"Bluesky refused part {i + 1}: {_first_error(exc)}") from None
            ref = self._call(lambda: self._client.app.bsky.feed.post.create(did, record))
            parent = models.ComAtprotoRepoStrongRef.Main(uri=ref.uri, cid=ref.cid)
            root = root or parent
            return ref.uri

        ids = send_thread(post, send, sent)
        return Receipt(ids, post_url(ids[0]))

    def find(self, post: Post) -> Receipt | None:
        """The thread's leading parts among the account's recent posts (by their words, each
        replying to the one before); fewer ids than parts: it broke off there."""
        seen = list(self._recent(self._login()))
        ids = find_thread(post, seen)
        return Receipt(ids, post_url(ids[0])) if ids else None

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

    def _ref(self, did: str, uri: str) -> models.ComAtprotoRepoStrongRef.Main:
        """The strong ref (URI and CID) of one of the account's posts, read from its PDS."""
        record = self._call(
            lambda: self._client.app.bsky.feed.post.get(did, uri.rsplit("/", 1)[-1])
        )
        return models.ComAtprotoRepoStrongRef.Main(uri=record.uri, cid=record.cid)

    def _resolve(self, handle: str) -> str | None:
        try:
            return self._call(lambda: self._client.resolve_handle(handle).did)
        except PublishError as exc:
            if exc.status == 400:  # no such handle: the text stays plain there
                return None
            raise

    def _recent(self, did: str) -> Iterator[Seen]:
        """The account's newest posts, from its own repository on the PDS: what was written a
        moment ago is there at once (the AppView's feed lags while it indexes)."""
        cursor = None
        for _ in range(FEED_PAGES):
            page = self._call(
                lambda c=cursor: self._client.app.bsky.feed.post.list(did, cursor=c, limit=100)
            )
            for uri, record in page.records.items():
                parent = record.reply.parent.uri if record.reply else None
                yield Seen(uri, record.text, parent, record.created_at)
            cursor = page.cursor
            if not cursor or not page.records:
                return

    def _call(self, fn: Callable[[], T]) -> T:
        """`fn()`, with every failure of the server or the connection as a PublishError."""
        try:
            return fn()
        except AtProtocolError as exc:
            raise _error(exc) from None


def post_url(uri: str) -> str:
    """The web address of a post's AT URI (at://did/app.bsky.feed.post/rkey)."""
    did, _, rkey = uri.removeprefix("at://").split("/", 2)
    return f"{WEB}/profile/{did}/post/{rkey.rsplit('/', 1)[-1]}"


def _facet(feature, start: int, end: int) -> Facet.Main:
    return Facet.Main(features=[feature], index=Facet.ByteSlice(byte_start=start, byte_end=end))


def _sum(*counts: int | None) -> int | None:
    known = [c for c in counts if c is not None]
    return sum(known) if known else None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"


def _error(exc: AtProtocolError) -> PublishError:
    """The refusal in the server's words (`clients.refusal`), with the wait a 429 asks for:
    Retry-After, else Bluesky's RateLimit-Reset (epoch seconds)."""
    response = getattr(exc, "response", None)
    if response is None:
        if isinstance(exc, xrpc.NetworkError):  # no answer: the connection failed
            return unreachable("Bluesky", exc.__cause__ or exc)
        return PublishError(f"Bluesky: {scrub(str(exc)) or type(exc).__name__}")
    content = response.content
    if isinstance(content, XrpcError):
        content = {
            "message": f"{content.error}: {content.message}" if content.message else None,
            "error": content.error,
        }
    elif isinstance(content, bytes):
        content = content.decode(errors="replace")
    wait = None
    if isinstance(exc, xrpc.RateLimitExceededError):
        wait = exc.retry_after
        if wait is None and exc.reset_at is not None:
            wait = max((exc.reset_at - datetime.now(UTC)).total_seconds(), 0.0)
    headers = CaseInsensitiveDict(response.headers)  # atproto lower-cases the names
    return refusal("Bluesky", response.status_code, headers, content, wait=wait)
