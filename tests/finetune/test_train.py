"""LoRA training on the real embedded model with tiny budgets: resume, early stopping, the card,
and the adapter URI (`hf::embedded+adapter=<dir>`) through `load_lm`."""

import json
import math
import os

import pytest

from reer_pipeline.finetune import (
    TrainConfig,
    TrainingStopped,
    build_examples,
    heldout_perplexity,
    relative_reduction,
    train_adapter,
)
from reer_pipeline.finetune.train import CARD, CURVE, batch_loss
from reer_pipeline.lm.hf import AdapterError
from reer_pipeline.lm.registry import load_lm, parse_uri, split_adapter


def models():
    """The models folder the embedded model is converted into."""
    from reer_pipeline.layout import DataLayout

    return DataLayout.from_env().models


pytestmark = pytest.mark.slow
os.environ.setdefault("REER_TORCH_THREADS", "1")

SUBJECTS = ["the new library", "our city park", "the school board", "a night train"]


def posts(n: int = 48) -> list[dict]:
    return [
        {
            "post_id": f"p{i:03d}",
            "platform": "x",
            "author": "ada",
            "text": f"Visited {SUBJECTS[i % 4]} today, day {i}. It was quiet and I liked it.",
            "created_at": f"2024-{1 + i // 28:02d}-{1 + i % 28:02d} 09:00:00",
        }
        for i in range(n)
    ]


def tiny(**kw) -> TrainConfig:
    base = dict(
        max_steps=6,
        batch_tokens=256,
        save_every=2,
        eval_every=3,
        max_val_examples=6,
        min_train_examples=8,
        threads=1,
        learning_rate=1e-3,
    )
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def splits():
    return build_examples(posts())


@pytest.fixture(scope="module")
def adapter(splits, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapters") / "ada"
    return train_adapter(splits, "embedded", out, tiny(), models_dir=models())


def test_too_few_examples_is_a_clear_error_and_writes_nothing(tmp_path):
    few = build_examples(posts(10))
    with pytest.raises(ValueError, match="too few training examples: 6"):
        train_adapter(few, "embedded", tmp_path / "out", tiny(), models_dir=models())
    assert not (tmp_path / "out").exists()


def test_training_lowers_validation_loss_and_writes_a_card(adapter, splits):
    card = adapter.card
    assert adapter.steps == 6 and adapter.stop_reason == "max_steps"
    assert card["best_val_loss"] < card["val_losses"][0][1]  # step 0 is the base model
    assert card["data"]["sha256"]["train"] != card["data"]["sha256"]["valid"]
    assert card["data"]["sizes"] == splits.sizes()
    assert card["base"]["manifest_sha256"] and card["config"]["rank"] == 16
    assert set(card["versions"]) >= {"torch", "transformers", "peft"}
    assert [s for s, _ in card["train_losses"]] == list(range(1, 7))
    on_disk = json.loads((adapter.adapter_dir / CARD).read_text())
    assert on_disk["run_key"] == card["run_key"]
    assert (adapter.adapter_dir / CURVE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    work = adapter.adapter_dir.with_name(f".{adapter.adapter_dir.name}.work")
    assert not any(work.glob("*/ckpt-*"))  # checkpoints go once the adapter is written


def test_a_stopped_run_resumes_from_its_last_checkpoint(splits, adapter, tmp_path):
    seen = []

    def stop_at_5(p):
        seen.append(p.step)
        if p.step == 5:
            raise TrainingStopped("killed")

    out = tmp_path / "ada"
    with pytest.raises(TrainingStopped):
        train_adapter(splits, "embedded", out, tiny(), on_progress=stop_at_5, models_dir=models())
    assert not out.exists()  # nothing half-written
    result = train_adapter(
        splits,
        "embedded",
        out,
        tiny(),
        on_progress=lambda p: seen.append(p.step),
        models_dir=models(),
    )
    assert result.resumed_from_step == 4  # the checkpoint before the stop (every 2 steps)
    assert seen == [1, 2, 3, 4, 5, 5, 6]  # only step 5 ran twice, once lost with the kill
    assert [s for s, _ in result.train_losses] == list(range(1, 7))  # no duplicated step
    # the same run as the uninterrupted one: same losses, same best step
    clean = dict(adapter.train_losses)
    for step, loss in result.train_losses:
        assert math.isclose(loss, clean[step], rel_tol=1e-3), step
    assert result.best_step == adapter.best_step


def test_early_stopping_keeps_the_best_weights(splits, tmp_path):
    cfg = tiny(max_steps=None, eval_every=1, patience=2, min_delta=100.0)  # nothing improves
    result = train_adapter(splits, "embedded", tmp_path / "es", cfg, models_dir=models())
    assert result.stop_reason == "early_stopped" and result.steps == 2
    assert result.best_step == 0  # the base model stayed best, so the adapter is a no-op
    base = load_lm("hf::embedded", dtype="float32", models_dir=models())
    same = load_lm(f"hf::embedded+adapter={tmp_path / 'es'}", dtype="float32", models_dir=models())
    reqs, texts = [splits.test[0].request], [splits.test[0].target]
    a, b = heldout_perplexity(base, texts, reqs), heldout_perplexity(same, texts, reqs)
    assert math.isclose(a.ppl, b.ppl, rel_tol=1e-4)


def test_batches_sharing_a_prefix_give_the_same_loss(splits):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reer_pipeline.finetune.train import shared_prefix_len, tokenize
    from reer_pipeline.lm.embedded import embedded_model_dir

    tok = AutoTokenizer.from_pretrained(embedded_model_dir(models()))
    items, _ = tokenize(tok, splits.train[:4], 512)
    assert shared_prefix_len(items) > 10
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir(models()), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    grads = []
    for share in (False, True):
        model.zero_grad()
        loss, n, _ = batch_loss(model, items, tok.pad_token_id, False, share)
        (loss / n).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad]))
        grads.append(float(loss))
    assert math.isclose(grads[1], grads[3], rel_tol=1e-5)
    assert float((grads[0] - grads[2]).norm() / grads[0].norm()) < 1e-4


