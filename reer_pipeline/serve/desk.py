"""The desk: what `reer serve` does for a request, without the web framework.

One `Desk` per server process holds the review log, a cached read of the warehouse per account
(re-read only when the warehouse file changes), and per account one drafting session and one
scorer, loaded on first use and shared by every request. Concurrent score requests of an
account are merged into one batched scorer call (`lm.batching.MicroBatcher`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb

from reer_pipeline import platforms
from reer_pipeline.ingest.accounts import list_accounts, table_exists
from reer_pipeline.ingest.warehouse import fetch_dicts
from reer_pipeline.layout import DataLayout
from reer_pipeline.learn import retrainings
from reer_pipeline.lm.batching import MicroBatcher
from reer_pipeline.platforms import Account
from reer_pipeline.program.context import AuthorContext, load_context
from reer_pipeline.reer.store import create_duckdb_view
from reer_pipeline.scoring.candidates import COMPONENTS
from reer_pipeline.serve.store import Decision, ReviewStore, draft_id, jsonable, log_path

LOCK_WAIT_S = 10.0  # how long a read waits for a Dagster run's write lock on the warehouse
MAX_TOPIC_CHARS = 300
MAX_TEXT_CHARS = 10_000
MAX_NOTE_CHARS = 2_000
MAX_DRAFTS = 8  # per "draft more" request


class DeskError(ValueError):
    """A request the desk cannot serve, with the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def check_text(name: str, value: str | None, limit: int, required: bool = True) -> str:
    value = value or ""
    if required and not value.strip():
        raise DeskError(f"the {name} is empty")
    if len(value) > limit:
        raise DeskError(f"the {name} is {len(value):,} characters; the limit is {limit:,}", 413)
    return value


def next_slot(slot: dict | None, after: datetime | None = None) -> str | None:
    """The next time (ISO, UTC) at a suggested slot {weekday (1 = Monday), hour}."""
    if not slot:
        return None
    after = after or datetime.now(UTC)
    start = after.replace(minute=0, second=0, microsecond=0)
    for days in range(8):
        t = start + timedelta(days=days)
        t = t.replace(hour=int(slot["hour"]))
        if t.isoweekday() == int(slot["weekday"]) and t > after:
            return t.isoformat()
    return None


def as_utc(when: str) -> str:
    """An ISO time as UTC; a time without a zone (a browser's datetime-local) is taken as UTC."""
    try:
        t = datetime.fromisoformat(when)
    except ValueError as e:
        raise DeskError(f"not a time: {when!r} (expected ISO 8601, e.g. 2026-12-24T09:00)") from e
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def view(platform: str, topic: str, text: str, scores: dict, **extra) -> dict:
    """A draft as the desk shows it: text, length against the platform limit, gate, components."""
    limit = platforms.limit(platform)
    return jsonable(
        {
            "topic": topic,
            "text": text,
            "chars": len(text),
            "limit": limit,
            "usable": scores.get("usable"),
            "gate_reasons": list(scores.get("gate_reasons") or []),
            "total": scores.get("total"),
            "components": {c: scores.get(c) for c in COMPONENTS},
            "feedback": scores.get("feedback"),
            **extra,
            "scores": scores,
        }
    )


@dataclass
class Snapshot:
    """What the desk read of one account from the warehouse, and the file version it read."""

    version: tuple
    entries: list[dict]  # the run's drafts, ranked, with scores and provenance
    ctx: AuthorContext
    read_at: float = field(default_factory=time.time)


