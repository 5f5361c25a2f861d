"""The author model's evaluation on disk and the one choice of the drafting model: the adapter
drafts only when it exists, loads, was trained on the proposer's base and beat it."""

import json
import shutil

import pytest

from reer_pipeline.finetune import (
    EVALUATION,
    TooFewExamples,
    author_model_uri,
    drafting_model,
    train_author_model,
)
from reer_pipeline.lm.registry import load_lm
from tests.finetune.test_train import models, posts, tiny

pytestmark = pytest.mark.slow


def load(uri):
    return load_lm(uri, models_dir=models())


@pytest.fixture(scope="module")
def account_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapters") / "x__ada"
    train_author_model(posts(), [], folder, config=tiny(max_steps=4), models_dir=models())
    return folder


def copy_of(account_dir, tmp_path, name="copy"):
    dst = tmp_path / name
    shutil.copytree(account_dir, dst)
    return dst


def evaluation_of(folder):
    return json.loads((folder / "adapter" / EVALUATION).read_text())


def test_the_evaluation_is_written_next_to_the_adapter_and_reused(account_dir):
    evaluation = evaluation_of(account_dir)
    base, adapted = evaluation["heldout_ppl_base"], evaluation["heldout_ppl_adapter"]
    assert base["n_texts"] == adapted["n_texts"] == 10 and base["n_tokens"] == adapted["n_tokens"]
    red = evaluation["heldout_ppl_reduction"]
    assert red["low"] <= red["reduction"] <= red["high"]
    assert evaluation["beats_base"] == (red["low"] > 0)
    assert evaluation["base_uri"] == "hf::embedded"
    card = json.loads((account_dir / "adapter" / "adapter_card.json").read_text())
    assert evaluation["run_key"] == card["run_key"]
    # the same data and settings again: the adapter and its evaluation are reused, not redone
    again = train_author_model(
        posts(), [], account_dir, config=tiny(max_steps=4), models_dir=models()
    )
    assert again.result.reused and "eval_seconds" not in again.timings
    assert again.evaluation == evaluation


def test_the_adapter_is_chosen_only_when_it_beat_its_base(account_dir, tmp_path):
    beat = copy_of(account_dir, tmp_path, "beat")
    evaluation = evaluation_of(beat) | {"beats_base": True, "verdict": "it beat the base"}
    (beat / "adapter" / EVALUATION).write_text(json.dumps(evaluation))
    uri, why = author_model_uri(beat, "hf::embedded", load)
    assert (
        uri == f"hf::embedded+adapter={(beat / 'adapter').resolve()}" and why == "it beat the base"
    )
    proposer = load("hf::embedded")
    chosen, line = drafting_model(proposer, beat, load)
    assert chosen.uri == uri and line.startswith(f"drafted with the author model {uri}")

    lost = copy_of(account_dir, tmp_path, "lost")
    evaluation = evaluation_of(lost) | {"beats_base": False, "verdict": "not better than the base"}
    (lost / "adapter" / EVALUATION).write_text(json.dumps(evaluation))
    assert author_model_uri(lost, "hf::embedded", load) == (
        None,
        f"author model {(lost / 'adapter').resolve()}: not better than the base",
    )
    chosen, line = drafting_model(proposer, lost, load)
    assert chosen is proposer and "not better than the base" in line

    uri, why = author_model_uri(beat, "hf::some/other-model", load)
    assert uri is None and "trained on hf::embedded, not hf::some/other-model" in why
    uri, why = author_model_uri(tmp_path / "none", "hf::embedded", load)
    assert uri is None and why.startswith("no author model in")
    (beat / "adapter" / EVALUATION).unlink()  # trained, never evaluated
    assert author_model_uri(beat, "hf::embedded", load)[0] is None


def test_a_corrupt_adapter_folder_is_one_line_naming_it(account_dir, tmp_path):
    broken = copy_of(account_dir, tmp_path, "broken")
    evaluation = evaluation_of(broken) | {"beats_base": True, "verdict": "it beat the base"}
    (broken / "adapter" / EVALUATION).write_text(json.dumps(evaluation))
    (broken / "adapter" / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    folder = (broken / "adapter").resolve()
    uri, why = author_model_uri(broken, "hf::embedded", load)
    assert uri is None and f"adapter folder {folder}" in why and "\n" not in why
    proposer = load("hf::embedded")
    chosen, line = drafting_model(proposer, broken, load)
    assert chosen is proposer and str(folder) in line and "\n" not in line


def test_too_few_posts_now_retire_an_adapter_trained_earlier(account_dir, tmp_path):
    old = copy_of(account_dir, tmp_path, "old")
    evaluation = evaluation_of(old) | {"beats_base": True, "verdict": "it beat the base"}
    (old / "adapter" / EVALUATION).write_text(json.dumps(evaluation))
    with pytest.raises(TooFewExamples):
        train_author_model(posts()[:5], [], old, config=tiny(max_steps=4), models_dir=models())
    uri, why = author_model_uri(old, "hf::embedded", load)
    assert uri is None and "retired:" in why
