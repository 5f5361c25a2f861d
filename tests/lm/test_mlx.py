import pytest


@pytest.fixture(scope="module")
def mlx_lm_model(model_dir):
    from reer_pipeline.lm.mlx_backend import MLXModel

    return MLXModel(str(model_dir), uri="mlx::embedded")


@pytest.mark.slow
def test_mlx_and_hf_agree_on_logprobs(mlx_lm_model, hf32):
    prefixes = ["Posts that teach", "Posts that teach"]
    conts = [" one thing do well.", " something useful get shared."]
    a = mlx_lm_model.score(prefixes, conts)
    b = hf32.score(prefixes, conts)
    diffs = [abs(x - y) for u, v in zip(a, b, strict=True) for x, y in zip(u, v, strict=True)]
    assert len(diffs) > 6 and sum(diffs) / len(diffs) < 0.1


@pytest.mark.slow
def test_mlx_generates_under_a_grammar(mlx_lm_model):
    from reer_pipeline.lm.constrained import json_schema_grammar

    grammar = json_schema_grammar(
        {
            "type": "object",
            "properties": {"ok": {"type": "boolean"}},
            "required": ["ok"],
            "additionalProperties": False,
        }
    )
    out = mlx_lm_model.generate(
        ["Is water wet? JSON:"], max_tokens=8, temperature=0.0, grammar=grammar
    )
    assert out[0][0] in ('{"ok":true}', '{"ok":false}')
