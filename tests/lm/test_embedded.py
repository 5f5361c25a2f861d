import json
from dataclasses import replace

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


def test_every_table_entry_names_its_packages_and_file():
    for name, spec in embedded.MODELS.items():
        assert embedded.model_spec(f"embedded:{name}") is spec
        assert len(spec.packages) == len(spec.parts) and len(spec.sha256) == 64
    assert embedded.model_spec("embedded") is embedded.MODELS[embedded.DEFAULT]
    with pytest.raises(ValueError, match="unknown embedded model"):
        embedded.resolve_model_path("embedded:no-such-model", embedded.Path("/tmp"))


def _split_package(tmp_path, monkeypatch, data: bytes, n: int):
    """A real package folder on sys.path holding `data` split into `n` part files."""
    pkg = tmp_path / "site" / "reer_test_parts"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    step = -(-len(data) // n)
    for i in range(n):
        (pkg / "data" / f"p{i}.bin").write_bytes(data[i * step : (i + 1) * step])
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return tuple(("reer_test_parts", f"data/p{i}.bin") for i in range(n))


def test_parts_are_assembled_and_checked(tmp_path, monkeypatch):
    import hashlib

    data = bytes(range(256)) * 1000
    parts = _split_package(tmp_path, monkeypatch, data, 3)
    spec = embedded.EmbeddedModel(
        "t", "T", ("a", "b", "c"), parts, len(data), hashlib.sha256(data).hexdigest(), "x", ""
    )
    out = embedded.assembled_gguf(spec, tmp_path / "models")
    assert out.read_bytes() == data
    with pytest.raises(ValueError, match="sha256"):
        embedded.assembled_gguf(replace(spec, sha256="0" * 64), tmp_path / "other")
    missing = replace(spec, packages=("pkg-m",), parts=(("reer_no_such_module", "f"),))
    with pytest.raises(FileNotFoundError, match="pkg-m"):
        embedded.part_paths(missing)


def _installed(name: str) -> bool:
    try:
        embedded.part_paths(embedded.MODELS[name])
        return True
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in embedded.MODELS if n != embedded.DEFAULT])
def test_optional_models_convert_and_generate(name, lm_data_root):
    """`make models` brings these; each converts once (its assembled file's hash checked) and
    writes text through the hf backend."""
    if not _installed(name):
        pytest.skip(f"{name} is not installed (make models)")
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.hf import HFModel

    models = DataLayout.from_env().models
    path = embedded.embedded_model_dir(models, name=name)
    assert embedded.verify(path)
    manifest = json.loads((path / embedded.MANIFEST).read_text())
    assert manifest["source_sha256"] == embedded.MODELS[name].sha256
    lm = HFModel(f"embedded:{name}", models_dir=models, dtype="float32")
    [[out]] = lm.generate(
        [[{"role": "user", "content": "Name one colour."}]], temperature=0.0, max_tokens=8
    )
    assert out.strip()
    text = "Hello, world! Ünïcödé 42."
    assert lm.tokenizer.decode(lm.tokenizer(text, add_special_tokens=False)["input_ids"]) == text
