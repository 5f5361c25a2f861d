import json

import pytest

from reer_pipeline.lm import embedded


def test_gguf_ships_in_the_installed_package():
    path = embedded.gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


@pytest.mark.slow
def test_conversion_is_cached_checksummed_and_complete(model_dir, lm_data_root):
    from reer_pipeline.layout import DataLayout

    models = DataLayout.from_env().models
    assert model_dir.parent == models
    assert embedded.verify(model_dir)
    manifest = json.loads((model_dir / embedded.MANIFEST).read_text())
    assert manifest["source_sha256"] == embedded.sha256_file(embedded.gguf_path())
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(manifest["files"])
    mtime = (model_dir / "model.safetensors").stat().st_mtime
    assert embedded.embedded_model_dir(models, check=True) == model_dir  # no second conversion
    assert (model_dir / "model.safetensors").stat().st_mtime == mtime


@pytest.mark.slow
def test_corrupted_cache_is_detected(model_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    (copy / "config.json").write_text("{}")
    assert not embedded.verify(copy)


@pytest.mark.slow
def test_tokenizer_splits_digits_and_keeps_special_tokens(model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    digits = tok("year 2025", add_special_tokens=False)["input_ids"]
    assert [tok.decode([t]) for t in digits[-4:]] == ["2", "0", "2", "5"]
    ids = tok("<|im_start|>user", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids[0]) == "<|im_start|>"
    text = "Hello, world! Ünïcödé 42."
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    assert "<|im_start|>" in tok.chat_template


def test_unknown_model_is_not_downloaded():
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        embedded.resolve_model_path("HuggingFaceTB/SmolLM2-135M-Instruct", None)
