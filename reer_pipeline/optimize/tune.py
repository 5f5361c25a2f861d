"""Tune the drafting program with GEPA, MIPROv2 or BootstrapFewShot, then evaluate it held out.

The optimizers run on DSPy's own classes; this module picks one, gives it a budget, a seed and a
resumable log folder, and measures the result on the test split (base vs tuned, one batched
scorer call per program, with a bootstrap interval on the mean difference).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dspy
import numpy as np

from reer_pipeline.lm.base import seed_local_models
from reer_pipeline.optimize.data import MAX_EXAMPLES, Splits
from reer_pipeline.program.modules import DraftProgram
from reer_pipeline.scoring.metric import DraftMetric, draft_text
from reer_pipeline.stats import bootstrap_interval

OPTIMIZERS = ("gepa", "mipro", "bootstrap", "auto")
SMALL_TRAINSET = 10  # `auto` uses BootstrapFewShot below this many train examples


@dataclass
class TuneConfig:
    """One tuning run: the optimizer, its budget and seed, the data and the drafting settings.
    `max_metric_calls` or `auto_level` is the budget; with `time_limit_s` a run stops early and
    the next one resumes it (GEPA)."""

    optimizer: str = field(default="gepa", metadata={"help": "gepa | mipro | bootstrap | auto"})
    max_metric_calls: int | None = field(
        default=40, metadata={"help": "the budget; None means use `auto_level`"}
    )
    auto_level: str | None = field(
        default=None,
        metadata={"help": "light | medium | heavy (DSPy's presets), when no calls budget"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the optimizer and of local sampling"})
    reflection_minibatch_size: int = field(
        default=3, metadata={"help": "examples GEPA reflects on per iteration"}
    )
    max_demos: int = field(
        default=2, metadata={"help": "few-shot demos per predictor (bootstrap, mipro)"}
    )
    min_demo_score: float = field(
        default=0.5, metadata={"help": "a bootstrapped demo must score at least this"}
    )
    num_threads: int = field(
        default=8, metadata={"help": "DSPy threads over examples; a local model merges their calls"}
    )
    time_limit_s: float | None = field(
        default=None, metadata={"help": "stop early; the next run resumes from the log (GEPA)"}
    )
    max_examples: int = field(
        default=MAX_EXAMPLES,
        metadata={
            "help": f"the newest top posts tuned on, split by time 60/20/20; at most "
            f"{MAX_EXAMPLES}, whose validation and test posts the author model never trains on"
        },
    )
    max_tokens: int = field(default=160, metadata={"help": "tokens per program call"})
    reflection_max_tokens: int = field(
        default=384, metadata={"help": "tokens per call of the reflection model"}
    )
    temperature: float = field(
        default=0.0,
        metadata={"help": "drafting temperature: greedy makes base and tuned comparable"},
    )
    judge_feedback: bool = field(
        default=False,
        metadata={"help": "add judge_lm's rating to GEPA's feedback (one call per draft)"},
    )

    def __post_init__(self):
        if self.max_examples > MAX_EXAMPLES:
            raise ValueError(
                f"max_examples is {self.max_examples}; at most {MAX_EXAMPLES}, the window whose "
                "held-out posts the author model leaves out (optimize.data.holdout_ids)"
            )

    def program_config(self) -> dict:
        """The drafting program's settings: one angle per example."""
        return {"n_angles": 1, "temperature": self.temperature}

    def budget_key(self) -> dict:
        """What identifies a run for resuming: the optimizer's settings but its budget (the data
        and the program's settings count through the run key's other parts)."""
        d = asdict(self)
        for k in ("max_metric_calls", "auto_level", "time_limit_s", "num_threads", *NOT_KEYED):
            d.pop(k)
        return d


# Fields the run key never held: leaving them out keeps the keys of existing runs.
NOT_KEYED = ("max_examples", "max_tokens", "reflection_max_tokens", "temperature", "judge_feedback")


