"""One call for the `author_adapter` asset: examples -> adapter -> held-out perplexity -> metadata.

Files under the account's adapters folder (`DataLayout.account(account).adapters`):
`examples/{train,valid,test}.jsonl` + `manifest.json`, `adapter/` (peft files, `adapter_card.json`,
`loss_curve.png`, replaced atomically; then `evaluation.json`, the held-out perplexity of base and
adapter; `preference_report.json`, the last preference step on the person's decisions),
`.adapter.work/` (checkpoints while training; a killed run resumes from them).

With decisions in the review log, the adapter then takes a preference step on them (DPO,
`finetune.preference`), swapped in only when it passes that module's rule; the same decisions
are never stepped on twice.

`author_model_uri` gives the adapter's URI only when it exists, loads and beat its base;
`drafting_model` is the one choice of the model that drafts (the `candidates` and `tuned_program`
assets and `reer draft`).
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reer_pipeline.files import atomic_path, write_json
from reer_pipeline.finetune.data import build_examples, write_jsonl
from reer_pipeline.finetune.evaluate import Perplexity, heldout_perplexity, relative_reduction
from reer_pipeline.finetune.preference import REPORT, PreferenceConfig, preference_step
from reer_pipeline.finetune.train import (
    CARD,
    CURVE,
    AdapterResult,
    Progress,
    TooFewExamples,
    TrainConfig,
    train_adapter,
)
from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.lm.registry import ADAPTER_SEP, build_lm
from reer_pipeline.tables import Markdown

EVALUATION = "evaluation.json"


@dataclass
class AuthorModel:
    uri: str  # hf::<base>+adapter=<dir>: usable by every role through load_lm
    adapter_dir: Path
    result: AdapterResult
    evaluation: dict  # what `evaluation.json` holds: held-out perplexity base vs adapter
    wall_s: float
    timings: dict = field(default_factory=dict)
    preference: dict = field(default_factory=dict)  # the last preference step's report

    @property
    def loss_curve(self) -> Path:
        return self.adapter_dir / CURVE

    @property
    def beats_base(self) -> bool:
        return bool(self.evaluation.get("beats_base"))

    def metadata(self) -> dict:
        """Flat, JSON-able figures for the asset's materialization metadata."""
        card = self.result.card
        meta = {
            "uri": self.uri,
            "examples_per_source": card["data"]["counts"],
            "split_sizes": card["data"]["sizes"],
            "split_bounds": card["data"]["bounds"],
            "posts_left_out": card["data"]["skipped"],
            "steps": card["steps"],
            "best_step": card["best_step"],
            "stop_reason": card["stop_reason"],
            "resumed_from_step": card["resumed_from_step"],
            "reused": self.result.reused,
            "best_val_loss": card["best_val_loss"],
            "train_seconds": card["train_seconds"],
            "train_tokens": card["train_tokens"],
            "tokens_per_s": card["tokens_per_s"],
            "precision": card["precision"],
            "peak_rss_mb": card["peak_rss_mb"],
            "wall_seconds": round(self.wall_s, 1),
            "loss_curve_png": str(self.loss_curve),
            **self.timings,
        }
        meta |= self.heldout()
        if self.preference:
            keys = ("kept", "why", "pairs", "train", "test", "accuracy_before", "accuracy_after")
            keys += ("reward_accuracy", "heldout_loss_after", "heldout_ppl_rise")
            meta["preference_step"] = {k: self.preference[k] for k in keys if k in self.preference}
        meta["beats_base"] = self.beats_base
        meta["verdict"] = self.verdict
        return meta

    @property
    def verdict(self) -> str:
        return self.evaluation.get("verdict", "")

    def report(self) -> dict:
        """`metadata()` with the loss curve inline (Markdown) and the adapter's folder."""
        png = base64.b64encode(self.loss_curve.read_bytes()).decode()
        return self.metadata() | {
            "loss_curve": Markdown(f"![training and validation loss](data:image/png;base64,{png})"),
            "loss_curve_png": self.loss_curve,
            "adapter": self.adapter_dir,
        }

    def heldout(self) -> dict:
        """The held-out perplexities of base and adapter and their reduction, when measured."""
        keys = ("heldout_ppl_base", "heldout_ppl_adapter", "heldout_ppl_reduction")
        return {k: self.evaluation[k] for k in keys if k in self.evaluation}


def judge(ppl_base: Perplexity, ppl_adapter: Perplexity, reduction: dict) -> tuple[bool, str]:
    """Whether the adapter beat the base (the paired interval of the perplexity reduction lies
    above 0), and a sentence saying so in plain words."""
    beats = reduction["low"] > 0
    text = verdict(ppl_base.ppl, ppl_adapter.ppl, len(ppl_base.tokens), reduction)
    return beats, text if beats else f"not better than the base: {text}"


