"""The micro-batcher: concurrent generate calls share one batched call, each gets its own texts."""

import threading

import dspy
import pytest

from reer_pipeline.lm.batching import MicroBatcher
from reer_pipeline.lm.dspy_adapter import to_dspy
from reer_pipeline.program.modules import DraftProgram


class Recorder:
    """A generate function that answers each prompt with its echo and records every call."""

    def __init__(self, fail: bool = False):
        self.calls: list[tuple[list, int, dict]] = []
        self.fail = fail

    def __call__(self, prompts, n=1, **settings):
        self.calls.append((list(prompts), n, settings))
        if self.fail:
            raise RuntimeError("backend down")
        return [[f"{p}#{i}" for i in range(n)] for p in prompts]


def run_threads(batcher, jobs):
    """Start every job (prompts, n, settings) on its own thread at once; their results."""
    results, errors = [None] * len(jobs), [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def work(i, prompts, n, settings):
        start.wait()
        try:
            results[i] = batcher(prompts, n=n, **settings)
        except RuntimeError as e:
            errors[i] = e

    threads = [threading.Thread(target=work, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_concurrent_calls_with_equal_settings_share_a_call_and_get_their_own_texts():
    gen = Recorder()
    batcher = MicroBatcher(gen, quiet_s=0.2)
    jobs = [([f"a{i}", f"b{i}"], 2, {"temperature": 0.7}) for i in range(6)]
    results, _ = run_threads(batcher, jobs)
    for i, texts in enumerate(results):
        assert texts == [[f"a{i}#0", f"a{i}#1"], [f"b{i}#0", f"b{i}#1"]]
    assert batcher.calls == 6 and len(gen.calls) == batcher.batches < 6
    assert sum(len(p) for p, _, _ in gen.calls) == 12


def test_calls_with_different_settings_or_n_never_share_a_call():
    gen = Recorder()
    batcher = MicroBatcher(gen, quiet_s=0.2)
    jobs = [(["x"], 1, {"temperature": 0.0}), (["y"], 1, {"temperature": 0.7}), (["z"], 2, {})]
    results, _ = run_threads(batcher, jobs)
    assert results == [[["x#0"]], [["y#0"]], [["z#0", "z#1"]]]
    assert sorted((p, n, s) for p, n, s in gen.calls) == sorted(
        [(["x"], 1, {"temperature": 0.0}), (["y"], 1, {"temperature": 0.7}), (["z"], 2, {})]
    )


def test_a_merged_call_holds_at_most_max_sequences():
    gen = Recorder()
    batcher = MicroBatcher(gen, quiet_s=0.2, max_sequences=4)
    results, _ = run_threads(batcher, [([f"p{i}"], 2, {}) for i in range(5)])
    assert [r[0][0] for r in results] == [f"p{i}#0" for i in range(5)]
    assert all(len(p) * n <= 4 for p, n, _ in gen.calls) and len(gen.calls) >= 3


def test_an_error_of_the_merged_call_reaches_every_caller():
    batcher = MicroBatcher(Recorder(fail=True), quiet_s=0.2)
    results, errors = run_threads(batcher, [(["x"], 1, {}), (["y"], 1, {})])
    assert results == [None, None]
    assert [str(e) for e in errors] == ["backend down", "backend down"]
    assert batcher.calls == 2
    with pytest.raises(RuntimeError):  # nothing is left running: the next call runs, and fails
        batcher(["z"], n=1)
    assert batcher.calls == 3


@pytest.mark.slow
def test_dspy_threads_draft_like_one_at_a_time_in_fewer_model_calls(hf32):
    """A DSPy program over 4 topics on 4 threads (as Evaluate and GEPA run it) on the real
    model: greedy drafts equal the one-at-a-time ones (fp32), in fewer `generate` calls."""
    program = DraftProgram(n_angles=2, best_of=1, temperature=0.0, gate=False)
    topics = ["unit tests", "code review", "flaky builds", "writing docs"]
    examples = [
        dspy.Example(topic=t, platform="x").with_inputs("topic", "platform") for t in topics
    ]
    with dspy.context(lm=to_dspy(hf32, max_tokens=16)):
        alone = [program(**e.inputs()).candidates[0]["text"] for e in examples]
        calls = hf32.usage.calls
        preds = program.batch(examples, num_threads=4)
    assert [p.candidates[0]["text"] for p in preds] == alone
    assert hf32.usage.calls - calls < len(topics)
