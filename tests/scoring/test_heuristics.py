"""Thread splitting, readability and the heuristic score, on texts written here."""

import re
import subprocess
import sys

import pytest

from reer_pipeline.scoring.heuristics import (
    PLATFORM_LIMITS,
    THREAD_LENGTH_SCORE,
    flesch_reading_ease,
    heuristic_score,
    split_thread,
    syllables,
)

NUMBERING = re.compile(r" (\d+)/(\d+)$")

SENTENCES = [
    "Most teams ship too much at once.",
    "Small changes are easier to review, test and roll back.",
    "When something breaks, you know which change did it.",
    "Feature flags let you merge early without exposing half-built work.",
    "Deploy on a schedule that the whole team can see!",
    "Would you rather debug one change or forty?",
]
LONG_POST = "\n\n".join(" ".join(SENTENCES[i:] + SENTENCES[:i]) for i in range(6))


def unnumbered(parts):
    return [NUMBERING.sub("", p) for p in parts]


def test_a_text_that_fits_is_one_unnumbered_part():
    text = " ".join(SENTENCES[:3])
    assert split_thread(text, 280) == [text]


@pytest.mark.parametrize("limit", [60, 140, 280, 500])
def test_parts_fit_keep_every_word_and_are_numbered(limit):
    parts = split_thread(LONG_POST, limit)
    assert len(parts) > 1
    assert all(len(p) <= limit for p in parts)
    numbers = [NUMBERING.search(p).groups() for p in parts]
    assert numbers == [(str(i), str(len(parts))) for i in range(1, len(parts) + 1)]
    # Never mid-word: the words, in order, are exactly the original's.
    assert " ".join(unnumbered(parts)).split() == LONG_POST.split()


def test_parts_end_on_sentence_boundaries_when_sentences_fit():
    for part in unnumbered(split_thread(LONG_POST, 280)):
        assert part.rstrip().endswith((".", "!", "?")), part


def test_a_sentence_longer_than_a_part_splits_between_words():
    sentence = " ".join(["word"] * 100) + "."
    parts = split_thread(sentence, 100)
    assert all(len(p) <= 100 for p in parts)
    assert " ".join(unnumbered(parts)).split() == sentence.split()


def test_ten_or_more_parts_still_fit():
    parts = split_thread(LONG_POST * 3, 60)
    assert len(parts) >= 10 and all(len(p) <= 60 for p in parts)
    assert parts[-1].endswith(f" {len(parts)}/{len(parts)}")


def test_readability_orders_plain_and_dense_text():
    plain = "We ship small. We ship often. It works."
    dense = (
        "Organizational considerations notwithstanding, comprehensive infrastructural "
        "modernization necessitates multidisciplinary evaluation methodologies."
    )
    assert flesch_reading_ease(plain) > flesch_reading_ease(dense)
    assert flesch_reading_ease("https://example.com @ada") is None
    assert syllables("cat") < syllables("information")
    assert syllables("make") == syllables("mak")  # a silent final e adds none


@pytest.mark.parametrize("platform", sorted(PLATFORM_LIMITS))
def test_score_is_bounded_and_hook_raises_it(platform):
    plain = "Notes from the meetup. We talked about small deploys and feature flags."
    hooked = "Why do small deploys win? We talked about it at the meetup."
    a, b = heuristic_score(plain, platform), heuristic_score(hooked, platform)
    assert 0 <= a.score <= 1 and 0 <= b.score <= 1
    assert (a.components["hook"], b.components["hook"]) == (0.0, 1.0)
    assert b.score > a.score and a.postable and b.postable
    assert set(a.components) == {"length", "readability", "hook"}


def test_over_the_limit():
    long = LONG_POST * 5
    assert len(long) > PLATFORM_LIMITS["linkedin"] > PLATFORM_LIMITS["x"]
    linkedin = heuristic_score(long, "linkedin")
    assert not linkedin.postable and linkedin.score == 0.0
    x = heuristic_score(long, "x")
    assert x.postable and x.details["parts"] == len(split_thread(long, 280)) > 1
    assert x.components["length"] == THREAD_LENGTH_SCORE < 1.0
    assert heuristic_score(LONG_POST, "linkedin").components["length"] == 1.0
    assert not heuristic_score("a" * 600, "mastodon").postable
    assert not heuristic_score("   ", "x").postable


def test_unknown_platform_is_an_error():
    with pytest.raises(ValueError, match="platform"):
        heuristic_score("hello", "myspace")


def test_scoring_never_imports_dagster():
    code = (
        "import sys, reer_pipeline.scoring.features, reer_pipeline.scoring.lift,"
        " reer_pipeline.scoring.engagement, reer_pipeline.scoring.heuristics;"
        " assert 'dagster' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
