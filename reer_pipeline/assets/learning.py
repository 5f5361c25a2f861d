"""Learning from the person's decisions: the preference model per account, and the `learn` job
its sensor starts once enough new decisions arrived."""

import json

import dagster as dg

from reer_pipeline.assets.metadata import metadata
from reer_pipeline.assets.partitions import account_of, account_partitions
from reer_pipeline.assets.reviews import reviews
from reer_pipeline.files import write_json
from reer_pipeline.jobs import group_job
from reer_pipeline.learn import retrainings
from reer_pipeline.learn.decisions import read_decisions
from reer_pipeline.learn.preference import evaluate
from reer_pipeline.platforms import Account
from reer_pipeline.resources.storage import Storage
from reer_pipeline.resources.warehouse import Warehouse
from reer_pipeline.serve.store import ReviewStore, log_path

MIN_NEW_DECISIONS = 20  # the sensor's default: retrain after this many new decisions


class LearningSettings(dg.ConfigurableResource):
    """When the `learn` job runs: after `min_new_decisions` new decisions of an account."""

    min_new_decisions: int = MIN_NEW_DECISIONS


def _auc(report: dict, key: str) -> str:
    a = report[key]
    return f"{a['estimate']:.3f} [{a['low']:.3f}, {a['high']:.3f}]"


@dg.asset(
    deps=[reviews],
    partitions_def=account_partitions,
    group_name="learning",
    kinds={"scikitlearn"},
    check_specs=[dg.AssetCheckSpec("preference_beats_total", asset="preference_model")],
)
def preference_model(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Would this person approve this draft? Trained on the account's earlier decisions, judged
    on the later ones by ROC AUC against the scorer's total (`learn.preference`). Saved, and so
    a scorer component, only where the total with it beats the total alone; else removed."""
    account = account_of(context)
    path = warehouse.storage.layout.account(account).preference_model
    with warehouse.get_connection(read_only=True) as con:
        decisions = read_decisions(con, account)
    try:
        result = evaluate(decisions)
    except ValueError as e:
        path.unlink(missing_ok=True)
        context.log.info(f"{account}: no preference model ({e})")
        yield dg.MaterializeResult(metadata={"adopted": False, "why_not": str(e)})
        yield dg.AssetCheckResult(
            check_name="preference_beats_total", passed=False, description=str(e)
        )
        return
    report = result["report"]
    if report["adopted"]:
        result["model"].save(path)
    else:
        path.unlink(missing_ok=True)
    write_json(path.with_suffix(".json"), report)
    used = (
        "a scorer component (its total beat the plain total on later decisions)"
        if report["adopted"]
        else "not used: the total with it did not beat the plain total on later decisions"
    )
    context.log.info(f"{account}: preference model {used}")
    retrainings.record(
        warehouse.storage.layout.root,
        account,
        "preference model",
        used=report["adopted"],
        note=used,
    )
    yield dg.MaterializeResult(
        metadata=metadata(
            report
            | {
                "scorer_component": used,
                "summary": f"AUC total {_auc(report, 'auc_total')}, with preference "
                f"{_auc(report, 'auc_total_with_preference')}",
                "report": path.with_suffix(".json"),
            }
        )
    )
    yield dg.AssetCheckResult(
        check_name="preference_beats_total",
        passed=report["adopted"],
        severity=dg.AssetCheckSeverity.WARN,
        description=used,
    )


learn_job = group_job(
    "learn",
    ["review", "learning"],
    "For one account: the desk's decisions -> reviews -> its preference model.",
)


@dg.sensor(
    job=learn_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs `learn` for each account with at least `min_new_decisions` (the "
    "`learning` resource) new decisions since its last run.",
)
def learn_sensor(context: dg.SensorEvaluationContext, storage: Storage, learning: LearningSettings):
    path = log_path(storage.layout.root)
    if not path.exists():
        return dg.SkipReason(f"no review log at {path} yet (`reer serve` writes it)")
    learned = json.loads(context.cursor) if context.cursor else {}
    store = ReviewStore(path)
    known = set(context.instance.get_dynamic_partitions(account_partitions.name))
    due = {}
    for key, newest in sorted(store.newest().items()):
        if key in known:
            new = len(store.decisions(Account.parse(key), after=learned.get(key, 0)))
            if new >= learning.min_new_decisions:
                due[key] = newest
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(partition_key=a, run_key=f"learn:{a}@{s}") for a, s in due.items()
        ],
        cursor=json.dumps(learned | due),
    )
