"""Language-model layer: one protocol (`base`), local backends (`hf`, `mlx_backend`), cloud backends
(`cloud`), URI/role registry (`registry`), DSPy adapter (`dspy_adapter`), embedded model
(`embedded`). No dagster import here; `reer_pipeline.resources.lm` wraps it."""

from reer_pipeline.lm.base import Capabilities, LanguageModel, ScoringUnsupported, Usage
from reer_pipeline.lm.registry import load_lm, resolve_role

__all__ = [
    "Capabilities",
    "LanguageModel",
    "ScoringUnsupported",
    "Usage",
    "load_lm",
    "resolve_role",
]
