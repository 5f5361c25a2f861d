"""Language models as Dagster resources: a registry that maps roles to URIs.

API keys never sit in config: `key_env` names the environment variable a provider's key is read
from (default: the provider's own, e.g. OPENAI_API_KEY). The usage ledger is exposed as flat,
metadata-friendly values (`usage_metadata()`).
"""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.lm.registry import ROLES, load_configured, resolve_role
from reer_pipeline.resources.storage import Storage


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


class LMRegistryResource(ConfigurableResource):
    """Roles -> URIs (comma-separated fallbacks). Unset roles read env REER_<ROLE>_URI, else
    `lm/registry.DEFAULTS`. Per provider (URI scheme): the key's variable, rate limits."""

    storage: Storage
    proposer_lm: str | None = None
    reer_lm: str | None = None
    scorer_lm: str | None = None
    reflection_lm: str | None = None
    judge_lm: str | None = None
    hf_dtype: str = "auto"
    concurrent_model_steps: int = Field(
        default=1, description="model steps that can run at once (the `lm` pool limit)"
    )
    key_env: dict[str, str] = Field(
        default_factory=dict, description="scheme -> the environment variable holding its key"
    )
    requests_per_minute: dict[str, int] = Field(default_factory=dict, description="per provider")
    tokens_per_minute: dict[str, int] = Field(default_factory=dict, description="per provider")

    _lms: dict[str, LanguageModel] = PrivateAttr(default_factory=dict)

    def provider_options(self) -> dict[str, dict]:
        options: dict[str, dict] = {
            "hf": {"dtype": self.hf_dtype, "concurrent_steps": self.concurrent_model_steps}
        }
        for name, values in (
            ("key_env", self.key_env),
            ("rpm", self.requests_per_minute),
            ("tpm", self.tokens_per_minute),
        ):
            for scheme, value in values.items():
                options.setdefault(scheme, {})[name] = value
        return options

    def get(self, role: str) -> LanguageModel:
        """The LM for `role`: its first URI that loads, kept for the run."""
        if role not in self._lms:
            config = {r: getattr(self, r) for r in ROLES if getattr(self, r)}
            self._lms[role] = resolve_role(
                role, config, self.storage.layout.models, self.provider_options()
            )
        return self._lms[role]

    def load(self, uri: str) -> LanguageModel:
        """The model at `uri` (for example an author model, `hf::<base>+adapter=<dir>`) with
        this resource's provider options."""
        return load_configured(uri, self.storage.layout.models, self.provider_options())

    def usage_metadata(self) -> dict[str, Any]:
        """Ledger of every role used in this run, as flat metadata values."""
        return usage_metadata(dict(self._lms))