def verdict(base: float, adapter: float, posts: int, reduction: dict) -> str:
    """ "held-out perplexity 41% lower (95% interval 39% to 44%): 44.0 with the base model, ..."
    (a rise reads "higher", its interval turned to match)."""
    sign, change = (1, "lower") if reduction["reduction"] >= 0 else (-1, "higher")
    low, high = sorted((sign * reduction["low"], sign * reduction["high"]))
    return (
        f"held-out perplexity {sign * reduction['reduction']:.0%} {change} "
        f"({reduction['level']:.0%} interval {low:.0%} to {high:.0%}): "
        f"{base:.1f} with the base model, {adapter:.1f} with the adapter, on {posts} posts"
    )


def evaluate_adapter(base_uri: str, adapter_dir: Path, test: list, models_dir=None) -> dict:
    """Held-out perplexity of the `test` examples' targets under the base and the adapter (fp32
    both on torch), their paired reduction, and the verdict."""
    texts, requests = [e.target for e in test], [e.request for e in test]
    options = {"dtype": "float32"} if base_uri.startswith("hf::") else {}
    base_lm = build_lm(base_uri, models_dir=models_dir, **options)
    ppl_base = heldout_perplexity(base_lm, texts, requests)
    del base_lm
    tuned = build_lm(f"{base_uri}{ADAPTER_SEP}{adapter_dir}", models_dir=models_dir, **options)
    ppl_adapter = heldout_perplexity(tuned, texts, requests)
    del tuned
    reduction = relative_reduction(ppl_base, ppl_adapter)
    beats, verdict = judge(ppl_base, ppl_adapter, reduction)
    return {
        "beats_base": beats,
        "verdict": verdict,
        "heldout_ppl_base": ppl_base.as_dict(),
        "heldout_ppl_adapter": ppl_adapter.as_dict(),
        "heldout_ppl_reduction": reduction,
    }


def train_author_model(
    posts: Iterable[dict],
    traces: Iterable[dict],
    account_dir: Path,
    *,
    top_posts: Iterable[dict] = (),
    base: str = "embedded",
    config: TrainConfig | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    evaluate: bool = True,
    max_test: int | None = None,
    models_dir: Path | None = None,
    decisions: Iterable[dict] = (),
    preference: PreferenceConfig | None = None,
) -> AuthorModel:
    """Build the account's examples, train (or resume, or reuse) its adapter, measure the
    held-out perplexity of its newest 20% posts (`max_test` of them) under the base model and
    the adapter, and write that evaluation to `adapter/evaluation.json`.

    `posts`: the account's rows of `posts`; `traces`: its TraceStore records; `top_posts`: its
    top posts (those tuning holds out never train); `decisions`: the person's (approved texts
    train, `build_examples`; with `preference`, the adapter then steps on their pairs, see
    `step_on_decisions`); `account_dir`:
    `DataLayout.account(account).adapters`;
    `base`: `embedded` (converted into `models_dir`) or a local model folder, on the default
    local backend, or `hf::`/`mlx::` either (see `train.local_base`).
    Raises TooFewExamples (nothing written but the example files) when there are too few; an
    adapter trained earlier is then retired (its evaluation no longer says it beat the base).
    """
    t0 = time.perf_counter()
    account_dir = Path(account_dir)
    posts, decisions = list(posts), list(decisions)
    splits = build_examples(posts, traces, top_posts=top_posts, decisions=decisions)
    write_jsonl(splits, account_dir / "examples")
    out = (account_dir / "adapter").resolve()
    try:
        result = train_adapter(
            splits, base, out, config, on_progress=on_progress, models_dir=models_dir
        )
    except TooFewExamples as e:  # an adapter of older data must not draft for the account now
        if (evaluation := _read_json(out / EVALUATION)).get("beats_base"):
            write_json(
                out / EVALUATION, evaluation | {"beats_base": False, "verdict": f"retired: {e}"}
            )
        raise
    base_uri = f"{result.backend}::{result.card['base']['model']}"
    timings = {"train_call_seconds": round(time.perf_counter() - t0, 1)}
    test = splits.test[:max_test] if max_test else splits.test
    run = {"run_key": result.card["run_key"], "base_uri": base_uri, "n_test": len(test)}
    evaluation = _read_json(out / EVALUATION)
    measured = evaluation.get("heldout_ppl_base") and all(
        evaluation.get(k) == v for k, v in run.items()
    )
    if not (evaluate and test):
        evaluation = run | {"beats_base": False, "verdict": "not evaluated on held-out posts"}
    elif not measured:  # else this adapter was measured on these posts already
        t1 = time.perf_counter()
        evaluation = run | evaluate_adapter(base_uri, out, test, models_dir)
        timings["eval_seconds"] = round(time.perf_counter() - t1, 1)
    write_json(out / EVALUATION, evaluation)
    step = {}
    if preference and preference.max_steps and test and result.backend == "hf":
        t1 = time.perf_counter()
        platform = posts[0]["platform"] if posts else "x"
        step = step_on_decisions(out, decisions, platform, test, preference, models_dir)
        timings["preference_seconds"] = round(time.perf_counter() - t1, 1)
    uri = f"{base_uri}{ADAPTER_SEP}{out}"
    return AuthorModel(uri, out, result, evaluation, time.perf_counter() - t0, timings, step)


