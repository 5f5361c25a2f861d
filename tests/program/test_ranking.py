"""Ranking a topic's drafts: by score, with near-duplicates of a better draft after the rest."""

from reer_pipeline.program.draft import NEAR_DUPLICATE, diverse_order, overlap, score_drafts
from reer_pipeline.scoring.candidates import CandidateScorer

A = "Workers deserve better health care, and we will keep fighting until every family has it."
A2 = "Workers deserve better health care, and we will keep fighting until every child has it."
B = "Climate change is real. Cutting carbon pollution protects our kids and creates jobs."
OWN = [
    "Health care is a right, not a privilege. Let's make sure every family is covered.",
    "Climate change is the challenge of our time. We can meet it together.",
    "Raising the minimum wage would help millions of working families.",
]


def test_overlap_is_the_shorter_texts_share_of_word_trigrams_the_other_holds():
    assert overlap(A, A) == 1.0 and overlap(A, B) == 0.0
    assert NEAR_DUPLICATE <= overlap(A, A2) < 1.0  # one word changed
    assert overlap("Vote.", "vote!") == 1.0 and overlap("Vote.", "Run.") == 0.0  # no trigram
    assert overlap(A, A + " Join us.") == 1.0  # a draft inside a longer one repeats it
    # two drafts that both name the topic repeat nothing (a real pair of the demo's drafts)
    one, other = (
        "Obama's climate change deniers.",
        "Climate change deniers are making a difference.",
    )
    assert overlap(one, other) == 0.5 and overlap(one, other, "climate change deniers") == 0.0


def test_a_near_duplicate_ranks_after_every_draft_that_repeats_none():
    assert diverse_order([A, A2, B], [0.9, 0.8, 0.7]) == [(0, None), (2, None), (1, 0)]
    assert diverse_order([A, A2, B], [0.9, 0.8, 0.7], "", cutoff=1.01) == [
        (0, None),
        (1, None),
        (2, None),
    ]
    assert diverse_order([], []) == []


def test_score_drafts_ranks_each_topic_with_its_repeats_last():
    drafts = [
        {"topic": "health care", "text": A},
        {"topic": "health care", "text": A2},
        {"topic": "health care", "text": ""},  # the gate scores it 0
        {"topic": "climate", "text": B},
    ]
    scores = score_drafts(CandidateScorer("x", OWN), drafts)
    ranks = {d["text"]: s for d, s in zip(drafts, scores, strict=True)}
    assert sorted(s["rank"] for s in scores[:3]) == [1, 2, 3] and scores[3]["rank"] == 1
    # of the two near-copies the better-scored one keeps its place; the other comes last,
    # even after an empty draft that scores less
    first, second = sorted([A, A2], key=lambda t: -ranks[t]["total"])
    assert ranks[""]["total"] < ranks[second]["total"] and ranks[""]["rank"] == 2
    assert ranks[second]["rank"] == 3 and ranks[second]["duplicate_of"] == ranks[first]["rank"]
    assert ranks[first]["duplicate_of"] is None and scores[3]["duplicate_of"] is None
