"""One call for the `author_adapter` asset: examples -> adapter -> held-out perplexity -> metadata.

Files under the account's adapters folder (`DataLayout.adapters(account)`):
`examples/{train,valid,test}.jsonl` + `manifest.json`, `adapter/` (peft files, `adapter_card.json`,
`loss_curve.png`, replaced atomically), `.adapter.work/` (checkpoints while training; a killed
run resumes from them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reer_pipeline.finetune.data import build_examples, write_jsonl
from reer_pipeline.finetune.evaluate import Perplexity, heldout_perplexity, relative_reduction
from reer_pipeline.finetune.train import CURVE, AdapterResult, Progress, TrainConfig, train_adapter


@dataclass
class AuthorModel:
    uri: str  # hf::<base>+adapter=<dir>: usable by every role through load_lm
    adapter_dir: Path
    result: AdapterResult
    ppl_base: Perplexity | None
    ppl_adapter: Perplexity | None
    reduction: dict | None
    wall_s: float
    timings: dict = field(default_factory=dict)

    @property
    def loss_curve(self) -> Path:
        return self.adapter_dir / CURVE

    def metadata(self) -> dict:
        """Flat, JSON-able figures for the asset's materialization metadata."""
        card = self.result.card
        meta = {
            "uri": self.uri,
            "examples_per_source": card["data"]["counts"],
            "split_sizes": card["data"]["sizes"],
            "split_bounds": card["data"]["bounds"],
            "skipped": card["data"]["skipped"],
            "steps": card["steps"],
            "best_step": card["best_step"],
            "stop_reason": card["stop_reason"],
            "resumed_from_step": card["resumed_from_step"],
            "best_val_loss": card["best_val_loss"],
            "train_seconds": card["train_seconds"],
            "train_tokens": card["train_tokens"],
            "tokens_per_s": card["tokens_per_s"],
            "precision": card["precision"],
            "peak_rss_mb": card["peak_rss_mb"],
            "wall_seconds": round(self.wall_s, 1),
            "loss_curve_png": str(self.loss_curve),
            **self.timings,
        }
        if self.ppl_base is not None and self.ppl_adapter is not None:
            meta["heldout_ppl_base"] = self.ppl_base.as_dict()
            meta["heldout_ppl_adapter"] = self.ppl_adapter.as_dict()
            meta["heldout_ppl_reduction"] = self.reduction
        return meta


def train_author_model(
    posts: Iterable[dict],
    traces: Iterable[dict],
    account_dir: Path,
    base: str = "embedded",
    config: TrainConfig | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    exclude_ids: Collection[str] = (),
    evaluate: bool = True,
    max_test: int | None = None,
    models_dir: Path | None = None,
) -> AuthorModel:
    """Build the account's examples, train (or resume) its adapter, and measure the held-out
    perplexity of its newest 20% posts under the base model and the adapter (fp32 both).

    `posts`: the account's rows of `posts`; `traces`: its TraceStore records; `account_dir`:
    `DataLayout.adapters(account)`; `base`: `embedded` (converted into `models_dir`) or a
    local HF model folder.
    Raises ValueError (nothing written but the example files) when there are too few examples.
    """
    t0 = time.perf_counter()
    account_dir = Path(account_dir)
    splits = build_examples(posts, traces, exclude_ids=exclude_ids)
    write_jsonl(splits, account_dir / "examples")
    out = account_dir / "adapter"
    result = train_adapter(
        splits, base, out, config, on_progress=on_progress, models_dir=models_dir
    )
    base_name = result.card["base"]["model"]
    uri = f"hf::{base_name}+adapter={out.resolve()}"
    timings = {"train_call_seconds": round(time.perf_counter() - t0, 1)}
    ppl_base = ppl_adapter = reduction = None
    if evaluate and splits.test:
        from reer_pipeline.lm.hf import HFModel

        test = splits.test[:max_test] if max_test else splits.test
        texts, requests = [e.target for e in test], [e.request for e in test]
        t1 = time.perf_counter()
        base_lm = HFModel(base_name, dtype="float32", uri=f"hf::{base_name}", models_dir=models_dir)
        ppl_base = heldout_perplexity(base_lm, texts, requests)
        del base_lm
        tuned = HFModel(
            base_name, dtype="float32", uri=uri, adapter=str(out), models_dir=models_dir
        )
        ppl_adapter = heldout_perplexity(tuned, texts, requests)
        del tuned
        reduction = relative_reduction(ppl_base, ppl_adapter)
        timings["eval_seconds"] = round(time.perf_counter() - t1, 1)
    return AuthorModel(
        uri, out, result, ppl_base, ppl_adapter, reduction, time.perf_counter() - t0, timings
    )
