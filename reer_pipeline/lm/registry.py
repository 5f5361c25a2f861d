"""Model choice is configuration: a URI names a provider and a model, a role names URIs.

URIs: `local` / `embedded` (mlx on Apple Silicon, hf elsewhere; env REER_LOCAL_BACKEND
overrides; `local:<name>` another embedded model of `lm/embedded.MODELS`), `hf::<model-or-path>`
(`hf::embedded:<name>`), `mlx::<model-or-path>`, `openai::<model>`,
`anthropic::<model>`, `together::<model>`, `openai-compatible::<base_url>::<model>`.
A provider is one entry of `PROVIDERS`. A local model may carry a LoRA adapter folder:
`hf::<model>+adapter=<dir>` (also `local+adapter=<dir>`, `mlx::<model>+adapter=<dir>`).
Local models are loaded once per process.
"""

from __future__ import annotations

import importlib
import os
import platform
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reer_pipeline.lm.base import LanguageModel

ROLES = ("proposer_lm", "reer_lm", "scorer_lm", "reflection_lm", "judge_lm")
# Each role's URIs when neither config nor env names one: the first that loads is used, so a
# model `make models` did not install falls back to the next. Chosen by measurement
# (benchmarks/models.py; the table and the reasons: docs/models.md). `proposer_lm` drafts;
# `reer_lm` writes REER's requests and trajectories (mining: generation is most of a trace's
# cost, so it stays on the fast model); `scorer_lm` scores. Tests run on `local`.
DEFAULTS: dict[str, tuple[str, ...]] = {
    "proposer_lm": ("local:qwen2.5-coder-0.5b", "local"),
    "reer_lm": ("local",),
    "scorer_lm": ("local",),
    "reflection_lm": ("local",),
    "judge_lm": ("local",),
}


@dataclass(frozen=True)
class Provider:
    scheme: str
    backend: str  # "module:Class", imported only when used; a cloud class names its key_env
    local: bool = False  # in-process weights: takes `models_dir`, cached per process
    has_base_url: bool = False  # `<scheme>::<base_url>::<model>`


PROVIDERS = {
    p.scheme: p
    for p in (
        Provider("hf", "reer_pipeline.lm.hf:HFModel", local=True),
        Provider("mlx", "reer_pipeline.lm.mlx_backend:MLXModel", local=True),
        Provider("openai", "reer_pipeline.lm.cloud:OpenAILM"),
        Provider("anthropic", "reer_pipeline.lm.cloud:AnthropicLM"),
        Provider("together", "reer_pipeline.lm.cloud:TogetherLM"),
        Provider(
            "openai-compatible", "reer_pipeline.lm.cloud:OpenAICompatibleLM", has_base_url=True
        ),
    )
}
LOCAL_SCHEMES = tuple(s for s, p in PROVIDERS.items() if p.local)

_cache: dict[str, LanguageModel] = {}
_lock = threading.Lock()


def default_local_backend() -> str:
    """`mlx` on Apple Silicon, `hf` elsewhere; REER_LOCAL_BACKEND overrides."""
    env = os.environ.get("REER_LOCAL_BACKEND", "").strip().lower()
    if env:
        if env not in LOCAL_SCHEMES:
            raise ValueError(f"REER_LOCAL_BACKEND must be one of {LOCAL_SCHEMES}, got {env!r}")
        return env
    apple = platform.system() == "Darwin" and platform.machine() == "arm64"
    return "mlx" if apple else "hf"


ADAPTER_SEP = "+adapter="


def split_adapter(model: str) -> tuple[str, str | None]:
    """`(base model, adapter dir or None)` of a local model spec `<model>[+adapter=<dir>]`."""
    base, sep, adapter = model.partition(ADAPTER_SEP)
    if sep and not adapter.strip():
        raise ValueError(f"{model!r}: `+adapter=` needs a folder")
    return base, (adapter.strip() or None)


def parse_uri(uri: str) -> tuple[str, str, str | None]:
    """`(scheme, model, base_url)`; `local`/`embedded` resolve to the default local backend.

    For a local scheme `model` may end in `+adapter=<dir>` (see `split_adapter`)."""
    uri = uri.strip()
    head, sep, adapter = uri.partition(ADAPTER_SEP)
    bare, colon, name = head.partition(":")
    if bare in ("local", "embedded") and not name.startswith(":"):
        return default_local_backend(), "embedded" + colon + name + sep + adapter, None
    scheme, sep, rest = uri.partition("::")
    if not sep or not rest:
        raise ValueError(f"LM URI {uri!r} is not `<backend>::<model>`")
    if scheme not in PROVIDERS:
        raise ValueError(f"unknown LM backend {scheme!r} in {uri!r}; known: {', '.join(PROVIDERS)}")
    if PROVIDERS[scheme].has_base_url:
        base_url, sep, model = rest.rpartition("::")
        if not sep or not base_url or not model:
            raise ValueError(f"{uri!r}: expected {scheme}::<base_url>::<model>")
        return scheme, model, base_url
    if ADAPTER_SEP in rest:
        if not PROVIDERS[scheme].local:
            raise ValueError(f"{uri!r}: only local models (hf, mlx) take an adapter")
        split_adapter(rest)
    return scheme, rest, None


