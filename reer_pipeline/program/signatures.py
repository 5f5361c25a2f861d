"""DSPy signatures of the drafting program: few, typed fields a small model can fill as JSON."""

from __future__ import annotations

from typing import Literal

import dspy


class Ideate(dspy.Signature):
    """Propose distinct angles for a new social media post on the topic, in the author's voice.

    Each angle is one short sentence: a specific claim, story or question to build the post on.
    """

    topic: str = dspy.InputField()
    platform: str = dspy.InputField(desc="x, linkedin or mastodon")
    audience: str = dspy.InputField()
    strategies: str = dspy.InputField(desc="the author's writing strategies and when they work")
    examples: str = dspy.InputField(desc="how the author reasoned before writing past hits")
    angles: list[str] = dspy.OutputField(desc="distinct angles, one short sentence each")


class Compose(dspy.Signature):
    """Write one social media post on the topic from the angle, following the strategy.

    Write the post itself, ready to publish, in the voice of the example reasoning.
    """

    topic: str = dspy.InputField()
    angle: str = dspy.InputField()
    strategy: str = dspy.InputField(desc="the writing strategy card to follow")
    platform: str = dspy.InputField(desc="x, linkedin or mastodon")
    audience: str = dspy.InputField()
    example: str = dspy.InputField(desc="how the author reasoned before writing a past hit")
    post: str = dspy.OutputField(desc="the post text")


class Judge(dspy.Signature):
    """Compare two drafts of a social media post and pick the one likely to engage more."""

    topic: str = dspy.InputField()
    platform: str = dspy.InputField(desc="x, linkedin or mastodon")
    draft_a: str = dspy.InputField()
    draft_b: str = dspy.InputField()
    better: Literal["a", "b"] = dspy.OutputField(desc="the better draft")
    reason: str = dspy.OutputField(desc="one sentence")
