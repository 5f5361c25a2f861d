"""DSPy's fine-tuning path (`dspy.LM.finetune`, what `BootstrapFinetune` calls) on our trainer."""

from pathlib import Path

import pytest

from reer_pipeline.finetune import TrainConfig
from reer_pipeline.finetune.data import read_splits
from reer_pipeline.finetune.dspy_provider import LocalLoRAProvider, finetunable_lm
from reer_pipeline.finetune.train import CARD


def models():
    """The models folder the embedded model is converted into."""
    from reer_pipeline.layout import DataLayout

    return DataLayout.from_env().models


pytestmark = pytest.mark.slow


def chat(i: int) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"Write a short note about day {i} at the lake."},
            {"role": "assistant", "content": f"Day {i} at the lake: calm water, one heron."},
        ]
    }


def test_lm_finetune_trains_an_adapter_and_the_copy_runs_on_it(tmp_path):
    import dspy

    cfg = TrainConfig(max_steps=2, batch_tokens=256, min_train_examples=8, threads=1)
    lm = finetunable_lm(
        "hf::embedded", LocalLoRAProvider(tmp_path, cfg, models_dir=models()), max_tokens=8
    )
    with pytest.raises(ValueError, match="unknown train_kwargs"):
        lm.provider.finetune(None, lm.model, [chat(0)], "chat", {"epoch": 1})
    job = lm.finetune([chat(i) for i in range(12)], "chat", {"learning_rate": 1e-3})
    tuned = job.result()
    assert not isinstance(tuned, Exception), tuned
    job.thread.join()
    assert job.adapter_dir is not None and (job.adapter_dir / CARD).exists()
    assert tuned.model == f"reer/hf::embedded+adapter={job.adapter_dir}"
    assert job.status() == "succeeded" and job.progress.step == 2
    with dspy.context(lm=tuned):
        out = dspy.Predict("topic -> note")(topic="the lake")
    assert isinstance(out.note, str)
    engine = tuned._engine_spec
    assert set(engine._engines) == {tuned.model.removeprefix("reer/")}  # ran on the adapter


def test_bootstrap_finetune_trains_the_drafting_program_on_its_kept_drafts(tmp_path):
    """DSPy's `BootstrapFinetune` on the drafting program: the training data are the plain chats
    compose was prompted with and the draft it kept, and the compiled program drafts on the
    adapter."""
    import dspy

    from reer_pipeline.lm.dspy_adapter import PlainTextAdapter
    from reer_pipeline.program.modules import DraftProgram
    from reer_pipeline.scoring.metric import draft_text

    cfg = TrainConfig(max_steps=2, batch_tokens=512, min_train_examples=4, threads=1)
    lm = finetunable_lm(
        "hf::embedded", LocalLoRAProvider(tmp_path, cfg, models_dir=models()), max_tokens=24
    )
    program = DraftProgram(n_angles=1, best_of=2, gate=False)
    program.set_lm(lm)
    topics = ["the lake at dawn", "a heron", "calm water", "rain on the dock", "a canoe", "fog"]
    trainset = [
        dspy.Example(topic=t, platform="x").with_inputs("topic", "platform") for t in topics
    ]
    optimizer = dspy.BootstrapFinetune(
        metric=lambda gold, pred, trace=None: bool(draft_text(pred)),
        adapter=PlainTextAdapter(),
        train_kwargs={"learning_rate": 1e-3},
    )
    tuned = optimizer.compile(program, trainset=trainset)
    adapter = Path(tuned.compose.lm.model.split("+adapter=", 1)[1])
    data = read_splits(adapter / "data")
    seen = [{"messages": e.messages} for e in data.train + data.valid]
    assert 4 <= len(seen) <= len(topics)  # one kept draft per example whose draft was not empty
    for d in seen:
        roles = [m["role"] for m in d["messages"]]
        assert roles[0] == "system" and roles[-2:] == ["user", "assistant"]
        assert d["messages"][-2]["content"].startswith("Write an X (Twitter) post about ")
        assert "[[ ##" not in d["messages"][-1]["content"] and d["messages"][-1]["content"]
    pred = tuned(topic="the lake at night", platform="x")
    engines = tuned.compose.lm._engine_spec._engines
    uri = tuned.compose.lm.model.removeprefix("reer/")
    assert pred.candidates and engines[uri].stats["requests"] == 2  # best of 2, on the adapter
