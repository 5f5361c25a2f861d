"""Tuning: the drafting program optimized against the project's scorer, per optimizer x platform."""

import json
import os

import dagster as dg
import dspy
import duckdb

from reer_pipeline.assets.metadata import rows_table
from reer_pipeline.assets.mining import reer_traces
from reer_pipeline.assets.strategies import engagement_model, writing_strategies
from reer_pipeline.ingest.warehouse import fetch_dicts, read_top_posts
from reer_pipeline.lm.dspy_adapter import to_dspy
from reer_pipeline.optimize.data import build_splits
from reer_pipeline.optimize.tune import (
    OPTIMIZERS,
    TuneConfig,
    compare,
    evaluate,
    plot_curve,
    run_key,
    tune,
)
from reer_pipeline.paths import programs_dir
from reer_pipeline.program.context import load_context
from reer_pipeline.program.modules import DraftProgram
from reer_pipeline.reer.store import TraceStore, create_duckdb_view
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.scoring.candidates import CandidateScorer
from reer_pipeline.scoring.engagement import EngagementModel
from reer_pipeline.scoring.metric import DraftMetric

tuning_partitions = dg.MultiPartitionsDefinition(
    {
        "optimizer": dg.StaticPartitionsDefinition(list(OPTIMIZERS)),
        "platform": dg.StaticPartitionsDefinition(["x", "linkedin", "mastodon"]),
    }
)


class TunedProgramConfig(dg.Config):
    """Budget, seed and data of one tuning run. `max_metric_calls` or `auto_level` is the budget;
    with `time_limit_s` a run stops early and the next materialization resumes it (GEPA)."""

    max_metric_calls: int | None = 40
    auto_level: str | None = None  # light | medium | heavy, used when max_metric_calls is None
    seed: int = 0
    reflection_minibatch_size: int = 3
    max_demos: int = 2
    min_demo_score: float = 0.5
    time_limit_s: float | None = None
    num_threads: int = 1
    max_examples: int = 60  # the newest top posts, split by time 60/20/20
    max_tokens: int = 160  # per program call
    reflection_max_tokens: int = 384
    temperature: float = 0.0  # greedy drafts make base and tuned comparable
    author: str | None = None  # default: the author with the most original posts
    judge_feedback: bool = False  # add judge_lm's rating to GEPA's feedback (one call per draft)


def _author_data(warehouse: Warehouse, platform: str, author: str | None):
    """The author's context, top posts on the platform, and kept REER traces."""
    with warehouse.get_connection(read_only=True) as con:
        ctx = load_context(con, platform, author)
        posts = read_top_posts(con, platform, ctx.author)
    with duckdb.connect() as mem:
        create_duckdb_view(mem, TraceStore().root)
        traces = fetch_dicts(
            mem,
            """SELECT post_id, x, topic, audience, trajectory, score_after FROM reer_traces
            WHERE kept AND platform = ? AND author = ?""",
            [platform, ctx.author],
        )
    return ctx, posts, traces


def _write_json(path, data) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


