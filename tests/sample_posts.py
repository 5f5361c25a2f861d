"""Real posts of the shipped sample (`data/samples/fivethirtyeight_BarackObama.csv`), found by a
fragment of their text, so tests run on what the account wrote and never on a retyped copy."""

from __future__ import annotations

import csv
from functools import cache

from tests.conftest import SAMPLE


@cache
def sample_texts() -> tuple[str, ...]:
    """Every post text of the sample (Mac Roman decodes every byte; ASCII posts read true)."""
    with SAMPLE.open(encoding="mac_roman", newline="") as f:
        return tuple(row["text"] for row in csv.DictReader(f))


def sample_post(fragment: str) -> str:
    """The first sample post that contains `fragment`."""
    return next(t for t in sample_texts() if fragment in t)
