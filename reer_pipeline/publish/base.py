"""The one small protocol every publisher speaks, and the table that names them.

A publisher sends an approved post's parts to one platform (a thread is a reply chain), finds
a post it may already have sent (after a crash between the call and the record), and reads the
engagement of posts it sent. `PUBLISHERS` lists them like `lm/registry.PROVIDERS` lists model
providers: a name, the class that implements it (imported only when used), and the credentials
it needs. Credentials are named per account in config (`credentials: {field: ENV_VAR}`) and read
from the environment here, once; no secret is ever part of a message, a repr or a log line.

No dagster import: the publish job, the desk and the benchmarks all use this.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reer_pipeline.platforms import Account


@dataclass(frozen=True)
class Post:
    """Exactly what goes out: one approved draft as the platform's parts."""

    draft_id: str  # the approval's draft; the idempotency key is derived from it
    account: Account
    parts: tuple[str, ...]  # one part, or a thread: part i replies to part i-1
    slot: str  # ISO time it was approved for

    def key(self, part: int = 0) -> str:
        """The idempotency key of one part: the same post sends the same key on every retry."""
        return f"reer-{self.draft_id}-{part}"


@dataclass(frozen=True)
class Receipt:
    """What the platform answered: one id per part sent, and the first part's URL."""

    ids: tuple[str, ...]
    url: str | None = None


@dataclass(frozen=True)
class Outcome:
    """One published post's engagement when it was read (None: the platform does not say)."""

    post_id: str
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    impressions: int | None = None


class PublishError(Exception):
    """The platform refused: `reason` is its own words (never a credential); `retry_after`
    seconds when it asked to be called later (429), else the refusal is final unless
    `retryable` (a 5xx or a dropped connection)."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retryable = retryable or retry_after is not None
        self.retry_after = retry_after


class MissingCredential(PublishError):
    """A credential's environment variable is not set: the message names the variable."""

    def __init__(self, account: Account, field: str, env: str):
        super().__init__(f"{account}: set {env} (the {field} credential) to publish")


class Publisher(Protocol):
    """One platform's client. `publish` sends all parts (the first a post, each next a reply to
    the one before) and raises `PublishError`; `find` returns the receipt of `post` if the
    platform already has it (read from the account's recent posts), else None: for a thread
    that broke off, the ids of the parts that went out, and then `publish(post, sent=ids)`
    sends the rest (only publishers of threaded platforms take `sent`); `outcomes` reads the
    engagement of posts by id (ids it does not know are left out)."""

    def publish(self, post: Post) -> Receipt: ...

    def find(self, post: Post) -> Receipt | None: ...

    def outcomes(self, ids: Sequence[str]) -> list[Outcome]: ...


@dataclass(frozen=True)
class Spec:
    name: str
    backend: str  # "module:Class"; the class is built as Class(account, credentials, **options)
    credentials: tuple[str, ...] = ()  # the credential fields it needs (each from an env var)
    options: tuple[str, ...] = ()  # settings that are not secrets (base_url, author urn, ...)
    platforms: tuple[str, ...] = ()  # the accounts it may publish for; () means any platform


HTTP = ("base_url",)  # every networked publisher can be pointed at another server (tests, a proxy)
PUBLISHERS = {
    s.name: s
    for s in (
        Spec("outbox", "reer_pipeline.publish.outbox:Outbox", options=("path",)),
        Spec(
            "x",
            "reer_pipeline.publish.clients.x:XPublisher",
            ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
            HTTP,
            ("x",),
        ),
        Spec(
            "mastodon",
            "reer_pipeline.publish.clients.mastodon:MastodonPublisher",
            ("access_token",),
            (*HTTP, "visibility"),
            ("mastodon",),
        ),
        Spec(
            "bluesky",
            "reer_pipeline.publish.clients.bluesky:BlueskyPublisher",
            ("handle", "app_password"),
            HTTP,
            ("bluesky",),
        ),
        Spec(
            "linkedin",
            "reer_pipeline.publish.clients.linkedin:LinkedInPublisher",
            ("access_token",),
            (*HTTP, "author_urn"),
            ("linkedin",),
        ),
        Spec(
            "facebook",
            "reer_pipeline.publish.clients.facebook:FacebookPublisher",
            ("page_access_token",),
            (*HTTP, "page_id"),
            ("facebook",),
        ),
        # The webhook URL holds its token, so it is a credential.
        Spec(
            "discord",
            "reer_pipeline.publish.clients.discord:DiscordPublisher",
            ("webhook_url",),
            platforms=("discord",),
        ),
        # Postiz reaches every provider its user connected: any platform, one integration id.
        Spec(
            "postiz",
            "reer_pipeline.publish.clients.postiz:PostizPublisher",
            ("api_key",),
            (*HTTP, "integration_id"),
        ),
    )
}


@dataclass(frozen=True)
class Credentials:
    """Secrets read from the environment; repr and str never show them."""

    values: Mapping[str, str] = field(repr=False)

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def __repr__(self) -> str:
        return f"Credentials({', '.join(sorted(self.values))})"

    __str__ = __repr__


def read_credentials(account: Account, spec: Spec, env_names: Mapping[str, str]) -> Credentials:
    """Each credential `spec` needs, from the environment variable config names for it."""
    values = {}
    for name in spec.credentials:
        env = env_names.get(name)
        if not env:
            raise PublishError(
                f"{account}: config names no environment variable for the "
                f"{spec.name} credential {name!r}"
            )
        value = os.environ.get(env, "")
        if not value:
            raise MissingCredential(account, name, env)
        values[name] = value
    return Credentials(values)


def build(
    account: Account, name: str, env_names: Mapping[str, str] | None = None, **options
) -> Publisher:
    """The publisher `name` for `account`, with its credentials from the environment."""
    if name not in PUBLISHERS:
        raise ValueError(f"unknown publisher {name!r}; expected one of {', '.join(PUBLISHERS)}")
    spec = PUBLISHERS[name]
    if spec.platforms and account.platform not in spec.platforms:
        raise ValueError(f"publisher {name!r} cannot publish for {account}")
    unknown = set(options) - set(spec.options)
    if unknown:
        raise ValueError(f"publisher {name!r} has no option {', '.join(sorted(unknown))}")
    creds = read_credentials(account, spec, env_names or {})
    module, cls = spec.backend.split(":")
    return getattr(importlib.import_module(module), cls)(account, creds, **options)