class Desk:
    def __init__(self, layout: DataLayout, models=None, max_tokens: int = 256):
        self.layout = layout
        self.store = ReviewStore(log_path(layout.root))
        self.models = models  # `Models` (session.py): None until the first model is needed
        self.max_tokens = max_tokens
        self.lock_wait_s = LOCK_WAIT_S
        self._snapshots: dict[Account, Snapshot] = {}
        self._accounts: tuple[tuple, list[Account]] | None = None
        self._scorers: dict[Account, tuple] = {}  # (warehouse version, scorer)
        self._sessions: dict[tuple[Account, int], tuple] = {}  # (version, session, proposer)
        self._lock = threading.RLock()

    # ---- the warehouse, read-only and cached ------------------------------------------------
    def _version(self) -> tuple:
        path = self.layout.warehouse
        found = []
        for p in (path, path.with_name(path.name + ".wal")):
            try:
                st = p.stat()
                found.append((st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                found.append(None)
        return tuple(found)

    def _read(self, fn):
        """`fn(con)` on a read-only connection, waiting out a writer's lock for a while."""
        if not self.layout.warehouse.exists():
            raise DeskError(f"no warehouse at {self.layout.warehouse}; run `make demo` first", 503)
        deadline, delay = time.monotonic() + self.lock_wait_s, 0.05
        while True:
            try:
                con = duckdb.connect(str(self.layout.warehouse), read_only=True)
                break
            except duckdb.IOException as e:
                if "lock" not in str(e).lower():
                    raise
                if time.monotonic() > deadline:
                    raise DeskError(
                        "the warehouse is busy (a run is writing it); retry", 503
                    ) from e
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            return fn(con)
        finally:
            con.close()

    def accounts(self) -> list[Account]:
        """The warehouse's accounts, read again only when it changed (else the last read)."""
        version = self._version()
        with self._lock:
            if self._accounts and self._accounts[0] == version:
                return self._accounts[1]
            try:
                self._accounts = (version, self._read(list_accounts))
            except DeskError:
                if not self._accounts:
                    raise
            return self._accounts[1]

    def account(self, key: str) -> Account:
        try:
            account = Account.parse(key)
        except ValueError as e:
            raise DeskError(str(e), 404) from e
        if account not in self.accounts():
            raise DeskError(f"no posts of {account} in the warehouse", 404)
        return account

    def snapshot(self, account: Account) -> Snapshot:
        """The account's drafts and context, read again only when the warehouse changed; while
        a run holds the warehouse, the last read is served."""
        version = self._version()
        with self._lock:
            old = self._snapshots.get(account)
            if old is not None and old.version == version:
                return old
            try:
                snap = Snapshot(version, *self._read(lambda con: self._load(con, account)))
            except DeskError:
                if old is None:
                    raise
                return old
            self._snapshots[account] = snap
            return snap

    def _load(self, con, account: Account) -> tuple[list[dict], AuthorContext]:
        ctx = load_context(con, account, self.layout.traces)
        if not table_exists(con, "candidates"):
            return [], ctx
        scored = table_exists(con, "candidate_scores")
        key = [account.platform, account.author]
        rows = fetch_dicts(
            con,
            f"""SELECT c.*, {"to_json(s)" if scored else "NULL"} AS scores
            FROM candidates c
            {
                "LEFT JOIN candidate_scores s ON s.candidate_id = c.id"
                " AND s.platform = c.platform AND s.author = c.author"
                if scored
                else ""
            }
            WHERE c.platform = ? AND c.author = ? ORDER BY c.id""",
            key,
        )
        cards = {c["name"]: c for c in ctx.cards}
        create_duckdb_view(con, self.layout.traces)
        traces = {
            t["post_id"]: t
            for t in fetch_dicts(
                con,
                """SELECT post_id, x, y, trajectory, score_before, score_after FROM reer_traces
                WHERE platform = ? AND author = ?""",
                key,
            )
        }
        entries = {}
        for r in rows:
            scored = bool(r.get("scores"))
            entry = draft_entry(account, r, self._warehouse_scores(r), cards, traces, scored)
            entries.setdefault(entry["draft_id"], entry)
        return rank(list(entries.values())), ctx

    @staticmethod
    def _warehouse_scores(row: dict) -> dict:
        """A `candidates` row's gate verdict and its `candidate_scores` (when it was scored)."""
        import json

        scores = json.loads(row["scores"]) if row.get("scores") else {}
        # the warehouse's `topic` is the topic's text; the topic component is `topic_fit`
        fields = {k: v for k, v in scores.items() if k != "topic"} | {
            "topic": scores.get("topic_fit")
        }
        return (
            {c: None for c in COMPONENTS}
            | fields
            | {
                "usable": row["usable"] if not scores else scores.get("usable"),
                "gate_reasons": row["gate_reasons"] if not scores else scores.get("gate_reasons"),
            }
        )

    # ---- the queue --------------------------------------------------------------------------
    def queue(self, account: Account, offset: int = 0, limit: int = 50) -> dict:
        """The account's undecided drafts, best first (usable, then total), and the counts."""
        snap = self.snapshot(account)
        decided = self.store.latest(account)
        desk = [d["draft"] for d in self.store.drafts(account)]
        seen = {e["draft_id"] for e in snap.entries}
        pending = [e for e in snap.entries if e["draft_id"] not in decided]
        pending += [d for d in desk if d["draft_id"] not in decided and d["draft_id"] not in seen]
        pending = rank(pending)
        counts = {d: 0 for d in ("approved", "rejected")}
        for d in decided.values():
            counts[d["decision"]] += 1
        return {
            "account": account.key,
            "pending": len(pending),
            **counts,
            "warehouse_read_at": datetime.fromtimestamp(snap.read_at, UTC).isoformat(),
            "offset": offset,
            "drafts": pending[offset : offset + limit],
            "approved_drafts": self.outgoing(account, decided) if limit else [],
        }

    def outgoing(self, account: Account, decided: dict[str, dict]) -> list[dict]:
        """The account's approved drafts, newest slot first, with what publishing did with each
        (the ledger's `published` with the URL, `refused` with the platform's reason,
        `retrying`, or `waiting` for its slot)."""
        from reer_pipeline.publish.ledger import Ledger, ledger_path

        entries = Ledger(ledger_path(self.layout.root)).entries(account)
        out = []
        for d in decided.values():
            if d["decision"] != "approved" and d["draft_id"] not in entries:
                continue
            e = entries.get(d["draft_id"])
            url = e.url if e and e.url and e.url.startswith(("https://", "http://")) else None
            out.append(
                {
                    "draft_id": d["draft_id"],
                    "text": d["approved_text"] or (e.parts[0] if e and e.parts else ""),
                    "slot": d["slot"],
                    "status": e.status if e else "waiting",
                    "url": url,
                    "post_id": e.ids[0] if e and e.ids else None,
                    "reason": e.reason if e else None,
                    "retry_at": e.retry_at if e else None,
                }
            )
        return sorted(out, key=lambda o: o["slot"] or "", reverse=True)

    def find(self, account: Account, did: str) -> dict:
        for e in self.snapshot(account).entries:
            if e["draft_id"] == did:
                return e
        for d in self.store.drafts(account):
            if d["draft_id"] == did:
                return d["draft"]
        raise DeskError(f"no draft {did!r} for {account}", 404)

    # ---- the account page -------------------------------------------------------------------
    def overview(self, account: Account) -> dict:
        """What the pipeline knows of the account: posts, top posts, strategy cards, the author
        model's and the tuned programs' verdicts, the engagement model's report, the
        decisions per day, and the approval rate before and after each retraining."""
        import json

        from reer_pipeline.finetune.author import EVALUATION
        from reer_pipeline.scoring.engagement import EngagementModel

        snap = self.snapshot(account)
        key = [account.platform, account.author]

        def read(con):
            counts = con.execute(
                """SELECT count(*), count(*) FILTER (WHERE is_original), min(created_at),
                max(created_at) FROM posts WHERE platform = ? AND author = ?""",
                key,
            ).fetchall()[0]
            top = fetch_dicts(
                con,
                """SELECT text, engagement, engagement_pct, created_at FROM posts
                WHERE platform = ? AND author = ? AND is_original AND engagement IS NOT NULL
                ORDER BY engagement DESC, post_id LIMIT 10""",
                key,
            )
            return counts, top

        (posts, originals, first, last), top = self._read(read)
        paths = self.layout.account(account)
        adapter = paths.adapters / "adapter" / EVALUATION
        programs = []
        for path in sorted(paths.programs.glob("*/evaluation.json")):
            e = json.loads(path.read_text())
            programs.append(
                {"optimizer": path.parent.name}
                | {
                    k: e.get(k)
                    for k in (
                        "n_test",
                        "base_mean",
                        "tuned_mean",
                        "delta_mean",
                        "delta_low",
                        "delta_high",
                    )
                }
            )
        engagement = None
        if paths.engagement_model.exists():
            model = EngagementModel.load(paths.engagement_model)
            engagement = {
                "report": model.markdown(),
                "beats_baselines": model.beats_baselines,
                "plot": paths.engagement_model.with_suffix(".png").exists(),
            }
        latest = list(self.store.latest(account).values())
        changes = retrainings.approval_rates(latest, retrainings.read(self.layout.root, account))
        per_day: dict[str, dict[str, int]] = {}
        for d in latest:
            day = per_day.setdefault(d["decided_at"][:10], {"approved": 0, "rejected": 0})
            day[d["decision"]] += 1
        return jsonable(
            {
                "account": account.key,
                "posts": posts,
                "originals": originals,
                "first": first,
                "last": last,
                "top_posts": top,
                "cards": snap.ctx.cards,
                "adapter": json.loads(adapter.read_text()) if adapter.exists() else None,
                "programs": programs,
                "engagement": engagement,
                "decisions_per_day": [{"day": k, **v} for k, v in sorted(per_day.items())],
                "retrainings": changes,
            }
        )

    def engagement_plot(self, account: Account):
        """The engagement model's predicted-vs-actual plot (PNG path), if it was drawn."""
        path = self.layout.account(account).engagement_model.with_suffix(".png")
        if not path.exists():
            raise DeskError(f"no engagement plot for {account}", 404)
        return path

    # ---- models -----------------------------------------------------------------------------
    def _models(self):
        with self._lock:
            if self.models is None:
                from reer_pipeline.resources.lm import LMRegistryResource
                from reer_pipeline.resources.storage import Storage

                self.models = LMRegistryResource(storage=Storage(root=str(self.layout.root)))
            return self.models

    def session(self, account: Account, n: int):
        """The account's drafting session for `n` angles and its proposer as one `dspy.LM`,
        whose micro-batcher merges the calls of concurrent requests (models load once)."""
        from reer_pipeline.lm.dspy_adapter import to_dspy
        from reer_pipeline.session import drafting_session

        with self._lock:
            key, snap = (account, n), self.snapshot(account)
            # A run that wrote the warehouse may have trained a new adapter or tuned program:
            # the session is rebuilt then (the models themselves stay loaded in the registry).
            if key not in self._sessions or self._sessions[key][0] != snap.version:
                paths = self.layout.account(account)
                session = drafting_session(snap.ctx, paths, self._models(), n_angles=n)
                sampling = session.program.sampling
                proposer = to_dspy(session.proposer, max_tokens=self.max_tokens, sampling=sampling)
                self._sessions[key] = (snap.version, session, proposer)
            return self._sessions[key][1:]

    def _scorer(self, account: Account) -> BatchedScorer:
        """One scorer per account, loaded once; concurrent requests share its calls."""
        from reer_pipeline.program.draft import make_scorer

        with self._lock:
            snap = self.snapshot(account)
            if account not in self._scorers or self._scorers[account][0] != snap.version:
                scorer_lm = self._models().get("scorer_lm")
                paths = self.layout.account(account)
                scorer = BatchedScorer(
                    make_scorer(
                        snap.ctx,
                        scorer_lm,
                        paths.engagement_model,
                        preference_path=paths.preference_model,
                    )
                )
                self._scorers[account] = (snap.version, scorer)
            return self._scorers[account][1]

    def score(self, account: Account, text: str, topic: str) -> dict:
        """Every component, the gate's verdict and the total, as `reer score` gives them."""
        check_text("text", text, MAX_TEXT_CHARS)
        check_text("topic", topic, MAX_TOPIC_CHARS)
        [scores] = self._scorer(account).score([text], topics=[topic])
        return view(account.platform, topic, text, scores)

    def draft(self, account: Account, topic: str, n: int = 3, audience: str = "") -> list[dict]:
        """`n` new drafts for `topic`, ranked, through the same function as `reer draft`; each is
        kept in the review log's drafts, so it joins the queue."""
        from reer_pipeline.program.draft import draft_and_score

        check_text("topic", topic, MAX_TOPIC_CHARS)
        check_text("audience", audience, MAX_TOPIC_CHARS, required=False)
        if not 1 <= n <= MAX_DRAFTS:
            raise DeskError(f"n must be between 1 and {MAX_DRAFTS}")
        session, proposer = self.session(account, n)
        ctx = session.ctx
        request = {"topic": topic, "platform": account.platform, "audience": audience or None}
        ranked, _ = draft_and_score(
            session.program,
            proposer,
            self._scorer(account),
            ctx,
            [request],
            self.max_tokens,
        )
        cards = {c["name"]: c for c in ctx.cards}
        traces = {t["post_id"]: t for t in ctx.traces}
        return [
            self.keep(account, draft_entry(account, d, s, cards, traces, source="desk"))
            for d, s in ranked
            if (d.get("text") or "").strip()
        ]

    def keep(self, account: Account, entry: dict) -> dict:
        """Keep a draft made here (a `draft_entry`) in the review log; it joins the queue."""
        self.store.add_draft(account, entry["topic"], entry["text"], entry)
        return entry

    # ---- decisions --------------------------------------------------------------------------
    def decide(
        self,
        account: Account,
        did: str,
        decision: str,
        text: str | None = None,
        reason: str | None = None,
        note: str = "",
        slot: str | None = None,
    ) -> dict:
        """Record a decision on draft `did` and return the committed row. An edited approval is
        scored again first, so the log keeps the scorer's view of the text approved."""
        entry = self.find(account, did)
        check_text("note", note, MAX_NOTE_CHARS, required=False)
        scores = entry.get("scores") or {}
        approved = None
        if decision == "approved":
            approved = check_text(
                "text", text if text is not None else entry["text"], MAX_TEXT_CHARS
            )
            if approved != entry["text"]:
                scores = self.score(account, approved, entry["topic"])["scores"]
            slot = as_utc(slot) if slot else entry.get("suggested_time")
        try:
            d = Decision(
                draft_id=did,
                account=account,
                topic=entry["topic"],
                drafted_text=entry["text"],
                decision=decision,
                scores=scores,
                approved_text=approved,
                reason=reason or None,
                note=note,
                slot=slot,
            )
        except ValueError as e:
            raise DeskError(str(e)) from e
        return self.store.record(d)


def draft_entry(
    account: Account,
    d: dict,
    scores: dict,
    cards: dict,
    traces: dict,
    scored: bool = True,
    source: str = "run",
) -> dict:
    """A draft (a `candidates` row or a fresh draft) as the queue shows it, with its strategy
    card and the REER trajectories it was shown."""
    import json

    text = d.get("text") or ""
    slot = json.loads(d["slot"]) if isinstance(d.get("slot"), str) else d.get("slot")
    return view(
        account.platform,
        d["topic"],
        text,
        scores,
        draft_id=draft_id(account.platform, account.author, d["topic"], text),
        source=source,
        scored=scored,
        angle=d.get("angle"),
        strategy=cards.get(d.get("strategy")) or {"name": d.get("strategy")},
        trajectories=[traces[p] for p in d.get("trajectory_post_ids") or [] if p in traces],
        slot=slot,
        suggested_time=next_slot(slot),
    )


class BatchedScorer:
    """A `CandidateScorer` whose concurrent `score` calls run as one batched call."""

    def __init__(self, scorer):
        self.scorer = scorer
        self.batcher = MicroBatcher(self._score_many)

    def _score_many(self, items: list[tuple], n: int = 1) -> list[list[dict]]:
        texts, topics, facts = (list(column) for column in zip(*items, strict=True))
        return [[s] for s in self.scorer.score(texts, topics=topics, facts=facts)]

    def score(self, texts, topic=None, topics=None, facts=None) -> list[dict]:
        """As `CandidateScorer.score`: `topic` for every text or `topics` one each; `facts` one
        list per text (the topic's facts and links)."""
        topics = list(topics) if topics is not None else [topic] * len(texts)
        facts = list(facts) if facts is not None else [()] * len(texts)
        return [s for [s] in self.batcher(list(zip(texts, topics, facts, strict=True)), n=1)]


def rank(entries: list[dict]) -> list[dict]:
    """Usable drafts first, then by total, best first; ties keep their order."""
    return sorted(entries, key=lambda e: (not e.get("usable"), -(e.get("total") or 0.0)))