@dataclass
class TuneResult:
    program: DraftProgram
    optimizer: str
    metric_calls: int  # in total, including calls made before a resume
    rollouts_this_run: int
    wall_time_s: float
    resumed_from_calls: int  # metric calls already made by the run this one resumed (0: fresh)
    stopped_early: bool
    curve: list[tuple[int, float]]  # (metric calls when found, validation score) per candidate
    detailed_results: dict | None = None
    notes: list[str] = field(default_factory=list)


def choose_optimizer(name: str, n_train: int, n_val: int, max_metric_calls: int | None) -> str:
    """The optimizer to run. `auto` picks BootstrapFewShot when the train set is very small
    (under SMALL_TRAINSET examples) or the budget cannot pay for two full passes over train and
    validation, because GEPA needs room to reflect and re-evaluate; GEPA otherwise."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    if name != "auto":
        return name
    too_small = n_train < SMALL_TRAINSET
    too_poor = max_metric_calls is not None and max_metric_calls < 2 * (n_train + n_val)
    return "bootstrap" if too_small or too_poor else "gepa"


def run_key(cfg: TuneConfig, splits: Splits, program_config: dict, models: dict) -> str:
    """12 hex chars naming a run: the same examples (inputs and references), program and
    settings resume the same log; any change to the data starts a new one."""
    blob = json.dumps(
        {
            "cfg": cfg.budget_key(),
            "program": program_config,
            "models": models,
            "splits": [[e.toDict() for e in s] for s in (splits.train, splits.val, splits.test)],
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class GEPAProgress:
    """A GEPA callback: after each iteration, metric calls used against the budget and time left.

    GEPA checks its budget before an iteration and finishes the one that crosses it, so a run
    can end past the budget; the estimate counts whole iterations at the measured cost of one."""

    def __init__(self, log: Callable[[str], None]):
        self.log, self.iterations = log, 0
        self.first: int | None = None  # metric calls at the first iteration's end, and when
        self.t0 = 0.0
        self.optimizer: dspy.GEPA | None = None  # its budget is known only once it compiles

    def on_iteration_end(self, event) -> None:
        state = event["state"]
        used, budget = state.total_num_evals, self.optimizer and self.optimizer.max_metric_calls
        if self.first is None:
            self.first, self.t0 = used, time.perf_counter()
        else:
            self.iterations += 1
        best = max(state.program_full_scores_val_set)
        head = f"GEPA iteration {event['iteration']}: {used} metric calls"
        if not budget:
            tail = ""
        elif used >= budget:
            tail = f" (budget {budget} reached: this was the last iteration)"
        elif not self.iterations:
            tail = f" of a budget of {budget}"
        else:
            per_iteration = max(1.0, (used - self.first) / self.iterations)
            left = math.ceil((budget - used) / per_iteration)
            seconds = left * (time.perf_counter() - self.t0) / self.iterations
            tail = f" of a budget of {budget}; about {left} iterations, {seconds / 60:.1f} min left"
        self.log(
            f"{head}{tail}, {len(state.program_candidates)} candidates, best validation score "
            f"{best:.3f}"
        )


class RanPredictorsRoundRobin:
    """GEPA's round robin over predictors, skipping those that did not run on the minibatch (the
    judge runs only in debates): otherwise GEPA spends an iteration's rollouts on a predictor
    with no trace to reflect on. Its position is kept in GEPA's state, so it resumes too."""

    def __call__(self, state, trajectories, subsample_scores, candidate_idx, candidate):
        ran = {t[0].signature.instructions for d in trajectories or [] for t in d["trace"]}
        names = state.list_of_named_predictors
        start = state.named_predictor_id_to_update_next_for_program_candidate[candidate_idx]
        order = [(start + k) % len(names) for k in range(len(names))]
        pid = next((i for i in order if candidate.get(names[i]) in ran), start)
        state.named_predictor_id_to_update_next_for_program_candidate[candidate_idx] = (
            pid + 1
        ) % len(names)
        return [names[pid]]


