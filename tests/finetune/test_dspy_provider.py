"""DSPy's fine-tuning path (`dspy.LM.finetune`, what `BootstrapFinetune` calls) on our trainer."""

import pytest

from reer_pipeline.finetune import TrainConfig
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
