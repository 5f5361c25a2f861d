"""The manager-worker generation on the real embedded model: plan the parts, write each, join."""

import pytest

from reer_pipeline.platforms import get
from reer_pipeline.program.modules import GENERATIONS, N_PARTS, DraftProgram
from tests.program.test_program import check, lm, run, words_gate  # noqa: F401 - the fixture

assert "manager_worker" in GENERATIONS


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["x", "linkedin"])
def test_manager_plans_parts_workers_write_them_and_the_draft_joins_them(lm, platform):  # noqa: F811
    program = DraftProgram(generation="manager_worker", n_angles=2, best_of=2, gate=words_gate)
    topic = "code review habits"
    candidates, stats = run(program, lm, 40, topic=topic, platform=platform, audience="developers")
    check(candidates, stats, platform, "manager_worker")
    ideate, compose = stats["by_predictor"]["ideate"], stats["by_predictor"]["compose"]
    assert ideate["calls"] >= len(candidates)  # one plan per candidate (a retry adds one)
    parts = [c["selection"]["parts"] for c in candidates]
    assert all(1 <= n <= N_PARTS for n in parts)
    assert compose["calls"] == 2 * sum(parts)  # best of 2 for every part, nothing more
    for c in candidates:
        sel = c["selection"]
        assert sel["method"] == "manager_worker" and len(sel["part_requests"]) == sel["parts"]
        assert 0 <= sel["usable_parts"] <= sel["parts"]
        assert all(c["angle"] in r for r in sel["part_requests"])  # each part on the angle
        assert c["draft"] == "\n\n".join(d.strip() for d in sel["part_drafts"] if d.strip())
        assert get(platform).threaded or len(c["parts"]) <= 1
    print("manager_worker:", [(c["selection"]["parts"], c["text"][:120]) for c in candidates])


def test_unknown_generation_is_still_refused():
    with pytest.raises(ValueError, match="manager_worker"):
        DraftProgram(generation="manager-worker")