def step_on_decisions(
    out: Path,
    decisions: Iterable[dict],
    platform: str,
    test: list,
    cfg: PreferenceConfig,
    models_dir: Path | None = None,
) -> dict:
    """The preference step of the adapter in `out` on the person's decisions, swapped in when
    it passes its rule. Its report stays in `out` either way, with the newest decision's `seq`:
    decisions no newer than that are not stepped on again (the last report is returned, without
    the `new` flag of a step made now)."""
    decisions = list(decisions)
    newest = max((int(d["seq"]) for d in decisions), default=0)
    last = _read_json(out / REPORT)
    if newest <= last.get("decisions_seq", 0):
        return last
    work = out.with_name(".adapter.preference")
    report = preference_step(out, decisions, platform, test, work, cfg, models_dir)
    report["decisions_seq"] = newest
    if report["kept"]:
        with atomic_path(out) as tmp:
            work.rename(tmp)
            for name in (CURVE, EVALUATION):  # the step keeps the adapter's run and evaluation
                if (out / name).exists():
                    shutil.copyfile(out / name, tmp / name)
    shutil.rmtree(work, ignore_errors=True)
    write_json(out / REPORT, report)
    return report | {"new": True}  # stepped now (the saved report has no `new`)


def preference_due(account_dir: Path, newest_decision: int) -> bool:
    """Whether the account's adapter exists and has not stepped on its decisions up to the
    review log's sequence number `newest_decision` (the nightly schedule asks this)."""
    adapter = Path(account_dir) / "adapter"
    stepped = _read_json(adapter / REPORT).get("decisions_seq", 0)
    return (adapter / CARD).is_file() and newest_decision > stepped


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def author_model_uri(
    account_dir: Path, base_uri: str, load: Callable[[str], LanguageModel]
) -> tuple[str | None, str]:
    """`(hf::<base>+adapter=<dir>, why)` when the account's adapter exists, was trained on
    `base_uri`, beat that base on held-out posts (its `evaluation.json`) and loads with `load`;
    else `(None, why not)`. `why` is one line for the log."""
    adapter = (Path(account_dir) / "adapter").resolve()
    if not (adapter / CARD).is_file():
        return None, f"no author model in {adapter} (author_adapter not materialized or skipped)"
    card, evaluation = _read_json(adapter / CARD), _read_json(adapter / EVALUATION)
    if not card.get("run_key"):
        return None, f"adapter folder {adapter} has a corrupt {CARD}"
    if evaluation.get("run_key") != card["run_key"]:
        return None, f"adapter folder {adapter} has no {EVALUATION} for its adapter"
    if evaluation.get("base_uri") != base_uri:
        return None, f"the author model is trained on {evaluation.get('base_uri')}, not {base_uri}"
    if not evaluation.get("beats_base"):
        return None, f"author model {adapter}: {evaluation.get('verdict', 'did not beat the base')}"
    uri = f"{base_uri}{ADAPTER_SEP}{adapter}"
    try:
        load(uri)
    except Exception as e:  # noqa: BLE001 - AdapterError or worse, one line naming the folder
        line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return None, line if str(adapter) in line else f"adapter folder {adapter}: {line}"
    return uri, evaluation["verdict"]


def drafting_model(
    proposer: LanguageModel, account_dir: Path, load: Callable[[str], LanguageModel]
) -> tuple[LanguageModel, str]:
    """The model that drafts for an account: its author model (base + adapter) when `proposer` is
    the local base it was trained on and it beat that base, else `proposer`; and one line saying
    which and why."""
    if ADAPTER_SEP in proposer.uri:
        return proposer, f"drafted with {proposer.uri} (the configured model has an adapter)"
    uri, why = author_model_uri(account_dir, proposer.uri, load)
    if uri is None:
        return proposer, f"drafted with {proposer.uri}: {why}"
    return load(uri), f"drafted with the author model {uri}: {why}"
