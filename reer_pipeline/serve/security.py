"""The desk's guard, one ASGI middleware in front of every request:

- Host: on loopback only the loopback names are served (a DNS-rebinding page cannot reach it).
- Token: when `REER_SERVE_TOKEN` is set (required off loopback), every request carries it, as
  `Authorization: Bearer <token>` or the HttpOnly, SameSite=Strict cookie `/login` sets; it is
  compared in constant time (`hmac.compare_digest`).
- Cross-site request forgery: a state-changing request (any method but GET, HEAD, OPTIONS) from a
  browser must be same-origin. Fetch Metadata first (`Sec-Fetch-Site` is `same-origin` or
  `none`), else the `Origin` header must name this host; a request with neither comes from no
  browser (curl, a script) and passes. This is OWASP's "Fetch Metadata" and "verifying origin
  with standard headers" defence, the algorithm of Go's `net/http.CrossOriginProtection`.
- Size: a request body over `max_body` bytes is refused with 413 before the app sees it.
- Every answer it gives itself is one line of JSON; every response gets a strict
  Content-Security-Policy (scripts and styles from this server only).
"""

from __future__ import annotations

import hmac
import json
import re
from urllib.parse import urlsplit

TOKEN_ENV = "REER_SERVE_TOKEN"
COOKIE = "reer_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
OPEN_PATHS = {"/login"}  # reachable without the token (the login form itself)
CSP = (
    "default-src 'self'; script-src 'self'{inline}; style-src 'self'{inline}; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
INLINE_OK = {"/docs"}  # Swagger UI starts itself with an inline script


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    """The security headers of every response: no script or style from anywhere else."""
    inline = " 'unsafe-inline'" if path in INLINE_OK else ""
    return [(b"content-security-policy", CSP.format(inline=inline).encode()), *HEADERS]


TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]{16,}")  # safe in a header and a cookie as it is


def token_problem(token: str) -> str | None:
    """Why `token` cannot be the desk's token, or None."""
    if not TOKEN_CHARS.fullmatch(token):
        return (
            f"{TOKEN_ENV} must be at least 16 letters, digits or ._~- (e.g. `openssl rand -hex 24`)"
        )
    return None


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def same_token(given: str | None, token: str) -> bool:
    """Whether `given` is the token, in time that does not depend on where they differ."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _host_name(host: str) -> str:
    """The name of a Host header value, without its port."""
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


class Guard:
    """ASGI middleware: host, token, CSRF and body-size checks (see the module docstring)."""

    def __init__(self, app, token: str | None, loopback_only: bool, max_body: int):
        self.app = app
        self.token = token or None
        self.loopback_only = loopback_only
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._refuse(scope, headers)
        if problem:
            return await reply(send, *problem)
        if scope["method"] not in SAFE_METHODS:
            body = []
            size = int(headers.get("content-length") or 0)
            if size > self.max_body:
                return await reply(send, 413, self._too_large())
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body.append(message.get("body", b""))
                size = sum(len(b) for b in body)
                if size > self.max_body:
                    return await reply(send, 413, self._too_large())
                more = message.get("more_body", False)
            receive = replay(b"".join(body), receive)

        secure = headers_for(scope["path"])

        async def send_secure(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + secure
            await send(message)

        await self.app(scope, receive, send_secure)

    def _too_large(self) -> str:
        return f"the request body is over {self.max_body:,} bytes"

    def _refuse(self, scope, headers: dict) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if self.loopback_only and not is_loopback(_host_name(host)):
            return 400, f"this server answers only to loopback names, not {host!r}"
        if self.token and scope["path"] not in OPEN_PATHS:
            auth = headers.get("authorization", "")
            given = auth[7:] if auth.lower().startswith("bearer ") else None
            given = given or _cookies(headers.get("cookie", "")).get(COOKIE)
            if not same_token(given, self.token):
                return 401, (
                    f"a token is required: sign in at /login, or send "
                    f"'Authorization: Bearer ${TOKEN_ENV}'"
                )
        if scope["method"] not in SAFE_METHODS:
            site = headers.get("sec-fetch-site")
            origin = headers.get("origin")
            if site is not None:
                if site not in ("same-origin", "none"):
                    return 403, f"cross-site request refused (Sec-Fetch-Site: {site})"
            elif origin is not None and urlsplit(origin).netloc != host:
                return 403, "cross-origin request refused (Origin does not match Host)"
        return None


def replay(body: bytes, receive):
    """An ASGI `receive` that gives the body already read once, then the real messages (the
    client's disconnect, which a streaming response waits for)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def again():
        return pending.pop() if pending else await receive()

    return again


async def reply(send, status: int, error: str, headers: list | None = None) -> None:
    """One line of JSON: {"error": ...}."""
    body = json.dumps({"error": error, "status": status}, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
                *headers_for(""),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
