"""How often DSPy fails to parse the model's output, per adapter, with and without the grammar.

`python benchmarks/dspy_parse_failures.py [URI]` runs a fixed 30-call workload four ways.
"""

from __future__ import annotations

import logging

from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.lm.dspy_adapter import to_dspy

log = logging.getLogger(__name__)

# A fixed workload for measuring how often DSPy fails to parse the model's output.
_TOPICS = [
    "remote work",
    "open source",
    "coffee",
    "unit tests",
    "sleep",
    "public speaking",
    "rust",
    "gardening",
    "cold email",
    "side projects",
]


def parse_failure_workload():
    """30 fixed (signature, inputs) DSPy calls: 3 post-writing signatures x 10 topics."""
    import dspy

    class Hook(dspy.Signature):
        """Write a one-line hook for a social media post about the topic."""

        topic: str = dspy.InputField()
        hook: str = dspy.OutputField()

    class Rate(dspy.Signature):
        """Rate how engaging a post about the topic would be."""

        topic: str = dspy.InputField()
        score: int = dspy.OutputField(desc="1 to 10")
        reason: str = dspy.OutputField()

    class Plan(dspy.Signature):
        """Plan a short post about the topic."""

        topic: str = dspy.InputField()
        audience: str = dspy.OutputField()
        key_points: list[str] = dspy.OutputField()
        is_technical: bool = dspy.OutputField()

    return [(sig, {"topic": t}) for sig in (Hook, Rate, Plan) for t in _TOPICS]


def measure_parse_failures(
    lm: LanguageModel,
    constrain: bool,
    adapter: str = "json",
    max_tokens: int = 96,
    workload: int = 1,
) -> dict:
    """Run every `workload`-th call of the 30-call workload once; count calls whose output DSPy
    could not parse."""
    import dspy

    dlm = to_dspy(lm, constrain=constrain, max_tokens=max_tokens, temperature=0.0)
    ad = dspy.JSONAdapter() if adapter == "json" else dspy.ChatAdapter()
    failures = 0
    with dspy.context(lm=dlm, adapter=ad):
        calls = parse_failure_workload()[::workload]
        for sig, inputs in calls:
            try:
                dspy.Predict(sig)(**inputs)
            except Exception as e:  # noqa: BLE001 - count every failure, never crash
                log.info("parse failure: %s", type(e).__name__)
                failures += 1
    return {
        "adapter": adapter,
        "constrained": constrain,
        "calls": len(calls),
        "failures": failures,
        "lm_requests": dlm.engine.stats["requests"],
    }


if __name__ == "__main__":
    import sys

    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.registry import load_lm

    uri = sys.argv[1] if len(sys.argv) > 1 else "local"
    model = load_lm(uri, models_dir=DataLayout.from_env().models)
    for adapter in ("json", "chat"):
        for constrain in (False, True):
            print(measure_parse_failures(model, constrain, adapter), flush=True)
