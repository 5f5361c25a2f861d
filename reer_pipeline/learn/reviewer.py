"""A simulated reviewer built from real data only, so the learning loop runs without a person.

For a held-out real post y with its request x, the program's draft for x is "edited" into y:
the person wrote y (an approval with `approved_text=y`). A draft the gate rejects is rejected
with the reason matching its first broken rule, and another author's post is rejected as "not my
voice". Every decision goes into a real review log (`serve.store.ReviewStore`), so everything
downstream reads the same data as from a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from reer_pipeline.platforms import Account
from reer_pipeline.program.context import AuthorContext
from reer_pipeline.program.draft import draft
from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.search import parse_request
from reer_pipeline.serve.store import Decision, ReviewStore, draft_id

# The gate's rules -> the reason a person gives (serve.store.REASONS); the rest are "other".
RULE_REASONS = {"invented": "invented", "attribution": "invented", "off_topic": "off_topic"}
OTHER_AUTHOR = "not_my_voice"
SOURCE = "simulated reviewer"


@dataclass(frozen=True)
class Case:
    """One text the reviewer decides on: a draft for a held-out post's request (`real` is the
    post), or another author's post (`real` is None)."""

    topic: str
    text: str
    scores: dict
    created_at: str
    real: str | None = None
    real_scores: dict | None = None
    post_id: str = ""


def reason_for(rules: Sequence[str]) -> str:
    """The rejection reason of a draft that broke the gate's `rules` (the first one mapped)."""
    return next((RULE_REASONS[r] for r in rules if r in RULE_REASONS), "other")


def decide(account: Account, case: Case) -> Decision:
    """What the simulated person decides about `case`."""
    did = draft_id(account.platform, account.author, case.topic, case.text)
    if case.real is None:
        return Decision(
            did,
            account,
            case.topic,
            case.text,
            "rejected",
            case.scores,
            reason=OTHER_AUTHOR,
            note=f"{SOURCE}: another author's post",
        )
    if not case.scores.get("usable"):
        rules = case.scores.get("gate_rules") or []
        note = "; ".join(case.scores.get("gate_reasons") or [])
        return Decision(
            did,
            account,
            case.topic,
            case.text,
            "rejected",
            case.scores,
            reason=reason_for(rules),
            note=f"{SOURCE}: {note}"[:500],
        )
    return Decision(
        did,
        account,
        case.topic,
        case.text,
        "approved",
        case.real_scores or {},
        approved_text=case.real,
        note=f"{SOURCE}: the real post {case.post_id}",
    )


def interleave(own: Sequence[Case], others: Sequence[Case]) -> list[Case]:
    """`own` in time order with `others` spread evenly among them, as decisions arrive."""
    own = sorted(own, key=lambda c: c.created_at)
    step = len(own) / max(1, len(others))
    slots = {round(i * step): c for i, c in enumerate(others)}
    out = []
    for i, c in enumerate(own):
        if i in slots:
            out.append(slots.pop(i))
        out.append(c)
    return out + list(slots.values())


def record(store: ReviewStore, account: Account, cases: Sequence[Case]) -> list[dict]:
    """Each case's decision, appended to the review log in order (its draft kept too)."""
    rows = []
    for case in cases:
        decision = decide(account, case)
        store.add_draft(
            account,
            case.topic,
            case.text,
            {"scores": case.scores, "source": SOURCE, "post_id": case.post_id},
        )
        rows.append(store.record(decision))
    return rows


def request_of(post: dict) -> dict:
    """The request x behind a real post, with no model call (REER's fallback x)."""
    x = parse_request(PostRef.from_any(post), [])
    return {"topic": x["topic"], "platform": x["platform"], "audience": x["audience"]}


def without(ctx: AuthorContext, held_out: Sequence[str], others: Sequence[str]) -> AuthorContext:
    """The context with the held-out posts and the other authors' test posts left out, so no
    draft sees its real post and the scorer neither calls it a copy nor trained on the others."""
    out, other = set(held_out), set(others)
    return replace(
        ctx,
        own_texts=[t for t in ctx.own_texts if t not in out],
        other_texts=[t for t in ctx.other_texts if t not in other],
    )


def simulate(
    store: ReviewStore,
    account: Account,
    ctx: AuthorContext,
    held_out: Sequence[dict],
    others: Sequence[dict],
    program,
    proposer,
    scorer,
    max_tokens: int = 160,
) -> list[dict]:
    """Draft for every held-out post's request (one draft each), score the drafts, the real
    posts and the other authors' posts in one batched call, and record the reviewer's decisions
    in `store`; returns them.

    `ctx` and `scorer` must leave out `held_out` and `others` (see `without`)."""
    topics = [request_of(p) for p in held_out]
    drafts, _ = draft(program, proposer, ctx, topics, max_tokens)
    first = {}
    for d in drafts:  # one draft per request: the first
        first.setdefault(d["topic"], d)
    xs = [request_of(p) for p in others]
    texts = [first.get(t["topic"], {}).get("text") or "" for t in topics]
    texts += [p["text"] for p in held_out] + [p["text"] for p in others]
    names = [t["topic"] for t in topics] * 2 + [x["topic"] for x in xs]
    # a real post's claims are the author's own: its text backs them (the gate's invented rule)
    facts = [first.get(t["topic"], {}).get("facts") or () for t in topics]
    facts += [[p["text"]] for p in [*held_out, *others]]
    scores = scorer.score(texts, topics=names, facts=facts)
    n = len(held_out)
    own = [
        Case(
            t["topic"],
            texts[i],
            scores[i],
            str(p["created_at"]),
            p["text"],
            scores[n + i],
            str(p["post_id"]),
        )
        for i, (t, p) in enumerate(zip(topics, held_out, strict=True))
    ]
    other = [
        Case(
            x["topic"],
            p["text"],
            scores[2 * n + i],
            str(p["created_at"]),
            post_id=str(p["post_id"]),
        )
        for i, (x, p) in enumerate(zip(xs, others, strict=True))
    ]
    return record(store, account, interleave(own, other))
