"""The author model: LoRA fine-tuning of the local LM on one account's posts and REER traces.

No dagster import: the `author_adapter` asset calls `build_examples`, `write_jsonl`,
`train_adapter`, `heldout_perplexity` and uses the adapter through the LM URI
`hf::<base>+adapter=<dir>` (`load_lm`).
"""

from reer_pipeline.finetune.author import AuthorModel, train_author_model
from reer_pipeline.finetune.data import (
    LINK,
    Example,
    ExampleSplits,
    build_examples,
    fill_links,
    read_splits,
    replace_links,
    tuning_holdout_ids,
    write_jsonl,
)
from reer_pipeline.finetune.evaluate import Perplexity, heldout_perplexity, relative_reduction
from reer_pipeline.finetune.train import (
    AdapterResult,
    Progress,
    TrainConfig,
    TrainingStopped,
    train_adapter,
    write_loss_curve,
)

__all__ = [
    "LINK",
    "AdapterResult",
    "AuthorModel",
    "Example",
    "ExampleSplits",
    "Perplexity",
    "Progress",
    "TrainConfig",
    "TrainingStopped",
    "build_examples",
    "fill_links",
    "heldout_perplexity",
    "read_splits",
    "relative_reduction",
    "replace_links",
    "train_adapter",
    "train_author_model",
    "tuning_holdout_ids",
    "write_jsonl",
    "write_loss_curve",
]
