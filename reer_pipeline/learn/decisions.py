"""The person's decisions as learning reads them: from the warehouse table `reviews`."""

from __future__ import annotations

import json

from reer_pipeline.ingest.accounts import table_exists
from reer_pipeline.ingest.warehouse import fetch_dicts


def read_decisions(con, account) -> list[dict]:
    """The account's decisions from the warehouse table `reviews`, in the order made."""
    if not table_exists(con, "reviews"):
        return []
    rows = fetch_dicts(
        con,
        """SELECT seq, draft_id, topic, drafted_text, approved_text, decision, reason, note,
            scores, decided_at::VARCHAR AS decided_at
        FROM reviews WHERE platform = ? AND author = ? ORDER BY seq""",
        [account.platform, account.author],
    )
    return [r | {"scores": json.loads(r["scores"])} for r in rows]