def test_the_adapter_uri_loads_and_changes_the_model(adapter, splits):
    uri = f"hf::embedded+adapter={adapter.adapter_dir}"
    assert adapter.uri == uri
    tuned = load_lm(uri, dtype="float32", models_dir=models())
    base = load_lm("hf::embedded", dtype="float32", models_dir=models())
    assert tuned is load_lm(
        uri, dtype="float32", models_dir=models()
    )  # cached per URI like any local model
    reqs = [e.request for e in splits.test]
    texts = [e.target for e in splits.test]
    a, b = heldout_perplexity(base, texts, reqs), heldout_perplexity(tuned, texts, reqs)
    assert a.low <= a.ppl <= a.high and len(b.per_text) == len(texts)
    manual = math.exp(sum(b.nll) / sum(b.tokens))
    assert math.isclose(b.ppl, manual, rel_tol=1e-9)
    lps = tuned.score([tuned.render([{"role": "user", "content": reqs[0]}])], [texts[0]])[0]
    assert math.isclose(b.nll[0], -sum(lps), rel_tol=1e-5)
    red = relative_reduction(a, b)
    assert red["low"] <= red["reduction"] <= red["high"]
    assert red["reduction"] > 0  # trained on the same kind of posts, it predicts them better
    out = tuned.generate([[{"role": "user", "content": reqs[0]}]], temperature=0, max_tokens=8)
    assert isinstance(out[0][0], str)


def test_uri_parsing():
    assert parse_uri("hf::embedded+adapter=/a/b") == ("hf", "embedded+adapter=/a/b", None)
    assert parse_uri("local+adapter=/a")[1] == "embedded+adapter=/a"
    assert split_adapter("/m+adapter=/a") == ("/m", "/a")
    assert split_adapter("/m") == ("/m", None)
    with pytest.raises(ValueError, match="only local models"):
        parse_uri("openai::gpt-4o+adapter=/a")
    with pytest.raises(ValueError, match="needs a folder"):
        split_adapter("embedded+adapter=")


