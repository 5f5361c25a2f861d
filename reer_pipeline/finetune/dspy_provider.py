"""DSPy's fine-tuning interface on our local trainer: `BootstrapFinetune` can train the author
model's adapter like any hosted fine-tuning job.

DSPy 3.4 fine-tunes through `dspy.LM.finetune`: it calls `lm.provider.finetune(job, model,
train_data, train_data_format, train_kwargs)` in a thread, expects a model name back, and returns
`lm.copy(model=<that name>)`. The copy keeps the LM's engine, so the engine must pick the model
by the request's model name: `RoutingEngine` loads `load_lm(<uri>)` for the name `reer/<uri>`,
and `LocalLoRAProvider.finetune` returns `reer/<base uri>+adapter=<dir>`.

    lm = finetunable_lm("hf::embedded", LocalLoRAProvider(adapters_root))
    program.set_lm(lm)
    optimizer = dspy.BootstrapFinetune(metric=metric, train_kwargs={"epochs": 2})
    tuned = optimizer.compile(program, trainset=trainset)
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

from dspy.clients.provider import Provider, TrainingJob
from dspy.clients.utils_finetune import TrainDataFormat, TrainingStatus

from reer_pipeline.finetune.data import Example, ExampleSplits, write_jsonl
from reer_pipeline.finetune.train import TrainConfig, train_adapter
from reer_pipeline.lm.dspy_adapter import ProtocolEngine

PREFIX = "reer/"


class RoutingEngine:
    """A DSPy custom engine that runs each request on `load_lm(<uri>)` for its model name
    `reer/<uri>` (so `lm.copy(model=...)` after fine-tuning switches to the adapter)."""

    supports_function_calling = False
    supports_reasoning = False
    supports_response_schema = True
    supported_params = {"temperature", "top_p", "max_tokens", "stop", "response_format"}

    def __init__(self, **load_options):
        self.load_options = load_options
        self._engines: dict[str, ProtocolEngine] = {}
        self._lock = threading.Lock()

    def engine_for(self, model: str) -> ProtocolEngine:
        from reer_pipeline.lm.registry import load_lm

        uri = model.removeprefix(PREFIX)
        with self._lock:
            if uri not in self._engines:
                self._engines[uri] = ProtocolEngine(load_lm(uri, **self.load_options))
            return self._engines[uri]

    def complete(self, request):
        return self.engine_for(request.model).complete(request)

    def stream(self, request):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        pass


class LocalTrainingJob(TrainingJob):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.progress = None
        self.adapter_dir: Path | None = None

    def status(self) -> TrainingStatus:
        if self.done():
            return TrainingStatus.succeeded
        return TrainingStatus.running if self.progress is not None else TrainingStatus.pending


class LocalLoRAProvider(Provider):
    """Fine-tunes `reer/<local uri>` models with `finetune.train_adapter`; adapters go to
    `<adapters_root>/dspy-<hash of data and config>/`, their chat data to its `data/`."""

    def __init__(
        self,
        adapters_root: Path,
        config: TrainConfig | None = None,
        valid_frac=0.1,
        models_dir: Path | None = None,
    ):
        super().__init__()
        self.models_dir = models_dir
        self.finetunable = True
        self.TrainingJob = LocalTrainingJob
        self.adapters_root = Path(adapters_root)
        self.config = config or TrainConfig()
        self.valid_frac = valid_frac

    @staticmethod
    def is_provider_model(model: str) -> bool:
        return model.startswith(PREFIX)

    def finetune(
        self,
        job: TrainingJob,
        model: str,
        train_data: list[dict[str, Any]],
        train_data_format: TrainDataFormat | str | None,
        train_kwargs: dict[str, Any] | None = None,
    ) -> str:
        if str(getattr(train_data_format, "value", train_data_format)) != TrainDataFormat.CHAT:
            raise ValueError(f"LocalLoRAProvider trains on chat data, not {train_data_format}")
        known = {f.name for f in fields(TrainConfig)}
        unknown = set(train_kwargs or {}) - known
        if unknown:
            raise ValueError(
                f"unknown train_kwargs {sorted(unknown)}; TrainConfig has {sorted(known)}"
            )
        kwargs = dict(train_kwargs or {})
        if "rank" in kwargs:
            kwargs.setdefault("alpha", None)  # derived from the new rank, as TrainConfig does
        cfg = TrainConfig(**(self.config.as_dict() | kwargs))
        cfg = TrainConfig(**{**cfg.as_dict(), "target_modules": tuple(cfg.target_modules)})
        examples = [
            Example(list(d["messages"]), "dspy", str(i), "") for i, d in enumerate(train_data)
        ]
        n_valid = max(1, round(len(examples) * self.valid_frac))
        splits = ExampleSplits(examples[:-n_valid], examples[-n_valid:], [])
        base = model.removeprefix(PREFIX)
        if "+adapter=" in base:
            raise ValueError(f"{model}: fine-tune the base model, not an adapted one")
        key = json.dumps([train_data, cfg.run_dict(), base], sort_keys=True, default=str)
        out = self.adapters_root / f"dspy-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

        def progress(p):
            if isinstance(job, LocalTrainingJob):
                job.progress = p

        train_adapter(splits, base, out, cfg, on_progress=progress, models_dir=self.models_dir)
        write_jsonl(splits, out / "data")  # what DSPy trained it on, beside the card
        if isinstance(job, LocalTrainingJob):
            job.adapter_dir = out
        return f"{PREFIX}{base}+adapter={out}"


def finetunable_lm(base_uri: str, provider: LocalLoRAProvider, **kwargs):
    """A `dspy.LM` on the local model `base_uri` that `BootstrapFinetune` can fine-tune."""
    import dspy

    return dspy.LM(
        PREFIX + base_uri,
        engine=RoutingEngine(models_dir=provider.models_dir),
        provider=provider,
        cache=kwargs.pop("cache", False),
        num_retries=0,
        **kwargs,
    )