def build_lm(uri: str, models_dir: Path | None = None, key_env: str | None = None, **options):
    """A new backend for `uri` (no caching). Local backends get `models_dir` (where the embedded
    model is converted). A cloud backend reads its key from the variable `key_env`, else from
    its provider's own (`OPENAI_API_KEY`...), and fails naming the variable when it is unset."""
    scheme, model, base_url = parse_uri(uri)
    provider = PROVIDERS[scheme]
    module, name = provider.backend.split(":")
    cls = getattr(importlib.import_module(module), name)
    if provider.local:
        base, adapter = split_adapter(model)
        uri = f"{scheme}::{model}"
        return cls(base, uri=uri, models_dir=models_dir, adapter=adapter, **options)
    if key_env:
        if not os.environ.get(key_env):
            raise ValueError(f"{key_env} is not set: {scheme}::{model} needs an API key")
        options["api_key"] = os.environ[key_env]
    if provider.has_base_url:
        options["base_url"] = base_url
    return cls(model, **options)


def load_lm(uri: str, **options) -> LanguageModel:
    """The backend for `uri`; local models are cached per process (per URI and options, and for
    an adapter per version of its folder, so a retrained adapter is loaded again)."""
    scheme, model, _ = parse_uri(uri)
    if not PROVIDERS[scheme].local:
        return build_lm(uri, **options)
    key = f"{scheme}::{model}|{sorted((k, str(v)) for k, v in options.items())}"
    key += f"|{_adapter_version(model)}"
    with _lock:
        if key not in _cache:
            _cache[key] = build_lm(f"{scheme}::{model}", **options)
        return _cache[key]


def _adapter_version(model: str) -> str:
    _, adapter = split_adapter(model)
    if not adapter:
        return ""
    try:
        st = os.stat(os.path.join(os.path.expanduser(adapter), "adapter_config.json"))
        return f"{st.st_ino}:{st.st_mtime_ns}"
    except OSError:
        return "missing"


def role_uris(role: str, config: Mapping[str, object] | None = None) -> list[str]:
    """URIs to try for `role`: from config (str or list), else env REER_<ROLE>_URI (comma list).

    Env REER_<ROLE>_FALLBACK_URIS adds fallbacks; with nothing set the role uses `DEFAULTS`.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {ROLES}")
    value = (config or {}).get(role) or os.environ.get(f"REER_{role.upper()}_URI", "")
    uris = [value] if isinstance(value, str) else list(value)
    uris = [u.strip() for v in uris for u in str(v).split(",") if u.strip()]
    fallback = os.environ.get(f"REER_{role.upper()}_FALLBACK_URIS", "")
    uris += [u.strip() for u in fallback.split(",") if u.strip() and u.strip() not in uris]
    return uris or list(DEFAULTS[role])


def load_configured(
    uri: str,
    models_dir: Path | None = None,
    provider_options: Mapping[str, Mapping] | None = None,
) -> LanguageModel:
    """`load_lm(uri)` with its provider's options (`provider_options[scheme]`), and `models_dir`
    for a local model."""
    scheme = parse_uri(uri)[0]
    options = dict((provider_options or {}).get(scheme, {}))
    if PROVIDERS[scheme].local:
        options["models_dir"] = models_dir
    return load_lm(uri, **options)


def resolve_role(
    role: str,
    config: Mapping[str, object] | None = None,
    models_dir: Path | None = None,
    provider_options: Mapping[str, Mapping] | None = None,
) -> LanguageModel:
    """The first URI of `role` that loads; `provider_options[scheme]` go to that provider
    (dtype, rate limits, `key_env`). An error names every URI tried and why (an unset key names
    its variable)."""
    errors = []
    for uri in role_uris(role, config):
        try:
            return load_configured(uri, models_dir, provider_options)
        except Exception as e:  # noqa: BLE001 - try the next fallback
            errors.append(f"{uri}: {e}")
    raise RuntimeError(f"no LM could be loaded for role {role}: " + "; ".join(errors))
