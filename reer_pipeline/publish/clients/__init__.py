"""What every networked publisher shares: the platform's refusal as a `PublishError`, secrets
kept out of messages and logs, one requests session per publisher, and how a post already sent
is recognised by its words.

A refusal carries the platform's own reason (from its error body, trimmed), the status, whether
a retry may help (429, 5xx, a dropped connection) and how long to wait (Retry-After in seconds
or as an HTTP date, else a rate-limit reset header). No credential is ever in a message: every
secret a publisher holds is registered here, scrubbed from reasons, and scrubbed from the log
records of the HTTP libraries (urllib3 logs request paths at DEBUG, and a Discord webhook's
path holds its token; oauthlib logs OAuth parameters).
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import NamedTuple
from urllib.parse import quote

import requests

from reer_pipeline.publish.base import Post, PublishError
from reer_pipeline.text import words

TIMEOUT = 30  # seconds for one HTTP call
REASON_CHARS = 300  # a platform's reason is trimmed to this
REASON_KEYS = ("detail", "message", "error_description", "error", "msg", "title", "errors")
# The loggers of the libraries our clients call that may print a URL, a header or OAuth params.
LIBRARY_LOGGERS = (
    "urllib3.connectionpool",
    "requests_oauthlib.oauth1_auth",
    "oauthlib.oauth1.rfc5849",
    "oauthlib.oauth1.rfc5849.signature",
    "tweepy.client",
)


class _Redact(logging.Filter):
    """Replaces every registered secret in a log record with `***`."""

    def __init__(self):
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_REDACT = _Redact()
for _name in LIBRARY_LOGGERS:
    logging.getLogger(_name).addFilter(_REDACT)


def keep_secret(values: Iterable[str]) -> None:
    """Register secrets (and their URL-encoded forms) to be scrubbed from reasons and logs."""
    for value in values:
        if value and len(value) >= 4:
            _REDACT.secrets.update({value, quote(value, safe=""), quote(value, safe="/")})


def scrub(message: str) -> str:
    """`message` with every registered secret replaced by `***`."""
    for secret in sorted(_REDACT.secrets, key=len, reverse=True):
        if secret in message:
            message = message.replace(secret, "***")
    return message


# ---- refusals -----------------------------------------------------------------------------------
def platform_reason(body) -> str:
    """The platform's own words in an error body (X, Mastodon, LinkedIn, Graph API, Discord,
    Postiz shapes), or ""."""
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "; ".join(r for r in map(platform_reason, body) if r)
    if isinstance(body, dict):
        for key in REASON_KEYS:
            found = platform_reason(body.get(key)) if body.get(key) else ""
            if found:
                return found
    return ""


def retry_after(
    headers: Mapping[str, str], now: float | None = None, reset: bool = True
) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date), else (with `reset`) from a
    rate-limit reset header (X: epoch seconds; Mastodon: an ISO time); None when there is
    neither."""
    now = time.time() if now is None else now
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    value = reset and (headers.get("x-rate-limit-reset") or headers.get("X-RateLimit-Reset"))
    if value:
        try:
            number = float(value)
            return max(0.0, number - now if number > 1e9 else number)
        except ValueError:
            try:
                return max(
                    0.0, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - now
                )
            except ValueError:
                pass
    return None


def refusal(
    platform: str,
    status: int,
    headers: Mapping[str, str],
    body,
    throttled: bool = False,
    wait: float | None = None,
) -> PublishError:
    """The PublishError for an HTTP refusal: reason in the platform's words, retryable on 429,
    5xx or what the platform calls throttling (`throttled`); retry_after from the headers (or
    `wait`) when throttled, from Retry-After alone on a 5xx (X sends its rate-limit reset on
    every answer); a 401 or any other 4xx is final."""
    said = " ".join(platform_reason(body).split())[:REASON_CHARS] or "no reason given"
    throttled = throttled or status == 429
    wait = wait if wait is not None else retry_after(headers, reset=throttled)
    return PublishError(
        scrub(f"{platform} refused (HTTP {status}): {said}"),
        status=status,
        retryable=throttled or status >= 500,
        retry_after=wait if throttled or status >= 500 else None,
    )


def unreachable(platform: str, exc: Exception) -> PublishError:
    """A dropped or refused connection: retryable, named by its type only (a requests error's
    message holds the URL, which for a webhook holds its token)."""
    return PublishError(
        f"{platform}: could not reach the server ({type(exc).__name__})", retryable=True
    )


