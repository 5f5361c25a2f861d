"""Language models as Dagster resources: one per backend, plus a registry that maps roles to URIs.

Keys come in through `EnvVar(...)` and are excluded from reprs; the usage ledger is exposed as
flat, metadata-friendly dicts (`usage_metadata()`).
"""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.lm.registry import ROLES, load_lm, parse_uri, role_uris


def usage_metadata(lms: dict[str, LanguageModel]) -> dict[str, Any]:
    """`{"<name>/<field>": value}` for every LM's ledger (plus its URI); JSON-safe scalars."""
    out: dict[str, Any] = {}
    for name, lm in lms.items():
        out[f"{name}/uri"] = lm.uri
        for key, value in lm.usage.as_dict().items():
            if isinstance(value, dict):
                for kind, n in value.items():
                    out[f"{name}/{key}/{kind}"] = n
            else:
                out[f"{name}/{key}"] = round(value, 6) if isinstance(value, float) else value
    return out


class _LMResource(ConfigurableResource):
    """Base: builds the LM on first use and keeps it for the run."""

    _lm: LanguageModel | None = PrivateAttr(default=None)

    def _uri(self) -> str:
        raise NotImplementedError

    def _options(self) -> dict[str, Any]:
        return {}

    def get_lm(self) -> LanguageModel:
        if self._lm is None:
            self._lm = load_lm(self._uri(), **self._options())
        return self._lm

    def to_dspy(self, **kwargs):
        from reer_pipeline.lm.dspy_adapter import to_dspy

        return to_dspy(self.get_lm(), **kwargs)

    def usage_metadata(self) -> dict[str, Any]:
        return usage_metadata({"lm": self.get_lm()}) if self._lm is not None else {}


class HFLMResource(_LMResource):
    """`hf::` — transformers on torch, in-process."""

    model: str = Field(default="embedded", description="'embedded' or a local model directory")
    dtype: str = Field(default="auto", description="auto (bf16 where supported), float32, ...")

    def _uri(self) -> str:
        return f"hf::{self.model}"

    def _options(self) -> dict[str, Any]:
        return {"dtype": self.dtype}


class MLXLMResource(_LMResource):
    """`mlx::` — mlx-lm in-process."""

    model: str = Field(default="embedded", description="'embedded' or a local model directory")

    def _uri(self) -> str:
        return f"mlx::{self.model}"


class _CloudResource(_LMResource):
    model: str
    api_key: str | None = Field(default=None, repr=False, description="set with EnvVar(...)")
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_retries: int = 4
    timeout_s: float = 60.0

    def _options(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "rpm": self.requests_per_minute,
            "tpm": self.tokens_per_minute,
            "max_retries": self.max_retries,
            "timeout": self.timeout_s,
        }


class OpenAILMResource(_CloudResource):
    def _uri(self) -> str:
        return f"openai::{self.model}"


class AnthropicLMResource(_CloudResource):
    def _uri(self) -> str:
        return f"anthropic::{self.model}"


class TogetherLMResource(_CloudResource):
    def _uri(self) -> str:
        return f"together::{self.model}"


class OpenAICompatibleLMResource(_CloudResource):
    base_url: str

    def _uri(self) -> str:
        return f"openai-compatible::{self.base_url}::{self.model}"


class LMRegistryResource(ConfigurableResource):
    """Roles -> URIs (comma-separated fallbacks). Unset roles read env REER_<ROLE>_URI, else
    `local`. Keys per provider come through EnvVar and never show in reprs or metadata."""

    proposer_lm: str | None = None
    scorer_lm: str | None = None
    reflection_lm: str | None = None
    judge_lm: str | None = None
    hf_dtype: str = "auto"
    openai_api_key: str | None = Field(default=None, repr=False)
    anthropic_api_key: str | None = Field(default=None, repr=False)
    together_api_key: str | None = Field(default=None, repr=False)
    openai_compatible_api_key: str | None = Field(default=None, repr=False)
    requests_per_minute: dict[str, int] = Field(default_factory=dict, description="per provider")
    tokens_per_minute: dict[str, int] = Field(default_factory=dict, description="per provider")

    _lms: dict[str, LanguageModel] = PrivateAttr(default_factory=dict)

    def _options(self, uri: str) -> dict[str, Any]:
        scheme = parse_uri(uri)[0]
        if scheme == "hf":
            return {"dtype": self.hf_dtype}
        if scheme == "mlx":
            return {}
        key = getattr(self, f"{scheme.replace('-', '_')}_api_key")
        return {
            "api_key": key,
            "rpm": self.requests_per_minute.get(scheme),
            "tpm": self.tokens_per_minute.get(scheme),
        }

    def get(self, role: str) -> LanguageModel:
        """The LM for `role`: its first URI that loads, kept for the run."""
        if role not in self._lms:
            config = {r: getattr(self, r) for r in ROLES if getattr(self, r)}
            errors = []
            for uri in role_uris(role, config):
                try:
                    self._lms[role] = load_lm(uri, **self._options(uri))
                    break
                except Exception as e:  # noqa: BLE001 - fall back to the next URI
                    errors.append(f"{uri}: {type(e).__name__}")
            else:
                raise RuntimeError(f"no LM could be loaded for {role}: " + "; ".join(errors))
        return self._lms[role]

    def dspy_lm(self, role: str, **kwargs):
        from reer_pipeline.lm.dspy_adapter import to_dspy

        return to_dspy(self.get(role), **kwargs)

    def usage_metadata(self) -> dict[str, Any]:
        """Ledger of every role used in this run, as flat metadata values."""
        return usage_metadata(dict(self._lms))
