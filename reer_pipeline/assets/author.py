"""The author model: a LoRA adapter of the local model trained on the account's posts and traces."""

import base64

import dagster as dg
import duckdb

from reer_pipeline.assets.ingest import posts, top_posts
from reer_pipeline.assets.metadata import metadata
from reer_pipeline.assets.mining import reer_traces
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.finetune import (
    TooFewExamples,
    TrainConfig,
    train_author_model,
    tuning_holdout_ids,
)
from reer_pipeline.ingest.warehouse import read_account_posts, read_top_posts
from reer_pipeline.reer.report import kept_traces
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.tables import Markdown


class AuthorAdapterConfig(dg.Config):
    """How long to train and how much to measure; the rest are `TrainConfig`'s defaults."""

    base: str = "embedded"  # the local model to adapt: `embedded` or a local HF model folder
    epochs: float = 1.0
    max_steps: int | None = None  # stop after this many steps (a budget)
    rank: int = 16  # LoRA rank
    batch_tokens: int = 2048  # padded tokens per step (memory grows with it)
    max_test: int | None = 200  # newest held-out posts the perplexity is measured on (None: all)


@dg.asset(
    deps=[posts, top_posts, reer_traces],
    partitions_def=account_partitions,
    group_name="author",
    kinds={"pytorch"},
    pool="lm",
    check_specs=[dg.AssetCheckSpec("adapter_beats_base", asset="author_adapter")],
)
def author_adapter(
    context: dg.AssetExecutionContext, config: AuthorAdapterConfig, warehouse: Warehouse
):
    """A LoRA adapter of the local model on the account's older posts and kept REER traces,
    judged by the held-out perplexity of its newest posts against the base model. Drafting and
    tuning use it (`hf::<base>+adapter=<dir>`) only when it beat the base."""
    account, layout = account_of(context), warehouse.storage.layout
    with warehouse.get_connection(read_only=True) as con:
        rows = read_account_posts(con, account.platform, account.author)
        top = read_top_posts(con, account.platform, account.author)
    with duckdb.connect() as mem:
        traces = kept_traces(mem, layout.traces, account)
    cfg = TrainConfig(
        epochs=config.epochs,
        max_steps=config.max_steps,
        rank=config.rank,
        alpha=2 * config.rank,
        batch_tokens=config.batch_tokens,
    )
    context.log.info(
        f"training the author model of {account} on {len(rows)} posts and {len(traces)} kept "
        f"traces (base {config.base}, rank {cfg.rank}, epochs {cfg.epochs}, "
        f"max_steps {cfg.max_steps})"
    )
    try:
        model = train_author_model(
            rows,
            traces,
            layout.adapters(account),
            base=config.base,
            config=cfg,
            on_progress=lambda p: context.log.info(p.line()),
            exclude_ids=tuning_holdout_ids(top),
            max_test=config.max_test,
            models_dir=layout.models,
        )
    except TooFewExamples as e:
        reason = f"no author model for {account}: {e}"
        context.log.warning(reason)
        yield dg.MaterializeResult(metadata={"skipped": reason})
        yield dg.AssetCheckResult(
            check_name="adapter_beats_base",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=reason,
        )
        return
    meta = model.metadata()
    context.log.info(meta["verdict"])
    png = base64.b64encode(model.loss_curve.read_bytes()).decode()
    yield dg.MaterializeResult(
        metadata=metadata(
            meta
            | {
                "loss_curve": Markdown(
                    f"![training and validation loss](data:image/png;base64,{png})"
                ),
                "loss_curve_png": model.loss_curve,
                "adapter": model.adapter_dir,
            }
        )
    )
    yield dg.AssetCheckResult(
        check_name="adapter_beats_base",
        passed=model.beats_base,
        severity=dg.AssetCheckSeverity.WARN,
        description=meta["verdict"],
        metadata=metadata(
            {
                k: meta[k]
                for k in ("heldout_ppl_base", "heldout_ppl_adapter", "heldout_ppl_reduction")
                if k in meta
            }
        ),
    )
