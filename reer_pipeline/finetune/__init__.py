"""The author model: LoRA fine-tuning of the local LM on one account's posts and REER traces.

No dagster import: the `author_adapter` asset calls `train_author_model`; drafting picks the
model with `drafting_model` and uses the adapter through the LM URI `hf::<base>+adapter=<dir>`
(`load_lm`), or `mlx::<base>+adapter=<dir>` where the local backend is MLX (`mlx_train`).
"""

from reer_pipeline.finetune.author import (
    EVALUATION,
    AuthorModel,
    author_model_uri,
    drafting_model,
    train_author_model,
)
from reer_pipeline.finetune.data import (
    LINK,
    Example,
    ExampleSplits,
    build_examples,
    read_splits,
    replace_links,
    write_jsonl,
)
from reer_pipeline.finetune.evaluate import Perplexity, heldout_perplexity, relative_reduction
from reer_pipeline.finetune.train import (
    AdapterResult,
    Progress,
    TooFewExamples,
    TrainConfig,
    TrainingStopped,
    train_adapter,
    write_loss_curve,
)

__all__ = [
    "EVALUATION",
    "LINK",
    "AdapterResult",
    "AuthorModel",
    "Example",
    "ExampleSplits",
    "Perplexity",
    "Progress",
    "TooFewExamples",
    "TrainConfig",
    "TrainingStopped",
    "author_model_uri",
    "build_examples",
    "drafting_model",
    "heldout_perplexity",
    "read_splits",
    "relative_reduction",
    "replace_links",
    "train_adapter",
    "train_author_model",
    "write_jsonl",
    "write_loss_curve",
]
