"""`reer draft`'s path (open_account, language_models, drafting_session, draft_and_score) for
several topics in one batched call; writes every draft with its gate verdict to a JSON file."""

import json
import sys

from reer_pipeline import cli
from reer_pipeline.program.draft import draft_and_score
from reer_pipeline.session import drafting_session

out, n, topics = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
layout, account, ctx = cli.open_account("draft", "x", None)
models = cli.language_models("draft", None)
session = drafting_session(ctx, layout.account(account), models, generation="single", n_angles=n)
scorer = session.scorer
print(session.model_choice, session.proposer.uri, file=sys.stderr)
ranked, stats = draft_and_score(
    session.program,
    session.proposer,
    scorer,
    ctx,
    [{"topic": t, "platform": "x", "audience": "a general audience"} for t in topics],
    256,
)
rows = [
    {
        "topic": d["topic"],
        "rank": s["rank"],
        "duplicate_of": s["duplicate_of"],
        "usable": bool(s["usable"]),
        "reasons": s["gate_reasons"],
        "total": s["total"],
        "text": d["text"],
    }
    for d, s in ranked
]
json.dump(
    {"proposer": session.proposer.uri, "stats": stats, "drafts": rows}, open(out, "w"), indent=1
)
print(f"{sum(r['usable'] for r in rows)} of {len(rows)} usable", file=sys.stderr)