def _gepa(program, splits, metric, *, reflection_lm, cfg, log_dir: Path, log):
    from gepa.core.state import GEPAState
    from gepa.utils.stop_condition import TimeoutStopCondition

    saved = (log_dir / "gepa_state.bin").exists()
    calls_before = GEPAState.load(str(log_dir)).total_num_evals if saved else 0
    stops = [TimeoutStopCondition(cfg.time_limit_s)] if cfg.time_limit_s else []
    progress = GEPAProgress(log)
    budget = (
        {"max_metric_calls": cfg.max_metric_calls}
        if cfg.max_metric_calls is not None
        else {"auto": cfg.auto_level or "light"}
    )
    optimizer = dspy.GEPA(
        metric=metric,
        reflection_lm=reflection_lm,
        reflection_minibatch_size=cfg.reflection_minibatch_size,
        component_selector=RanPredictorsRoundRobin(),
        num_threads=cfg.num_threads,
        log_dir=str(log_dir),
        track_stats=True,
        seed=cfg.seed,
        warn_on_score_mismatch=False,
        gepa_kwargs={"use_cloudpickle": True, "stop_callbacks": stops, "callbacks": [progress]},
        **budget,
    )
    progress.optimizer = optimizer
    tuned = optimizer.compile(program, trainset=splits.train, valset=splits.val)
    results = tuned.detailed_results
    curve = sorted(
        (int(calls), float(score))
        for calls, score in zip(
            results.discovery_eval_counts, results.val_aggregate_scores, strict=True
        )
    )
    total = int(results.total_metric_calls or 0)
    planned = optimizer.max_metric_calls
    return tuned, total, curve, results.to_dict(), calls_before, total < (planned or 0)


