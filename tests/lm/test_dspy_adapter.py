import dspy
import pytest

from reer_pipeline.lm.dspy_adapter import (
    ProtocolEngine,
    call_with_retries,
    measure_parse_failures,
    parse_failure_workload,
    to_dspy,
)


def test_workload_is_30_fixed_calls():
    assert len(parse_failure_workload()) == 30


@pytest.mark.slow
def test_to_dspy_uses_the_engine_extension_point(hf32):
    lm = to_dspy(hf32, max_tokens=48)
    assert isinstance(lm, dspy.LM) and isinstance(lm.engine, ProtocolEngine)
    assert lm.supports_response_schema  # local backends constrain JSON output
    out = lm("Say hi in two words.")
    assert isinstance(out, list) and isinstance(out[0], str)


@pytest.mark.slow
def test_constrained_json_adapter_calls_always_parse(hf32):
    """A slice of the fixed workload: with the grammar no call fails to parse."""
    dlm = to_dspy(hf32, max_tokens=64, temperature=0.0)
    with dspy.context(lm=dlm, adapter=dspy.JSONAdapter()):
        for sig, inputs in parse_failure_workload()[::5]:
            pred = call_with_retries(dspy.Predict(sig), hf32, retries=0, **inputs)
            assert pred is not None
            for name in sig.output_fields:
                assert name in pred
    assert dlm.engine.stats["constrained"] == dlm.engine.stats["requests"] == 6


@pytest.mark.slow
def test_parse_failures_are_counted_never_raised(hf32):
    class Bad(dspy.Signature):
        """Answer."""

        q: str = dspy.InputField()
        n: int = dspy.OutputField()

    dlm = to_dspy(hf32, constrain=False, max_tokens=2)  # 2 tokens can never hold the format
    before = hf32.usage.failures
    with dspy.context(lm=dlm, adapter=dspy.JSONAdapter()):
        assert call_with_retries(dspy.Predict(Bad), hf32, retries=1, q="x") is None
    assert hf32.usage.failures - before == 2


@pytest.mark.slow
def test_measure_reports_counts(hf32, monkeypatch):
    import reer_pipeline.lm.dspy_adapter as ad

    monkeypatch.setattr(ad, "parse_failure_workload", lambda: parse_failure_workload()[:2])
    r = measure_parse_failures(hf32, constrain=True, max_tokens=48)
    assert r["calls"] == 2 and r["failures"] == 0
