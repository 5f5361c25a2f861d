"""REER trace mining: the reasoning trajectory behind each top post."""

import dagster as dg

from reer_pipeline.assets.config import domain_config, run_config
from reer_pipeline.assets.ingest import top_posts
from reer_pipeline.assets.metadata import metadata
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.ingest.warehouse import read_top_posts
from reer_pipeline.reer.report import MiningRun, mine_account
from reer_pipeline.reer.search import SearchConfig
from reer_pipeline.resources.lm import LMRegistryResource
from reer_pipeline.resources.warehouse import Warehouse


class ReerTracesConfig(run_config(SearchConfig, MiningRun, exclude=("proposer_uri", "scorer_uri"))):
    """The search's knobs (`SearchConfig`, after the paper) and this run's budget (`MiningRun`);
    the models come from the `reer_lm` and `scorer_lm` roles."""


@dg.asset(
    deps=[top_posts],
    partitions_def=account_partitions,
    group_name="mining",
    kinds={"python", "json"},
    pool="lm",
    check_specs=[
        dg.AssetCheckSpec("no_trace_got_worse", asset="reer_traces", blocking=True),
        dg.AssetCheckSpec("improved_share", asset="reer_traces"),
    ],
)
def reer_traces(
    context: dg.AssetExecutionContext,
    config: ReerTracesConfig,
    warehouse: Warehouse,
    language_models: LMRegistryResource,
):
    """Append-only JSONL of REER trajectories, mined only for the account's top posts that have
    no trace yet under this search config."""
    account = account_of(context)
    proposer = language_models.get("reer_lm")
    scorer = language_models.get("scorer_lm")
    with warehouse.get_connection(read_only=True) as con:
        posts = read_top_posts(con, account.platform, account.author)
    run = domain_config(config, MiningRun)
    summary = mine_account(
        account,
        posts,
        traces_root=warehouse.storage.layout.traces,
        proposer=proposer,
        scorer=scorer,
        search=domain_config(
            config, SearchConfig, proposer_uri=proposer.uri, scorer_uri=scorer.uri
        ),
        run=run,
        log=context.log.info,
    )
    yield dg.MaterializeResult(metadata=metadata(summary) | language_models.usage_metadata())
    yield dg.AssetCheckResult(
        check_name="no_trace_got_worse",
        passed=summary["worse"] == 0,
        metadata={"traces": summary["scored"], "worse": summary["worse"]},
    )
    yield dg.AssetCheckResult(
        check_name="improved_share",
        passed=summary["improved_share"] >= run.min_improved_share,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{summary['improved']} of {summary['scored']} traces lowered their score",
        metadata={"improved_share": summary["improved_share"], "floor": run.min_improved_share},
    )