def _bootstrap_or_mipro(name, program, splits, metric, *, lm, reflection_lm, cfg, log_dir: Path):
    if name == "bootstrap":
        optimizer = dspy.BootstrapFewShot(
            metric=metric.score_only,
            metric_threshold=cfg.min_demo_score,
            max_bootstrapped_demos=cfg.max_demos,
            max_labeled_demos=0,  # a labeled demo would need gold outputs for every predictor
            max_rounds=1,
        )
        return optimizer.compile(program, trainset=splits.train)
    budget = cfg.max_metric_calls or 0
    optimizer = dspy.MIPROv2(
        metric=metric.score_only,
        prompt_model=reflection_lm,
        task_model=lm,
        auto=cfg.auto_level if cfg.max_metric_calls is None else None,
        num_candidates=None if cfg.max_metric_calls is None else 2,
        max_bootstrapped_demos=cfg.max_demos,
        max_labeled_demos=0,
        num_threads=cfg.num_threads,
        seed=cfg.seed,
        metric_threshold=cfg.min_demo_score,
        log_dir=str(log_dir),
    )
    trials = None if cfg.max_metric_calls is None else max(1, budget // max(1, len(splits.val)))
    return optimizer.compile(
        program,
        trainset=splits.train,
        valset=splits.val,
        num_trials=trials,
        minibatch=False,
        data_aware_proposer=False,
    )


def evaluate(program, examples, metric: DraftMetric, seed: int = 0) -> list[dict]:
    """Run `program` on every example (their samples drawn in shared batched calls), then score
    all drafts in one batched call.

    Local sampling is seeded once, so two programs with the same instructions and demos draft
    the same posts.
    """
    seed_local_models(seed)
    preds = program.draft_many([dict(e.inputs()) for e in examples])
    texts = [draft_text(p) for p in preds]
    scores = metric.score_texts(examples, texts)
    return [
        {"post_id": e.post_id, "text": t, "total": s["total"], "feedback": s["feedback"]}
        for e, t, s in zip(examples, texts, scores, strict=True)
    ]


def tune(
    program: DraftProgram,
    splits: Splits,
    metric: DraftMetric,
    *,
    lm: dspy.BaseLM,
    reflection_lm: dspy.BaseLM,
    cfg: TuneConfig,
    log_dir: Path,
    log: Callable[[str], None] = print,
) -> TuneResult:
    """Compile `program` with the chosen optimizer under `dspy.context(lm=lm)`.

    GEPA resumes from `log_dir` when it holds a saved state of the same run (see `run_key`).
    """
    name = choose_optimizer(cfg.optimizer, len(splits.train), len(splits.val), cfg.max_metric_calls)
    log_dir.mkdir(parents=True, exist_ok=True)
    metric.with_references(splits.train + splits.val + splits.test)
    rollouts_before, t0 = metric.calls, time.perf_counter()
    notes = []
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        if name == "gepa":
            tuned, total, curve, details, calls_before, early = _gepa(
                program,
                splits,
                metric,
                reflection_lm=reflection_lm,
                cfg=cfg,
                log_dir=log_dir,
                log=log,
            )
        else:
            tuned = _bootstrap_or_mipro(
                name,
                program,
                splits,
                metric,
                lm=lm,
                reflection_lm=reflection_lm,
                cfg=cfg,
                log_dir=log_dir,
            )
            total, details, calls_before, early = metric.calls - rollouts_before, None, 0, False
            base_val = np.mean(
                [r["total"] for r in evaluate(program, splits.val, metric, cfg.seed)]
            )
            tuned_val = np.mean([r["total"] for r in evaluate(tuned, splits.val, metric, cfg.seed)])
            curve = [(0, float(base_val)), (total, float(tuned_val))]
            notes.append(f"{name} does not resume: a killed run starts again")
    return TuneResult(
        program=tuned,
        optimizer=name,
        metric_calls=total,
        rollouts_this_run=metric.calls - rollouts_before,
        wall_time_s=round(time.perf_counter() - t0, 2),
        resumed_from_calls=calls_before,
        stopped_early=early,
        curve=curve,
        detailed_results=details,
        notes=notes,
    )


def compare(base: list[dict], tuned: list[dict], seed: int = 0) -> dict:
    """Held-out comparison: mean scores, the mean difference with its 95% interval, per example."""
    deltas = [t["total"] - b["total"] for b, t in zip(base, tuned, strict=True)]
    mean, low, high = bootstrap_interval(deltas, n=2000, seed=seed)
    return {
        "n_test": len(deltas),
        "base_mean": float(np.mean([b["total"] for b in base])) if base else float("nan"),
        "tuned_mean": float(np.mean([t["total"] for t in tuned])) if tuned else float("nan"),
        "delta_mean": mean,
        "delta_low": low,
        "delta_high": high,
        "per_example": [
            {
                "post_id": b["post_id"],
                "base": round(b["total"], 4),
                "tuned": round(t["total"], 4),
                "delta": round(t["total"] - b["total"], 4),
                "tuned_draft": t["text"][:140],
                "tuned_feedback": t["feedback"][:200],
            }
            for b, t in zip(base, tuned, strict=True)
        ],
    }


def plot_curve(curve: list[tuple[int, float]], total_calls: int, title: str, path: Path) -> str:
    """Write a PNG of validation score against metric calls: each candidate where it was found,
    and the best so far as a step line up to `total_calls`. Returns the PNG as base64."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if curve:
        calls, scores = zip(*curve, strict=True)
        best = np.maximum.accumulate(scores)
        ax.scatter(calls, scores, color="tab:gray", label="candidate", zorder=3)
        ax.step(
            [*calls, max(total_calls, calls[-1])],
            [*best, best[-1]],
            where="post",
            label="best so far",
        )
        ax.legend(loc="lower right")
    ax.set_xlabel("metric calls")
    ax.set_ylabel("validation score")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    path.write_bytes(buf.getvalue())
    return base64.b64encode(buf.getvalue()).decode()
