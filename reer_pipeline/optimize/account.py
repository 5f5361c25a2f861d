"""Tune the drafting program for one account and save it with its held-out evaluation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import dspy

from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.lm.dspy_adapter import to_dspy
from reer_pipeline.optimize.data import build_splits
from reer_pipeline.optimize.store import save_program
from reer_pipeline.optimize.tune import TuneConfig, compare, evaluate, plot_curve, run_key, tune
from reer_pipeline.platforms import Account
from reer_pipeline.program.modules import DraftProgram
from reer_pipeline.scoring.metric import DraftMetric
from reer_pipeline.tables import Markdown, rows_table


def tune_account(
    account: Account,
    cfg: TuneConfig,
    *,
    posts: list[dict],
    traces: list[dict],
    cards: list[dict],
    metric: DraftMetric,
    proposer: LanguageModel,
    reflection: LanguageModel,
    scorer_uri: str | None,
    folder: Path,
    log: Callable[[str], None] = print,
    decisions: Sequence[dict] = (),
) -> dict:
    """Split the account's top posts by time, tune, compare base and tuned on the test split,
    and save `folder/` (program, evaluation, GEPA's details, validation PNG, `runs/<key>/`).

    `decisions` (the person's, from the review log) add gold examples (`build_splits`).
    Returns report values, base vs tuned first. A ValueError when there are too few posts.
    """
    splits = build_splits(posts, traces, cards, cfg.max_examples, decisions)
    if not splits.val or not splits.test:
        raise ValueError(f"tuning {account} needs at least 3 top posts; found {len(posts)}")
    models = {"proposer": proposer.uri, "reflection": reflection.uri, "scorer": scorer_uri}
    program_config = cfg.program_config()
    run = run_key(cfg, splits, program_config | {"max_tokens": cfg.max_tokens}, models)
    log(
        f"tuning {account} with {cfg.optimizer}: {len(splits.train)} train, {len(splits.val)} "
        f"val, {len(splits.test)} test examples; run {run}"
    )
    lm = to_dspy(proposer, max_tokens=cfg.max_tokens)
    reflection_lm = to_dspy(reflection, max_tokens=cfg.reflection_max_tokens, temperature=1.0)
    base = DraftProgram(**program_config)
    result = tune(
        base,
        splits,
        metric,
        lm=lm,
        reflection_lm=reflection_lm,
        cfg=cfg,
        log_dir=folder / "runs" / run,
        log=log,
    )
    log(
        f"{result.optimizer}: {result.metric_calls} metric calls ({result.rollouts_this_run} "
        f"this run) in {result.wall_time_s:.0f}s; evaluating on {len(splits.test)} test posts"
    )
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        evaluation = compare(
            evaluate(base, splits.test, metric, cfg.seed),
            evaluate(result.program, splits.test, metric, cfg.seed),
        )
    evaluation |= {
        "optimizer": result.optimizer,
        "account": account.key,
        "author": account.author,
        "run": run,
        "metric_calls": result.metric_calls,
        "wall_time_s": result.wall_time_s,
        "splits": splits.bounds(),
    }
    path = save_program(folder, result.program, evaluation, result.detailed_results)
    png = folder / "validation.png"
    image = plot_curve(result.curve, result.metric_calls, f"{result.optimizer} on {account}", png)
    return {
        "base_test_score": evaluation["base_mean"],
        "tuned_test_score": evaluation["tuned_mean"],
        "delta": evaluation["delta_mean"],
        "delta_95_low": evaluation["delta_low"],
        "delta_95_high": evaluation["delta_high"],
        "optimizer": result.optimizer,
        "run": run,
        "resumed_from_calls": result.resumed_from_calls,
        "stopped_early": result.stopped_early,
        "metric_calls": result.metric_calls,
        "rollouts_this_run": result.rollouts_this_run,
        "wall_time_s": result.wall_time_s,
        "n_train": len(splits.train),
        "n_val": len(splits.val),
        "n_test": len(splits.test),
        "split_bounds": splits.bounds(),
        "per_example": rows_table(evaluation["per_example"]),
        "validation_curve": Markdown(
            f"![validation score vs metric calls](data:image/png;base64,{image})"
        ),
        "validation_png": png,
        "validation_points": result.curve,  # (metric calls, score) per candidate: tracking
        "program": path,
        "instructions": {
            name: pred.signature.instructions for name, pred in result.program.named_predictors()
        },
        "notes": result.notes,
    }
