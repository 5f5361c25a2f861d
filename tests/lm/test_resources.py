"""Dagster resources over the LM layer, through a real materialize()."""

import pytest
from dagster import asset, materialize

from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.storage import Storage
from tests.lm.conftest import katan

KEY = "sk-planted-RESOURCE-91b2"


@pytest.mark.slow  # starts llm-katan
def test_registry_resource_roles_ledger_and_no_key(tmp_path, monkeypatch, capsys):
    server = katan(tmp_path)
    monkeypatch.setenv("KATAN_KEY", KEY)
    base = f"http://127.0.0.1:{server.port}/v1"

    @asset
    def drafted(lm_registry: LMRegistryResource):
        lm = lm_registry.get("proposer_lm")
        lm.generate(["write a post"], n=2, max_tokens=8)
        meta = lm_registry.usage_metadata()
        print(repr(lm_registry), repr(lm), meta)
        from dagster import Output

        return Output(1, metadata=meta)

    registry = LMRegistryResource(
        storage=Storage(),
        proposer_lm=f"openai-compatible::{base}::echo-model",
        key_env={"openai-compatible": "KATAN_KEY"},
        requests_per_minute={"openai-compatible": 100},
    )
    try:
        result = materialize([drafted], resources={"lm_registry": registry})
    finally:
        server.stop()
    assert result.success
    meta = result.asset_materializations_for_node("drafted")[0].metadata
    assert meta["proposer_lm/calls"].value >= 1
    assert meta["proposer_lm/uri"].value.startswith("openai-compatible::")
    out, err = capsys.readouterr()
    assert "proposer_lm/prompt_tokens" in out
    assert KEY not in out and KEY not in err and KEY not in repr(registry)
    assert all(KEY not in str(m.value) for m in meta.values())


@pytest.mark.slow
def test_registry_resource_scores_with_the_embedded_model_inside_an_asset(model_dir):
    @asset
    def scored(language_models: LMRegistryResource):
        logprobs = language_models.get("scorer_lm").score(["Hello"], [" world"])
        from dagster import Output

        return Output(logprobs, metadata=language_models.usage_metadata())

    storage = Storage(models_dir=str(model_dir.parent))
    registry = LMRegistryResource(storage=storage, scorer_lm="hf::embedded")
    result = materialize([scored], resources={"language_models": registry})
    assert result.success
    meta = result.asset_materializations_for_node("scored")[0].metadata
    assert meta["scorer_lm/scored_tokens"].value > 0
