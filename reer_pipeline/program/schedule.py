"""Deterministic scheduling: the best posting slots from an author's slot-lift list."""

from __future__ import annotations


def top_slots(slots: list[dict] | None, k: int) -> list[dict]:
    """The `k` distinct (weekday, hour) slots of highest lift; ties go to the earlier slot.

    Slots are dicts {weekday (ISO, 1 = Monday), hour (0-23, UTC), lift}; invalid ones are skipped.
    """
    best: dict[tuple[int, int], float] = {}
    for s in slots or []:
        try:
            key, lift = (int(s["weekday"]), int(s["hour"])), float(s["lift"])
        except (KeyError, TypeError, ValueError):
            continue
        if 1 <= key[0] <= 7 and 0 <= key[1] <= 23 and lift > best.get(key, float("-inf")):
            best[key] = lift
    ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"weekday": w, "hour": h, "lift": lift} for (w, h), lift in ranked[: max(k, 0)]]


def assign_slots(candidates: list[dict], slots: list[dict] | None) -> list[dict]:
    """Give candidates the top slots in turn (best first, cycling); `slot` is None without slots."""
    chosen = top_slots(slots, len(candidates))
    for i, c in enumerate(candidates):
        c["slot"] = dict(chosen[i % len(chosen)]) if chosen else None
    return candidates
