"""`reer serve`: the review desk (server-rendered pages) and its JSON API, on FastAPI.

The pages and the API call the same `Desk` methods, which call the same domain functions as
`reer draft` and `reer score`. Errors are one line of JSON with their status code.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    StreamingResponse,
)
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from reer_pipeline import platforms
from reer_pipeline.ingest.accounts import find_account
from reer_pipeline.layout import DataLayout
from reer_pipeline.scoring.candidates import COMPONENTS
from reer_pipeline.serve.desk import (
    MAX_DRAFTS,
    MAX_NOTE_CHARS,
    MAX_TEXT_CHARS,
    MAX_TOPIC_CHARS,
    Desk,
    DeskError,
)
from reer_pipeline.serve.security import COOKIE, Guard, same_token
from reer_pipeline.serve.store import DECISIONS, REASONS, summary

HERE = Path(__file__).parent
MAX_BODY = 64 * 1024  # bytes per request body
PAGE = 50  # drafts per desk page
PROGRESS_S = 5.0  # seconds between a streamed draft request's progress lines
log = logging.getLogger("reer.serve")
pages = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
)


class ScoreRequest(BaseModel):
    text: str = Field(max_length=MAX_TEXT_CHARS)
    platform: str = Field(max_length=40)
    topic: str = Field(max_length=MAX_TOPIC_CHARS)
    author: str | None = Field(None, max_length=200)


class DraftRequest(BaseModel):
    topic: str = Field(max_length=MAX_TOPIC_CHARS)
    platform: str = Field(max_length=40)
    author: str | None = Field(None, max_length=200)
    n: int = Field(3, ge=1, le=MAX_DRAFTS)
    audience: str = Field("", max_length=MAX_TOPIC_CHARS)


class DecisionRequest(BaseModel):
    account: str = Field(max_length=240, description="<platform>:<author>")
    decision: str = Field(description=" or ".join(DECISIONS))
    text: str | None = Field(
        None,
        max_length=MAX_TEXT_CHARS,
        description="the text approved (edited); default: as drafted",
    )
    reason: str | None = Field(None, description="for a rejection: " + ", ".join(REASONS))
    note: str = Field("", max_length=MAX_NOTE_CHARS)
    slot: str | None = Field(
        None, max_length=40, description="when to post (ISO time); default: the suggested slot"
    )


def create_app(
    layout: DataLayout | None = None,
    models=None,
    token: str | None = None,
    loopback_only: bool = True,
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The desk's app over the data root of `layout`; `models` (session.Models) are loaded on
    first use, once per process."""
    desk = Desk(layout or DataLayout.from_env(), models)
    app = FastAPI(
        title="reer review desk",
        description="Read, edit, approve and reject drafts; every decision goes to the review log.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.desk = desk
    app.add_middleware(Guard, token=token, loopback_only=loopback_only, max_body=max_body)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    docs(app)

    @app.exception_handler(DeskError)
    async def desk_error(request, exc: DeskError):
        return error(exc.status, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        status = 413 if "at most" in first.get("msg", "") else 422
        return error(status, f"{where}: {first.get('msg')}" if where else first.get("msg"))

    @app.exception_handler(Exception)
    async def crashed(request, exc: Exception):
        log.exception("request %s %s failed", request.method, request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); the server log has details")

    # ---- JSON API ---------------------------------------------------------------------------
    @app.get("/api/accounts", tags=["api"])
    def api_accounts():
        """Accounts in the warehouse, with their queue and decision counts."""
        out = []
        for a in desk.accounts():
            q = desk.queue(a, limit=0)
            out.append({k: q[k] for k in ("account", "pending", *DECISIONS)})
        return out

    @app.get("/api/accounts/{account}/queue", tags=["api"])
    def api_queue(account: str, offset: int = 0, limit: int = PAGE):
        """The account's undecided drafts, usable first, best total first."""
        if not (0 <= offset and 0 <= limit <= 1000):
            raise DeskError("offset must be >= 0 and limit between 0 and 1000")
        return desk.queue(desk.account(account), offset, limit)

    @app.post("/api/draft", tags=["api"])
    def api_draft(req: DraftRequest, stream: bool = False):
        """New drafts for a topic, ranked (as `reer draft`); they join the account's queue.
        With `?stream=true` the answer is JSON lines: `{"status": "drafting", "elapsed_s": ..}`
        every few seconds while the model works, then `{"status": "done", "drafts": [...]}`
        (or `{"status": "error", "error": ...}`)."""
        account = resolve(desk, req.platform, req.author)

        def run() -> dict:
            drafts = desk.draft(account, req.topic, req.n, req.audience)
            return {"account": account.key, "drafts": drafts}

        if not stream:
            return run()
        return StreamingResponse(progress(run), media_type="application/x-ndjson")

    @app.post("/api/score", tags=["api"])
    def api_score(req: ScoreRequest):
        """Every score component, the gate's verdict and the total (as `reer score`)."""
        account = resolve(desk, req.platform, req.author)
        return {"account": account.key, **desk.score(account, req.text, req.topic)}

    @app.post("/api/drafts/{draft_id}/decision", tags=["api"])
    def api_decision(draft_id: str, req: DecisionRequest):
        """Approve (optionally edited, at a slot) or reject (with a reason) a draft. The answer
        comes after the decision is committed to the review log."""
        account = desk.account(req.account)
        return desk.decide(
            account, draft_id, req.decision, req.text, req.reason, req.note, req.slot
        )

    # ---- pages ------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home():
        rows = []
        for a in desk.accounts():
            q = desk.queue(a, limit=0)
            rows.append({"account": a.key, "pending": q["pending"], "summary": summary(q)})
        return page("index.html", accounts=rows)

    @app.get("/accounts/{account}", response_class=HTMLResponse, include_in_schema=False)
    def desk_page(account: str, offset: int = 0):
        a = desk.account(account)
        q = desk.queue(a, max(offset, 0), PAGE)
        return page(
            "desk.html",
            account=a.key,
            platform=platforms.get(a.platform),
            queue=q,
            summary=summary(q),
            components=COMPONENTS,
            reasons=REASONS,
            page_size=PAGE,
            max_drafts=MAX_DRAFTS,
        )

    @app.get("/api/accounts/{account}", tags=["api"])
    def api_account(account: str):
        """The account's posts, top posts, strategy cards, the author model's and tuned
        programs' verdicts, the engagement model's report, and decisions per day."""
        return desk.overview(desk.account(account))

    @app.get("/accounts/{account}/about", response_class=HTMLResponse, include_in_schema=False)
    def account_page(account: str):
        a = desk.account(account)
        return page("account.html", o=desk.overview(a), summary=summary(desk.store.counts(a)))

    @app.get("/accounts/{account}/engagement.png", include_in_schema=False)
    def engagement_plot(account: str):
        return FileResponse(desk.engagement_plot(desk.account(account)), media_type="image/png")

    @app.post("/accounts/{account}/drafts/{draft_id}/approve", include_in_schema=False)
    async def approve_form(account: str, draft_id: str, request: Request):
        form = await read_form(request)
        slot = form.get("time") if form.get("when") == "time" else None
        desk.decide(desk.account(account), draft_id, "approved", form.get("text"), slot=slot)
        return back(account)

    @app.post("/accounts/{account}/drafts/{draft_id}/reject", include_in_schema=False)
    async def reject_form(account: str, draft_id: str, request: Request):
        form = await read_form(request)
        a = desk.account(account)
        desk.decide(a, draft_id, "rejected", reason=form.get("reason"), note=form.get("note", ""))
        return back(account)

    @app.post("/accounts/{account}/draft", include_in_schema=False)
    async def draft_form(account: str, request: Request):
        form = await read_form(request)
        try:
            n = int(form.get("n") or 3)
        except ValueError as e:
            raise DeskError("n must be a number") from e
        desk.draft(desk.account(account), form.get("topic", ""), n)
        return back(account)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page():
        return page("login.html", failed=False)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        given = (await read_form(request)).get("token")
        if not token or not same_token(given, token):
            return page("login.html", failed=bool(token), status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    return app


def resolve(desk: Desk, platform: str, author: str | None):
    """The account of `author` on `platform` (default: most posts there), as `reer score`."""
    try:
        platforms.get(platform)
        return desk._read(lambda con: find_account(con, platform, author))
    except ValueError as e:
        if isinstance(e, DeskError):
            raise
        raise DeskError(str(e), 404) from e


def progress(work):
    """JSON lines: a heartbeat with the elapsed time while `work()` runs in a thread, then its
    result (or its error, in one line)."""
    import json
    import threading
    import time

    done, out = threading.Event(), {}

    def target():
        try:
            out["result"] = {"status": "done"} | work()
        except DeskError as e:
            out["result"] = {"status": "error", "error": str(e), "code": e.status}
        except Exception as e:  # noqa: BLE001 - reported in the stream, logged in full
            log.exception("streamed draft failed")
            out["result"] = {"status": "error", "error": f"internal error ({type(e).__name__})"}
        done.set()

    start = time.monotonic()
    threading.Thread(target=target, daemon=True).start()
    while not done.wait(PROGRESS_S):
        yield json.dumps({"status": "drafting", "elapsed_s": round(time.monotonic() - start, 1)})
        yield "\n"
    yield json.dumps(out["result"]) + "\n"


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def page(name: str, status_code: int = 200, **values) -> HTMLResponse:
    return HTMLResponse(pages.get_template(name).render(**values), status_code=status_code)


def back(account: str) -> RedirectResponse:
    return RedirectResponse(f"/accounts/{quote(account)}", status_code=303)


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each)."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith("application/x-www-form-urlencoded"):
        raise DeskError("expected a form (application/x-www-form-urlencoded)", 415)
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def docs(app: FastAPI) -> None:
    """OpenAPI at /docs with Swagger UI served from this server (the `swagger-ui-bundle`
    package), never from a CDN; without that package, a plain list of the endpoints."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        swagger_ui_path = None
    if swagger_ui_path is not None:
        app.mount("/swagger-ui", StaticFiles(directory=str(swagger_ui_path)), name="swagger")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def swagger():
        if swagger_ui_path is None:
            return page("docs.html", spec=app.openapi())
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=app.title,
            swagger_js_url="/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/swagger-ui/favicon-32x32.png",
        )
