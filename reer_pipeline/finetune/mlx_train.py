"""The Apple Silicon path: `mlx_lm.lora` on the same JSONL chat files (`train.jsonl`,
`valid.jsonl` from `data.write_jsonl`), loss on the assistant turn only (`mask_prompt`).

Not exercised on Linux (mlx-lm trains on the CPU there, far slower than torch); the adapter it
writes is in mlx-lm's format and loads with `mlx::<model>+adapter=<dir>`. mlx-lm resumes from
`--resume-adapter-file`, not from an optimizer checkpoint, and has no early stopping: the
torch trainer (`train.train_adapter`) is the reference.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from reer_pipeline.finetune.train import TrainConfig


def mlx_config(examples_dir: Path, model_dir: Path, out_dir: Path, cfg: TrainConfig) -> dict:
    """mlx-lm's LoRA config for the same run as `cfg` (its YAML is a superset of JSON)."""
    n_train = sum(1 for line in open(Path(examples_dir) / "train.jsonl") if line.strip())
    batch = 16
    iters = cfg.max_steps or max(1, math.ceil(n_train * cfg.epochs / batch))
    return {
        "model": str(model_dir),
        "train": True,
        "data": str(examples_dir),
        "fine_tune_type": "lora",
        "optimizer": "adamw",
        "seed": cfg.seed,
        "num_layers": -1,
        "batch_size": batch,
        "iters": iters,
        "learning_rate": cfg.learning_rate,
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
                f"self_attn.{m}"
                if m.endswith(("q_proj", "k_proj", "v_proj", "o_proj"))
                else f"mlp.{m}"
                for m in cfg.target_modules
            ],
        },
    }


def train_adapter_mlx(
    examples_dir: Path, model_dir: Path, out_dir: Path, cfg: TrainConfig | None = None
) -> Path:
    """Run `python -m mlx_lm lora -c <config>` and return the adapter folder."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = mlx_config(Path(examples_dir), Path(model_dir), out_dir, cfg or TrainConfig())
    path = out_dir / "mlx_lora_config.yaml"
    path.write_text(json.dumps(config, indent=1))
    subprocess.run([sys.executable, "-m", "mlx_lm", "lora", "-c", str(path)], check=True)
    return out_dir