@dg.asset(
    deps=[reer_traces, writing_strategies, engagement_model],
    partitions_def=tuning_partitions,
    group_name="tuning",
    kinds={"dspy", "json"},
    pool="lm",
    check_specs=[dg.AssetCheckSpec("tuned_beats_base", asset="tuned_program")],
)
def tuned_program(
    context: dg.AssetExecutionContext,
    config: TunedProgramConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
):
    """The drafting program tuned on the author's own top posts, evaluated on the newest ones.

    Writes `data/programs/<optimizer>__<platform>/`: program.json (what `reer draft` and the
    candidates asset load), evaluation.json, detailed_results.json (GEPA), validation.png, and
    `runs/<run key>/`, the optimizer's log a killed run resumes from.
    """
    keys = context.partition_key.keys_by_dimension
    optimizer, platform = keys["optimizer"], keys["platform"]
    ctx, posts, traces = _author_data(warehouse, platform, config.author)
    splits = build_splits(posts, traces, ctx.cards, config.max_examples)
    if not splits.val or not splits.test:
        raise dg.Failure(
            f"tuning {platform}:{ctx.author} needs at least 3 top posts; found {len(posts)}"
        )
    proposer = language_models.get("proposer_lm")
    reflection = language_models.get("reflection_lm")
    scorer_lm = language_models.get("scorer_lm")
    scorer = CandidateScorer(
        platform, ctx.own_texts, scorer_lm, EngagementModel.for_author(platform, ctx.author)
    )
    judge = None
    if config.judge_feedback:
        from reer_pipeline.scoring.judge import judge_scores

        judge_lm = language_models.get("judge_lm")
        judge = lambda texts: judge_scores(judge_lm, texts)  # noqa: E731
    metric = DraftMetric(scorer, judge)
    program_config = {"n_angles": 1, "temperature": config.temperature}
    cfg = TuneConfig(
        optimizer=optimizer,
        **{k: getattr(config, k) for k in TuneConfig.__dataclass_fields__ if k != "optimizer"},
    )
    models = {"proposer": proposer.uri, "reflection": reflection.uri, "scorer": scorer_lm.uri}
    run = run_key(cfg, splits, program_config | {"max_tokens": config.max_tokens}, models)
    folder = programs_dir() / f"{optimizer}__{platform}"
    context.log.info(
        f"tuning {platform}:{ctx.author} with {optimizer}: {len(splits.train)} train, "
        f"{len(splits.val)} val, {len(splits.test)} test examples; run {run}"
    )
    lm = to_dspy(proposer, max_tokens=config.max_tokens)
    reflection_lm = to_dspy(reflection, max_tokens=config.reflection_max_tokens, temperature=1.0)
    base = DraftProgram(**program_config)
    result = tune(
        base, splits, metric, lm, reflection_lm, cfg, folder / "runs" / run, context.log.info
    )
    context.log.info(
        f"{result.optimizer}: {result.metric_calls} metric calls ({result.rollouts_this_run} "
        f"this run) in {result.wall_time_s:.0f}s; evaluating on {len(splits.test)} test posts"
    )
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        evaluation = compare(
            evaluate(base, splits.test, metric, config.seed),
            evaluate(result.program, splits.test, metric, config.seed),
        )
    evaluation |= {
        "optimizer": result.optimizer,
        "partition": context.partition_key,
        "run": run,
        "author": ctx.author,
        "metric_calls": result.metric_calls,
        "wall_time_s": result.wall_time_s,
        "splits": splits.bounds(),
    }
    saved = folder / "program.tmp.json"  # then renamed: a reader never sees half a program
    result.program.save(str(saved))
    os.replace(saved, folder / "program.json")
    _write_json(folder / "evaluation.json", evaluation)
    if result.detailed_results is not None:
        _write_json(folder / "detailed_results.json", result.detailed_results)
    png = folder / "validation.png"
    title = f"{result.optimizer} on {platform}:{ctx.author}"
    image = plot_curve(result.curve, result.metric_calls, title, png)
    instructions = {
        name: pred.signature.instructions for name, pred in result.program.named_predictors()
    }
    better = evaluation["tuned_mean"] > evaluation["base_mean"]
    yield dg.MaterializeResult(
        metadata=language_models.usage_metadata()
        | {
            "optimizer": result.optimizer,
            "author": ctx.author,
            "run": run,
            "resumed_from_calls": result.resumed_from_calls,
            "stopped_early": result.stopped_early,
            "metric_calls": result.metric_calls,
            "rollouts_this_run": result.rollouts_this_run,
            "wall_time_s": result.wall_time_s,
            "n_train": len(splits.train),
            "n_val": len(splits.val),
            "n_test": len(splits.test),
            "split_bounds": dg.MetadataValue.json(splits.bounds()),
            "base_test_score": evaluation["base_mean"],
            "tuned_test_score": evaluation["tuned_mean"],
            "delta": evaluation["delta_mean"],
            "delta_95_low": evaluation["delta_low"],
            "delta_95_high": evaluation["delta_high"],
            "per_example": rows_table(evaluation["per_example"]),
            "validation_curve": dg.MetadataValue.md(
                f"![validation score vs metric calls](data:image/png;base64,{image})"
            ),
            "validation_png": dg.MetadataValue.path(str(png)),
            "program": dg.MetadataValue.path(str(folder / "program.json")),
            "instructions": dg.MetadataValue.json(instructions),
            "notes": dg.MetadataValue.json(result.notes),
        }
    )
    yield dg.AssetCheckResult(
        check_name="tuned_beats_base",
        passed=better,
        severity=dg.AssetCheckSeverity.WARN,
        description=None if better else "the tuned program is not better on the test split",
        metadata={
            "base_test_score": evaluation["base_mean"],
            "tuned_test_score": evaluation["tuned_mean"],
            "delta": evaluation["delta_mean"],
            "delta_95_low": evaluation["delta_low"],
            "delta_95_high": evaluation["delta_high"],
        },
    )
