"""The Apple Silicon path of `train.train_adapter`: `mlx_lm.lora` on the same JSONL chat files
(`train.jsonl`, `valid.jsonl` from `data.write_jsonl`), loss on the assistant turn only
(`mask_prompt`), for a base model `mlx::<model>`.

The adapter is in mlx-lm's format (`adapters.safetensors`, `adapter_config.json`) and loads
with `mlx::<model>+adapter=<dir>`; it gets the same card and loss curve as the torch one. Unlike
the torch trainer, mlx-lm has no early stopping and a killed run starts again (it resumes from
adapter weights, not from an optimizer state); a finished run of the same inputs is reused.
"""

from __future__ import annotations

import math
import shutil
import time
import types
from collections.abc import Callable
from pathlib import Path

from reer_pipeline.files import atomic_path, write_json
from reer_pipeline.finetune.data import ExampleSplits, write_jsonl
from reer_pipeline.finetune.train import (
    CARD,
    CARD_VERSION,
    CURVE,
    AdapterResult,
    Progress,
    TooFewExamples,
    TrainConfig,
    examples_hash,
    finished_card,
    json_hash,
    peak_rss_mb,
    write_loss_curve,
)

WEIGHTS = "adapters.safetensors"


def mlx_config(examples_dir: Path, model_dir: Path, out_dir: Path, cfg: TrainConfig) -> dict:
    """mlx-lm's LoRA config for the same run as `cfg`."""
    n_train = sum(1 for line in open(Path(examples_dir) / "train.jsonl") if line.strip())
    batch = min(cfg.max_batch, max(1, n_train))
    iters = cfg.max_steps or max(1, math.ceil(n_train * cfg.epochs / batch))
    return {
        "model": str(model_dir),
        "train": True,
        "data": str(examples_dir),
        "fine_tune_type": "lora",
        "optimizer": "adamw",
        "optimizer_config": {"adamw": {"weight_decay": cfg.weight_decay}},
        "seed": cfg.seed,
        "num_layers": -1,
        "batch_size": batch,
        "iters": iters,
        "val_batches": -1,
        "learning_rate": cfg.learning_rate,
        "steps_per_report": 1,
        "steps_per_eval": cfg.eval_every,
        "save_every": cfg.save_every,
        "adapter_path": str(out_dir),
        "max_seq_length": cfg.max_len,
        "mask_prompt": True,
        "lora_parameters": {
            "rank": cfg.rank,
            "dropout": cfg.dropout,
            "scale": cfg.alpha / cfg.rank,
            "keys": [
                f"self_attn.{m}" if m in ("q_proj", "k_proj", "v_proj", "o_proj") else f"mlp.{m}"
                for m in cfg.target_modules
            ],
        },
    }


class _Losses:
    """An mlx-lm training callback: the losses for the card, each step to `on_progress`."""

    def __init__(self, total: int, on_progress: Callable[[Progress], None] | None):
        self.total, self.on_progress = total, on_progress
        self.train: list[list[float]] = []
        self.val: list[list[float]] = []
        self.tokens, self.t0 = 0, time.perf_counter()

    def on_val_loss_report(self, info: dict) -> None:
        self.val.append([info["iteration"], float(info["val_loss"])])

    def on_train_loss_report(self, info: dict) -> None:
        step, loss = info["iteration"], float(info["train_loss"])
        self.train.append([step, loss])
        self.tokens = int(info["trained_tokens"])
        if self.on_progress is not None:
            elapsed = time.perf_counter() - self.t0
            left = (self.total - step) * elapsed / step
            val = self.val[-1][1] if self.val and self.val[-1][0] == step else None
            self.on_progress(
                Progress(step, self.total, loss, val, elapsed, info["tokens_per_second"], left)
            )


def train_adapter_mlx(
    splits: ExampleSplits,
    base: str,
    out_dir: Path,
    cfg: TrainConfig,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    models_dir: Path | None = None,
) -> AdapterResult:
    """Train a LoRA adapter of the local model `base` with mlx-lm into `out_dir` (atomically,
    with the card `train_adapter` writes); the finished adapter of the same run is reused."""
    import mlx.core as mx
    from mlx_lm import load
    from mlx_lm.lora import CONFIG_DEFAULTS, train_model
    from mlx_lm.tuner.datasets import load_dataset

    from reer_pipeline.lm.embedded import resolve_model_path
    from reer_pipeline.lm.hf import base_identity

    if len(splits.train) < cfg.min_train_examples or not splits.valid:
        raise TooFewExamples(
            f"too few examples: {len(splits.train)} training (need >= "
            f"{cfg.min_train_examples}), {len(splits.valid)} validation (need >= 1)"
        )
    model_dir = Path(resolve_model_path(base, models_dir))
    data_hashes = {"train": examples_hash(splits.train), "valid": examples_hash(splits.valid)}
    identity = {"model": base, **base_identity(model_dir)}
    key = json_hash({"base": identity, "data": data_hashes, "config": cfg.run_dict(), "mlx": 1})[
        :16
    ]
    card = finished_card(out_dir, key, WEIGHTS)
    if card is not None:
        return AdapterResult.from_card(out_dir, card, reused=True)

    with atomic_path(out_dir) as tmp:
        write_jsonl(splits, tmp / "data")
        config = mlx_config(tmp / "data", model_dir, tmp, cfg)
        args = types.SimpleNamespace(**(CONFIG_DEFAULTS | config))
        model, tokenizer = load(str(model_dir))
        train_set, valid_set, _ = load_dataset(args, tokenizer)
        losses = _Losses(args.iters, on_progress)
        t0 = time.perf_counter()
        train_model(args, model, train_set, valid_set, losses)
        train_s = time.perf_counter() - t0
        shutil.rmtree(tmp / "data")
        best_val = min((v for _, v in losses.val), default=None)
        card = {
            "card_version": CARD_VERSION,
            "backend": "mlx",
            "base": {**identity, "path": str(model_dir)},
            "config": cfg.as_dict(),
            "run_key": key,
            "data": {
                "sha256": data_hashes,
                "sizes": splits.sizes(),
                "counts": splits.counts(),
                "skipped": splits.skipped,
                "bounds": splits.bounds,
                "train_used": len(train_set),
                "train_too_long": 0,  # mlx-lm truncates to max_seq_length instead
            },
            "steps": args.iters,
            "total_steps": args.iters,
            "best_step": args.iters,  # mlx-lm keeps the last weights
            "best_val_loss": best_val,
            "stop_reason": "max_steps" if cfg.max_steps else "epochs_done",
            "resumed_from_step": 0,
            "train_losses": losses.train,
            "val_losses": losses.val,
            "train_tokens": losses.tokens,
            "target_tokens": None,
            "train_seconds": round(train_s, 2),
            "wall_seconds_this_call": round(train_s, 2),
            "tokens_per_s": round(losses.tokens / max(1e-9, train_s), 1),
            "precision": "mlx (the model's own dtype)",
            "threads": None,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "versions": {"mlx": mx.__version__},
        }
        write_json(tmp / CARD, card, indent=1)
        write_loss_curve(card, tmp / CURVE)
    return AdapterResult.from_card(out_dir, card)