def test_a_broken_adapter_folder_is_a_one_line_error_naming_it(adapter, tmp_path):
    import shutil

    with pytest.raises(AdapterError, match=f"adapter folder {tmp_path / 'none'} does not exist"):
        load_lm(f"hf::embedded+adapter={tmp_path / 'none'}", models_dir=models())
    corrupt = tmp_path / "corrupt"
    shutil.copytree(adapter.adapter_dir, corrupt)
    weights = corrupt / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(AdapterError) as e:
        load_lm(f"hf::embedded+adapter={corrupt}", models_dir=models())
    assert str(corrupt) in str(e.value) and "\n" not in str(e.value)
    other = tmp_path / "other"
    shutil.copytree(adapter.adapter_dir, other)
    card = json.loads((other / CARD).read_text())
    card["base"]["manifest_sha256"] = "0" * 64
    (other / CARD).write_text(json.dumps(card))
    with pytest.raises(AdapterError, match=f"adapter folder {other} was trained on another base"):
        load_lm(f"hf::embedded+adapter={other}", models_dir=models())


def test_train_author_model_gives_the_assets_metadata(tmp_path):
    from reer_pipeline.finetune import train_author_model

    trace = {
        "post_id": "p002",
        "x": {"text": "Write an X (Twitter) post about a quiet park for neighbours."},
        "trajectory": "I will start with the visit.\n\nThen say why it was good.",
        "y": posts()[2]["text"],
        "kept": True,
    }
    model = train_author_model(
        posts(), [trace], tmp_path / "x__ada", config=tiny(max_steps=3), models_dir=models()
    )
    meta = model.metadata()
    assert meta["examples_per_source"]["train"] == {"trace": 1, "post": 27}
    assert meta["split_sizes"] == {"train": 28, "valid": 10, "test": 10}
    assert meta["heldout_ppl_base"]["n_texts"] == 10 == meta["heldout_ppl_adapter"]["n_texts"]
    red = meta["heldout_ppl_reduction"]
    assert red["low"] <= red["reduction"] <= red["high"]
    assert (tmp_path / "x__ada" / "examples" / "train.jsonl").exists()
    assert model.loss_curve.exists() and meta["tokens_per_s"] > 0
    assert (
        load_lm(model.uri, models_dir=models()).generate(["Hi"], n=1, temperature=0, max_tokens=2)[
            0
        ][0]
        is not None
    )


def test_a_replaced_adapter_folder_is_loaded_again(adapter, tmp_path):
    import shutil

    path = tmp_path / "current"
    shutil.copytree(adapter.adapter_dir, path)
    first = load_lm(f"hf::embedded+adapter={path}", models_dir=models())
    assert load_lm(f"hf::embedded+adapter={path}", models_dir=models()) is first
    shutil.rmtree(path)
    # a retrained adapter's atomic swap: new files in the same place
    shutil.copytree(adapter.adapter_dir, path, copy_function=shutil.copyfile)
    assert load_lm(f"hf::embedded+adapter={path}", models_dir=models()) is not first


def test_an_mlx_base_trains_with_mlx_lm_through_the_same_entry_point(tmp_path):
    """`mlx::` bases train with mlx_lm.lora; stock mlx[cpu] is slow here: 2 steps, 6 posts."""
    pytest.importorskip("mlx_lm")
    few = build_examples(posts(10))
    cfg = tiny(max_steps=2, min_train_examples=4, max_batch=2)
    seen = []
    out = tmp_path / "mlx"
    result = train_adapter(
        few,
        "mlx::embedded",
        out,
        cfg,
        on_progress=lambda p: seen.append(p.step),
        models_dir=models(),
    )
    assert [s for s, _ in result.train_losses] == seen == [1, 2]
    assert result.card["val_losses"] and result.card["data"]["sizes"] == few.sizes()
    assert result.backend == "mlx" and (out / "adapters.safetensors").is_file()
    assert result.uri == f"mlx::embedded+adapter={out.resolve()}"
    assert load_lm(result.uri, models_dir=models()).adapter == str(out.resolve())
    again = train_adapter(few, "mlx::embedded", out, cfg, models_dir=models())
    assert again.reused and again.card["run_key"] == result.card["run_key"]
