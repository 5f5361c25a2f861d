"""The author model: a LoRA adapter of the local model trained on the account's posts and traces."""

from dataclasses import asdict

import dagster as dg
from pydantic import Field

from reer_pipeline.assets.config import domain_config, run_config
from reer_pipeline.assets.ingest import posts, top_posts
from reer_pipeline.assets.metadata import metadata
from reer_pipeline.assets.mining import reer_traces
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.assets.reviews import reviews
from reer_pipeline.finetune import TooFewExamples, TrainConfig, train_author_model
from reer_pipeline.finetune.preference import PreferenceConfig
from reer_pipeline.ingest.warehouse import read_account_posts, read_top_posts
from reer_pipeline.learn import retrainings
from reer_pipeline.learn.decisions import read_decisions
from reer_pipeline.reer.report import kept_traces
from reer_pipeline.resources.tracking import Tracking
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.tracking import adapter_record


class AuthorAdapterConfig(run_config(TrainConfig)):
    """The training run (`TrainConfig`), the base model and how much to measure."""

    base: str = Field(
        "embedded",
        description="the local model to adapt: `embedded`, a local model folder, or `hf::` or "
        "`mlx::` either (default: mlx on Apple Silicon, torch elsewhere)",
    )
    max_test: int | None = Field(
        200, description="newest held-out posts the perplexity is measured on (None: all)"
    )
    preference_steps: int = Field(
        40,
        description="DPO steps of the adapter on the person's new decisions, kept only when "
        "held-out pairs gained and the posts' perplexity held (0: no preference step)",
    )


@dg.asset(
    deps=[posts, top_posts, reer_traces, reviews],
    partitions_def=account_partitions,
    group_name="author",
    kinds={"pytorch"},
    pool="lm",
    check_specs=[dg.AssetCheckSpec("adapter_beats_base", asset="author_adapter")],
)
def author_adapter(
    context: dg.AssetExecutionContext,
    config: AuthorAdapterConfig,
    warehouse: Warehouse,
    tracking: Tracking,
):
    """A LoRA adapter of the local model on the account's older posts and kept REER traces,
    judged by the held-out perplexity of its newest posts against the base model, then stepped
    by DPO on the person's new decisions (kept only where that helped on later decisions).
    Drafting and tuning use it (`<hf or mlx>::<base>+adapter=<dir>`) only when it beat the
    base."""
    account, layout = account_of(context), warehouse.storage.layout
    with warehouse.get_connection(read_only=True) as con:
        rows = read_account_posts(con, account.platform, account.author)
        top = read_top_posts(con, account.platform, account.author)
        traces = kept_traces(con, layout.traces, account)
        decisions = read_decisions(con, account)  # approved texts train too
    cfg = domain_config(config, TrainConfig)
    context.log.info(
        f"training the author model of {account} on {len(rows)} posts and {len(traces)} kept "
        f"traces (base {config.base}, rank {cfg.rank}, epochs {cfg.epochs}, "
        f"max_steps {cfg.max_steps})"
    )
    try:
        model = train_author_model(
            rows,
            traces,
            layout.account(account).adapters,
            top_posts=top,
            base=config.base,
            config=cfg,
            on_progress=lambda p: context.log.info(p.line()),
            max_test=config.max_test,
            models_dir=layout.models,
            decisions=decisions,
            preference=PreferenceConfig(max_steps=config.preference_steps),
        )
    except TooFewExamples as e:
        model, verdict = None, f"no author model for {account}: {e}"
        context.log.warning(verdict)
    else:
        verdict = model.verdict
        context.log.info(verdict)
    if model is None:
        yield dg.MaterializeResult(metadata={"skipped": verdict})
    else:
        root = layout.root
        if not model.result.reused:
            retrainings.record(root, account, "author adapter", model.beats_base, verdict)
        if model.preference.get("new"):
            step = model.preference
            retrainings.record(root, account, "adapter preference step", step["kept"], step["why"])
        params = asdict(cfg) | {"base": config.base, "max_test": config.max_test}
        run = tracking.record(context, adapter_record, account, params, model)
        yield dg.MaterializeResult(metadata=metadata(model.report()) | run)
    yield dg.AssetCheckResult(
        check_name="adapter_beats_base",
        passed=bool(model and model.beats_base),
        severity=dg.AssetCheckSeverity.WARN,
        description=verdict,
        metadata=metadata(model.heldout()) if model else {},
    )
