import pytest

from reer_pipeline.lm import registry


def test_parse_uris():
    assert registry.parse_uri("hf::embedded") == ("hf", "embedded", None)
    assert registry.parse_uri("mlx::/models/x") == ("mlx", "/models/x", None)
    assert registry.parse_uri("openai::gpt-4o-mini") == ("openai", "gpt-4o-mini", None)
    assert registry.parse_uri("openai-compatible::http://127.0.0.1:8000/v1::m") == (
        "openai-compatible",
        "m",
        "http://127.0.0.1:8000/v1",
    )
    backend = registry.default_local_backend()
    assert registry.parse_uri("local:gemma3-270m") == (backend, "embedded:gemma3-270m", None)
    assert registry.parse_uri("embedded:qwen2.5-coder-0.5b+adapter=/a") == (
        backend,
        "embedded:qwen2.5-coder-0.5b+adapter=/a",
        None,
    )
    for bad in ("gpt-4o", "foo::bar", "openai-compatible::m", "hf::"):
        with pytest.raises(ValueError):
            registry.parse_uri(bad)


def test_local_backend_auto_and_override(monkeypatch):
    monkeypatch.delenv("REER_LOCAL_BACKEND", raising=False)
    assert registry.parse_uri("local")[0] in ("hf", "mlx")
    monkeypatch.setenv("REER_LOCAL_BACKEND", "mlx")
    assert registry.parse_uri("embedded") == ("mlx", "embedded", None)
    monkeypatch.setenv("REER_LOCAL_BACKEND", "tpu")
    with pytest.raises(ValueError, match="REER_LOCAL_BACKEND"):
        registry.parse_uri("local")


def test_role_uris_from_config_env_and_fallbacks(monkeypatch):
    monkeypatch.setenv("REER_JUDGE_LM_URI", "anthropic::claude-sonnet-4-5")
    monkeypatch.setenv("REER_JUDGE_LM_FALLBACK_URIS", "openai::gpt-4o-mini, local")
    assert registry.role_uris("judge_lm") == [
        "anthropic::claude-sonnet-4-5",
        "openai::gpt-4o-mini",
        "local",
    ]
    assert registry.role_uris("judge_lm", {"judge_lm": "hf::embedded"})[0] == "hf::embedded"
    monkeypatch.delenv("REER_SCORER_LM_URI", raising=False)
    monkeypatch.delenv("REER_SCORER_LM_FALLBACK_URIS", raising=False)
    assert registry.role_uris("scorer_lm") == list(registry.DEFAULTS["scorer_lm"])
    with pytest.raises(ValueError):
        registry.role_uris("writer_lm")


def test_every_role_has_defaults_that_name_embedded_models():
    from reer_pipeline.lm.embedded import model_spec

    assert set(registry.DEFAULTS) == set(registry.ROLES)
    for uris in registry.DEFAULTS.values():
        assert uris[-1] == "local"  # the model `make install` brings is always the last resort
        for uri in uris:
            scheme, model, _ = registry.parse_uri(uri)
            assert scheme in registry.LOCAL_SCHEMES and model_spec(model)


@pytest.mark.slow
def test_role_falls_back_and_local_models_are_cached(monkeypatch, model_dir):
    monkeypatch.setenv("REER_LOCAL_BACKEND", "hf")
    config = {"scorer_lm": ["hf::/nonexistent/model", "hf::embedded"]}
    models = model_dir.parent
    lm = registry.resolve_role("scorer_lm", config, models)
    assert lm.uri == "hf::embedded" and lm.capabilities.score
    assert registry.load_lm("hf::embedded", models_dir=models) is lm
    with pytest.raises(RuntimeError, match="/nonexistent/model"):
        registry.resolve_role("scorer_lm", {"scorer_lm": "hf::/nonexistent/model"}, models)


def test_a_missing_key_names_its_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MY_GATEWAY_KEY", raising=False)
    with pytest.raises(RuntimeError, match="OPENAI_API_KEY is not set"):
        registry.resolve_role("judge_lm", {"judge_lm": "openai::gpt-4o-mini"})
    options = {"openai": {"key_env": "MY_GATEWAY_KEY"}}
    with pytest.raises(RuntimeError, match="MY_GATEWAY_KEY is not set"):
        registry.resolve_role("judge_lm", {"judge_lm": "openai::gpt-4o-mini"}, None, options)


def test_cloud_uris_build_sdk_backends(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-a-real-key")
    lm = registry.load_lm("openai-compatible::http://127.0.0.1:9/v1::tiny")
    assert lm.uri == "openai-compatible::http://127.0.0.1:9/v1::tiny"
    assert registry.load_lm("anthropic::claude-3-5-haiku-latest").capabilities.score is False
