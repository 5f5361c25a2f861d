"""DSPy signatures of the drafting program: one input and one output per call where a small model
writes, so the reply can be the output itself (plain text) or a one-field JSON object."""

from __future__ import annotations

from typing import Literal

import dspy

from reer_pipeline.platforms import NAMES

_PLATFORM_NAMES = ", ".join(NAMES[:-1]) + " or " + NAMES[-1]  # "x, linkedin or mastodon"


class Ideate(dspy.Signature):
    """You help a person plan social media posts. List distinct angles for a new post on the
    topic: one short sentence per line, each a specific claim, story or question."""

    request: str = dspy.InputField(desc="the topic, platform and audience of the post")
    angles: list[str] = dspy.OutputField(desc="distinct angles, one short sentence each")


class Compose(dspy.Signature):
    """You write social media posts in the voice of the person whose posts you are shown.
    Reply with the text of one new post only."""

    request: str = dspy.InputField(desc="what the post is about, for which platform")
    post: str = dspy.OutputField(desc="the post text, ready to publish")


class Judge(dspy.Signature):
    """Compare two drafts of a social media post and pick the one likely to engage more."""

    topic: str = dspy.InputField()
    platform: str = dspy.InputField(desc=_PLATFORM_NAMES)
    draft_a: str = dspy.InputField()
    draft_b: str = dspy.InputField()
    better: Literal["a", "b"] = dspy.OutputField(desc="the better draft")
    reason: str = dspy.OutputField(desc="one sentence")
