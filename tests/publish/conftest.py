"""Local stand-ins for the platforms that cannot run here: each implements the documented
endpoints its client calls (on pytest-httpserver), checks the auth a real server checks,
keeps the posts it accepted, records every request, and refuses on demand with the platform's
own error shape and rate-limit headers.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote

import pytest
from werkzeug import Request, Response

URL_RE = re.compile(r"https?://\S+")
RETRY_S = 30  # every fake asks a 429 to wait this long, in its own header


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    args: dict
    headers: dict
    body: str

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict:
        return {k: v[0] for k, v in parse_qs(self.body).items()}


@dataclass
class Sent:
    """One post the fake accepted."""

    id: str
    text: str
    reply_to: str | None = None
    key: str | None = None
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    impressions: int = 0
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def iso(self) -> str:
        return self.created.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Fake:
    """A platform: `route` serves its endpoints; `refuse(status)` makes the next request fail."""

    secrets: dict  # credential field -> value
    seen: list[Seen] = field(default_factory=list)
    posts: dict[str, Sent] = field(default_factory=dict)
    refusals: list[int] = field(default_factory=list)
    by_key: dict[str, Sent] = field(default_factory=dict)  # idempotency key -> the post it made
    ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def __call__(self, request: Request) -> Response:
        self.seen.append(
            Seen(
                request.method,
                unquote(request.path),
                request.args.to_dict(),
                dict(request.headers),
                request.get_data(as_text=True),
            )
        )
        if not self.authorized(request):
            return self.error(401, self.unauthorized)
        if self.refusals:
            return self.error(self.refusals.pop(0), f"refused {len(self.seen)}")
        return self.route(request)

    def refuse(self, *statuses: int) -> None:
        self.refusals.extend(statuses)

    def add(self, text: str, reply_to=None, key=None, prefix: str = "") -> Sent:
        """Keep a post; its id is `prefix` and the next number."""
        reply_to = None if reply_to is None else str(reply_to)
        sent = Sent(f"{prefix}{next(self.ids)}", text, reply_to, key)
        self.posts[sent.id] = sent
        return sent

    def error(self, status: int, message: str) -> Response:
        headers = self.retry_headers() if status == 429 else {}
        return reply(self.error_body(status, message), status, headers)

    def retry_headers(self) -> dict:
        return {"Retry-After": str(RETRY_S)}

    unauthorized = "Unauthorized"

    def authorized(self, request: Request) -> bool:
        raise NotImplementedError

    def error_body(self, status: int, message: str):
        raise NotImplementedError

    def route(self, request: Request) -> Response:
        raise NotImplementedError


def reply(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        "" if body is None else json.dumps(body),
        status,
        headers or {},
        content_type="application/json",
    )


def bearer(request: Request, token: str) -> bool:
    return request.headers.get("Authorization") == f"Bearer {token}"


# ---- X: API v2 ----------------------------------------------------------------------------------
class FakeX(Fake):
    """POST /2/tweets, GET /2/users/me, GET /2/users/:id/tweets, GET /2/tweets?ids=; OAuth 1.0a
    user context. X rewrites every link to t.co."""

    user_id = "42"

    def authorized(self, request):
        auth = request.headers.get("Authorization", "")
        return (
            auth.startswith("OAuth ")
            and f'oauth_consumer_key="{self.secrets["consumer_key"]}"' in auth
            and f'oauth_token="{self.secrets["access_token"]}"' in auth
            and "oauth_signature=" in auth
        )

    def error_body(self, status, message):
        return {"title": "Problem", "detail": message, "type": "about:blank", "status": status}

    unauthorized = "Could not authenticate you"

    def retry_headers(self):
        return {
            "x-rate-limit-reset": str(int(time.time()) + RETRY_S),
            "x-rate-limit-remaining": "0",
        }

    def error(self, status, message):
        """X sends its rate-limit headers on every answer, not only on a 429."""
        response = super().error(status, message)
        response.headers.update(self.retry_headers())
        return response

    def tweet(self, p: Sent, metrics=False) -> dict:
        t = {
            "id": p.id,
            "created_at": p.iso(),
            "text": URL_RE.sub("https://t.co/AbC123", p.text),
            "edit_history_tweet_ids": [p.id],
        }
        if p.reply_to:
            t["referenced_tweets"] = [{"type": "replied_to", "id": p.reply_to}]
        if metrics:
            t["public_metrics"] = {
                "retweet_count": p.reposts,
                "reply_count": p.replies,
                "like_count": p.likes,
                "quote_count": 0,
                "bookmark_count": 0,
                "impression_count": p.impressions,
            }
        return t

    def route(self, request):
        path = request.path
        if request.method == "POST" and path == "/2/tweets":
            body = request.get_json()
            p = self.add(body["text"], (body.get("reply") or {}).get("in_reply_to_tweet_id"))
            return reply(
                {"data": {"id": p.id, "text": p.text, "edit_history_tweet_ids": [p.id]}}, 201
            )
        if path == "/2/users/me":
            return reply({"data": {"id": self.user_id, "name": "Ann", "username": "ann"}})
        if path == f"/2/users/{self.user_id}/tweets":
            newest = sorted(self.posts.values(), key=lambda p: int(p.id), reverse=True)
            return reply(
                {"data": [self.tweet(p) for p in newest], "meta": {"result_count": len(newest)}}
            )
        if path == "/2/tweets":
            ids = request.args["ids"].split(",")
            data = [self.tweet(self.posts[i], metrics=True) for i in ids if i in self.posts]
            missing = [
                {"value": i, "detail": "Could not find tweet", "title": "Not Found Error"}
                for i in ids
                if i not in self.posts
            ]
            return reply({"data": data, **({"errors": missing} if missing else {})})
        return self.error(404, "not found")


# ---- Mastodon -----------------------------------------------------------------------------------
def mastodon_html(text: str) -> str:
    """A status's `content` as Mastodon renders it: paragraphs, links shortened with invisible
    spans, hashtags as links."""

    def link(m):
        url = m.group(0)
        scheme, rest = url.split("://", 1)
        return (
            f'<a href="{url}" rel="nofollow noopener" target="_blank">'
            f'<span class="invisible">{scheme}://</span><span class="ellipsis">{rest[:30]}</span>'
            f'<span class="invisible">{rest[30:]}</span></a>'
        )

    def tag(m):
        name = m.group(1)
        href = f"https://m.example/tags/{name}"
        return f'<a href="{href}" class="mention hashtag">#<span>{name}</span></a>'

    paras = []
    for para in re.split(r"\n\s*\n", text):
        escaped = URL_RE.sub(link, html.escape(para, quote=False))
        escaped = re.sub(r"(?<![\w/])#(\w+)", tag, escaped)
        paras.append("<p>" + escaped.replace("\n", "<br />") + "</p>")
    return "".join(paras)


class FakeMastodon(Fake):
    """POST /api/v1/statuses (form fields, Idempotency-Key: the same key returns the same
    status), GET verify_credentials, GET accounts/:id/statuses, GET statuses/:id."""

    account_id = "7"

    def authorized(self, request):
        return bearer(request, self.secrets["access_token"])

    def error_body(self, status, message):
        return {"error": message}

    unauthorized = "The access token is invalid"

    def retry_headers(self):
        reset = datetime.now(UTC) + timedelta(seconds=RETRY_S)
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def status(self, p: Sent) -> dict:
        return {
            "id": p.id,
            "uri": f"https://m.example/users/ann/statuses/{p.id}",
            "url": f"https://m.example/@ann/{p.id}",
            "created_at": p.iso(),
            "content": mastodon_html(p.text),
            "visibility": "public",
            "in_reply_to_id": p.reply_to,
            "favourites_count": p.likes,
            "reblogs_count": p.reposts,
            "replies_count": p.replies,
            "account": {"id": self.account_id, "username": "ann", "acct": "ann"},
        }

    def route(self, request):
        path = request.path
        if request.method == "POST" and path == "/api/v1/statuses":
            form = request.form
            key = request.headers.get("Idempotency-Key")
            p = self.by_key.get(key) or self.add(form["status"], form.get("in_reply_to_id"), key)
            if key:
                self.by_key[key] = p
            return reply(self.status(p))
        if path == "/api/v1/accounts/verify_credentials":
            return reply({"id": self.account_id, "username": "ann", "acct": "ann"})
        if path == f"/api/v1/accounts/{self.account_id}/statuses":
            newest = sorted(self.posts.values(), key=lambda p: int(p.id), reverse=True)
            return reply([self.status(p) for p in newest])
        m = re.fullmatch(r"/api/v1/statuses/(\w+)", path)
        if m and m.group(1) in self.posts:
            return reply(self.status(self.posts[m.group(1)]))
        return self.error(404, "Record not found")


# ---- LinkedIn: Posts API ------------------------------------------------------------------------
class FakeLinkedIn(Fake):
    """POST /rest/posts (201, id in x-restli-id), GET /rest/posts?q=author (FINDER),
    GET /rest/socialActions/{urn}; every call needs LinkedIn-Version and Rest.li 2.0.0."""

    def authorized(self, request):
        return bearer(request, self.secrets["access_token"])

    def error_body(self, status, message):
        return {"message": message, "status": status, "serviceErrorCode": 65600}

    unauthorized = "Invalid access token"

    def route(self, request):
        if not re.fullmatch(r"\d{6}", request.headers.get("LinkedIn-Version", "")):
            return self.error(426, "A version must be present")
        if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            return self.error(400, "Rest.li protocol 2.0.0 required")
        path = unquote(request.path)
        if request.method == "POST" and path == "/rest/posts":
            body = request.get_json()
            p = self.add(re.sub(r"\\(.)", r"\1", body["commentary"]), prefix="urn:li:share:")
            return reply(None, 201, {"x-restli-id": p.id})
        if path == "/rest/posts" and request.args.get("q") == "author":
            if request.headers.get("X-RestLi-Method") != "FINDER":
                return self.error(400, "finder requires X-RestLi-Method: FINDER")
            elements = [
                {
                    "id": p.id,
                    "author": request.args["author"],
                    "commentary": p.text,
                    "createdAt": int(p.created.timestamp() * 1000),
                }
                for p in self.posts.values()
            ]
            return reply({"elements": elements[::-1], "paging": {"count": 20, "start": 0}})
        m = re.fullmatch(r"/rest/socialActions/(.+)", path)
        if m and m.group(1) in self.posts:
            p = self.posts[m.group(1)]
            return reply(
                {
                    "target": p.id,
                    "likesSummary": {"totalLikes": p.likes, "likedByCurrentUser": False},
                    "commentsSummary": {
                        "aggregatedTotalComments": p.replies,
                        "totalFirstLevelComments": p.replies,
                    },
                }
            )
        return self.error(404, "Not found")


# ---- Facebook: Graph API ------------------------------------------------------------------------
class FakeFacebook(Fake):
    """POST /vX/{page}/feed (message), GET /vX/{page}/feed, GET /vX/?ids=…&fields=…"""

    page_id = "555"

    def authorized(self, request):
        return bearer(request, self.secrets["page_access_token"])

    def error_body(self, status, message):
        return {
            "error": {"message": message, "type": "OAuthException", "code": 190, "fbtrace_id": "A1"}
        }

    unauthorized = "Error validating access token: Session has expired"

    def route(self, request):
        m = re.fullmatch(r"/v\d+\.\d+(/.*)", request.path)
        path = m.group(1) if m else ""
        if request.method == "POST" and path == f"/{self.page_id}/feed":
            p = self.add(request.form["message"], prefix=f"{self.page_id}_")
            return reply({"id": p.id})
        if path == f"/{self.page_id}/feed":
            return reply(
                {
                    "data": [
                        {
                            "id": p.id,
                            "message": p.text,
                            "created_time": p.created.strftime("%Y-%m-%dT%H:%M:%S+0000"),
                        }
                        for p in list(self.posts.values())[::-1]
                    ]
                }
            )
        if path == "/" and "ids" in request.args:
            got = {}
            for i in request.args["ids"].split(","):
                if i in self.posts:
                    p = self.posts[i]
                    got[i] = {
                        "id": i,
                        "likes": {"data": [], "summary": {"total_count": p.likes}},
                        "comments": {"data": [], "summary": {"total_count": p.replies}},
                        **({"shares": {"count": p.reposts}} if p.reposts else {}),
                    }
            return reply(got)
        return self.error(404, "Unsupported get request")


# ---- Discord: webhook ---------------------------------------------------------------------------
class FakeDiscord(Fake):
    """POST /api/webhooks/{id}/{token}?wait=true, GET …/messages/{id}; the token is in the path."""

    webhook_id = "123"

    def authorized(self, request):
        m = re.fullmatch(r"/api/webhooks/(\d+)/([^/]+)(/.*)?", request.path)
        return bool(m) and m.group(2) == self.secrets["token"]

    def error_body(self, status, message):
        if status == 429:
            return {
                "message": "You are being rate limited.",
                "retry_after": RETRY_S,
                "global": False,
            }
        return {"message": message, "code": 0}

    unauthorized = "Invalid Webhook Token"

    def message(self, p: Sent, reactions=False) -> dict:
        m = {
            "id": p.id,
            "channel_id": "9",
            "guild_id": "8",
            "content": p.text,
            "webhook_id": self.webhook_id,
        }
        if reactions and p.likes:
            m["reactions"] = [{"count": p.likes, "emoji": {"name": "👍"}}]
        return m

    def route(self, request):
        rest = request.path.split("/", 5)[5:]
        if request.method == "POST" and not rest:
            if request.args.get("wait") != "true":
                return reply(None, 204)  # without wait Discord answers no message
            p = self.add(request.get_json()["content"])
            return reply(self.message(p))
        m = re.fullmatch(r"messages/(\d+)", rest[0]) if rest else None
        if m and m.group(1) in self.posts:
            return reply(self.message(self.posts[m.group(1)], reactions=True))
        return self.error(404, "Unknown Message")


# ---- Postiz: public API -------------------------------------------------------------------------
class FakePostiz(Fake):
    """POST /public/v1/posts, GET /public/v1/posts?startDate&endDate,
    GET /public/v1/analytics/post/:id; `Authorization: <api key>`."""

    integration = "int-1"

    def authorized(self, request):
        return request.headers.get("Authorization") == self.secrets["api_key"]

    def error_body(self, status, message):
        return {"statusCode": status, "message": message}

    def route(self, request):
        path = request.path
        if request.method == "POST" and path == "/public/v1/posts":
            body = request.get_json()
            created = []
            for item in body["posts"]:
                values = [v["content"] for v in item["value"]]
                p = self.add("\n\n".join(values))
                p.key = json.dumps(item)  # what it was asked to send, for the test to read
                created.append({"postId": p.id, "integration": item["integration"]["id"]})
            return reply(created)
        if path == "/public/v1/posts":
            datetime.fromisoformat(request.args["startDate"].replace("Z", "+00:00"))
            datetime.fromisoformat(request.args["endDate"].replace("Z", "+00:00"))
            posts = [
                {
                    "id": p.id,
                    "content": "<p>"
                    + html.escape(json.loads(p.key)["value"][0]["content"])
                    + "</p>",
                    "publishDate": p.iso(),
                    "releaseURL": f"https://x.com/ann/status/9{p.id}",
                    "state": "PUBLISHED",
                    "integration": {
                        "id": json.loads(p.key)["integration"]["id"],
                        "providerIdentifier": "x",
                    },
                }
                for p in self.posts.values()
            ]
            return reply({"posts": posts})
        m = re.fullmatch(r"/public/v1/analytics/post/(.+)", path)
        if m:
            p = self.posts.get(m.group(1))
            if p is None:
                return reply([])
            today = datetime.now(UTC).date().isoformat()
            series = [
                ("Impressions", p.impressions),
                ("Likes", p.likes),
                ("Retweets", p.reposts),
                ("Replies", p.replies),
            ]
            return reply(
                [
                    {"label": k, "percentageChange": 0, "data": [{"total": str(v), "date": today}]}
                    for k, v in series
                ]
            )
        return self.error(404, "Cannot GET " + path)


@pytest.fixture
def platform_server(httpserver):
    """Serve one fake on the local server: `platform_server(fake)` -> the server's base URL."""

    def serve(fake: Fake) -> str:
        httpserver.expect_request(re.compile(".*")).respond_with_handler(fake)
        return httpserver.url_for("").rstrip("/")

    return serve
