import dspy
import pytest

from benchmarks.dspy_parse_failures import measure_parse_failures, parse_failure_workload
from reer_pipeline.lm.dspy_adapter import ProtocolEngine, call_with_retries, to_dspy


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
    """A slice of the fixed workload (one call per signature): with the grammar none fails."""
    r = measure_parse_failures(hf32, constrain=True, max_tokens=48, workload=10)
    assert r["calls"] == 3 and r["failures"] == 0 and r["lm_requests"] == 3


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