def body_of(response: requests.Response):
    """A response's JSON, else its text."""
    try:
        return response.json()
    except ValueError:
        return response.text


class Http:
    """One platform's HTTP API on a requests session: `call` returns the response or raises
    the platform's refusal."""

    def __init__(self, platform: str, base_url: str, headers: Mapping[str, str], secrets=()):
        keep_secret(secrets)
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(headers)

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            response = self.session.request(method, self.base_url + path, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise unreachable(self.platform, exc) from None
        if not response.ok:
            raise self.refused(response)
        return response

    def refused(self, response: requests.Response) -> PublishError:
        """The PublishError for a refusal (a platform with its own rate-limit signals overrides)."""
        return refusal(self.platform, response.status_code, response.headers, body_of(response))

    def __repr__(self) -> str:
        return scrub(f"Http({self.platform}, {self.base_url!r})")  # a webhook URL holds a token


# ---- recognising a post already sent ------------------------------------------------------------
_TAG_RE = re.compile(r"<[^>]+>")
_ANCHOR_RE = re.compile(r"<a\b[^>]*>.*?</a>", re.S | re.I)


def plain(markup: str) -> str:
    """Text from a platform's HTML (Mastodon): link anchors (those Mastodon shortens with an
    `invisible` span) dropped like links in text, hashtags and mentions kept, tags as spaces."""
    if "<" not in markup:
        return markup
    markup = _ANCHOR_RE.sub(lambda m: " " if "invisible" in m.group(0) else m.group(0), markup)
    return html.unescape(_TAG_RE.sub(" ", markup))


def same_words(sent: str, seen: str) -> bool:
    """Whether a platform's copy of a post has the words of what was sent: case, spacing,
    punctuation, markup and links (X rewrites them to t.co) aside."""
    return words(sent) == words(plain(seen))


# ---- threads ------------------------------------------------------------------------------------
def send_thread(post: Post, send: Callable[[int, str | None], str], sent=()) -> tuple[str, ...]:
    """Send the parts of `post` after those already `sent` (their ids), each replying to the one
    before: `send(i, reply_to_id)` sends part i and returns its id. A refusal mid-thread names
    the parts that went out, so the desk shows a broken thread as one."""
    ids = [str(i) for i in sent]
    for i in range(len(ids), len(post.parts)):
        try:
            ids.append(str(send(i, ids[-1] if ids else None)))
        except PublishError as exc:
            if not ids:
                raise
            raise PublishError(
                f"{exc.reason} (after {len(ids)} of {len(post.parts)} parts: {', '.join(ids)})",
                status=exc.status,
                retryable=exc.retryable,
                retry_after=exc.retry_after,
            ) from None
    return tuple(ids)


class Seen(NamedTuple):
    """One of the account's recent posts as the platform lists it."""

    id: str
    text: str
    reply_to: str | None = None  # the post it replies to
    created: object = None  # when: a datetime, an ISO time or epoch seconds/ms; None: unknown


SLACK = timedelta(days=1)  # a post made this long before its slot may still be it (clocks, zones)


def moment(value) -> datetime | None:
    """A platform's timestamp as an aware datetime (None when it cannot be read)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
    if isinstance(value, str):
        try:
            return moment(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def find_thread(post: Post, seen: Iterable[Seen]) -> tuple[str, ...]:
    """The ids of the leading parts of `post` among the account's recent posts `seen`: part 0
    by its words, each next part by its words and by replying to the part before. A post made
    well before the slot is an older post with the same words, not this one. Fewer ids than
    parts: the thread broke off there."""
    slot = moment(post.slot)
    seen = [
        s
        for s in seen
        if slot is None or (made := moment(s.created)) is None or made >= slot - SLACK
    ]
    ids: list[str] = []
    for i, part in enumerate(post.parts):
        parent = ids[-1] if ids else None
        match = next(
            (
                str(s.id)
                for s in seen
                if same_words(part, s.text) and (i == 0 or str(s.reply_to) == parent)
            ),
            None,
        )
        if match is None:
            break
        ids.append(match)
    return tuple(ids)


def single(platform: str, post: Post) -> str:
    """The one part of a post for a platform without threads (a longer draft is cut by the
    platform table's `threaded=False` before approval, so more parts are refused)."""
    if len(post.parts) != 1:
        raise PublishError(f"{platform} has no threads: got {len(post.parts)} parts, send one")
    return post.parts[0]
