from reer_pipeline.program.schedule import assign_slots, top_slots

SLOTS = [
    {"weekday": 2, "hour": 9, "lift": 1.2},
    {"weekday": 5, "hour": 18, "lift": 1.5},
    {"weekday": 2, "hour": 9, "lift": 1.1},  # duplicate slot: the higher lift is kept
    {"weekday": 1, "hour": 7, "lift": 1.2},  # tie with (2, 9): the earlier slot first
    {"weekday": 8, "hour": 9, "lift": 9.0},  # not an ISO weekday
    {"weekday": 3, "hour": 24, "lift": 9.0},  # not an hour
    {"weekday": 3, "lift": 9.0},  # no hour
]


def test_top_slots_ranks_by_lift_skips_invalid_and_duplicates():
    assert top_slots(SLOTS, 3) == [
        {"weekday": 5, "hour": 18, "lift": 1.5},
        {"weekday": 1, "hour": 7, "lift": 1.2},
        {"weekday": 2, "hour": 9, "lift": 1.2},
    ]
    assert top_slots(SLOTS, 10) == top_slots(SLOTS, 3)
    assert top_slots(None, 3) == [] and top_slots(SLOTS, 0) == []


def test_assign_slots_gives_best_first_and_cycles():
    cands = assign_slots([{} for _ in range(5)], SLOTS)
    hours = [c["slot"]["hour"] for c in cands]
    assert hours == [18, 7, 9, 18, 7]
    assert [c["slot"] for c in assign_slots([{}, {}], [])] == [None, None]
