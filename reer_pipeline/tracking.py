"""MLflow tracking: one run per tuning, training, engagement model or benchmark.

By default a local store under the data root: `sqlite:///<root>/mlflow.db`, artifacts in
`<root>/mlartifacts`; any tracking URI by setting. A run is recorded after the work is done, from
its report and files, so tracking can never change a result. A tracking failure is logged once
per `Tracker` and never raised: the caller goes on without a run.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_EXPERIMENT = "reer_pipeline"
DEFAULT_UI = "http://127.0.0.1:5000"  # `make mlflow`
OFF = {"0", "off", "false", "no"}
MAX_PARAM = 6000  # MLflow's longest param value


@dataclass(frozen=True)
class TrackingSettings:
    enabled: bool = True
    uri: str = ""  # "": the local store under the data root
    experiment: str = DEFAULT_EXPERIMENT
    ui_url: str = ""  # where run links point; "": the server itself for http(s), else DEFAULT_UI

    @classmethod
    def from_env(cls) -> TrackingSettings:
        """`REER_TRACKING` (off: 0, off, false, no), `REER_TRACKING_URI` or
        `MLFLOW_TRACKING_URI`, `REER_TRACKING_EXPERIMENT`, `REER_MLFLOW_UI_URL`."""
        env = os.environ.get
        return cls(
            enabled=env("REER_TRACKING", "on").strip().lower() not in OFF,
            uri=env("REER_TRACKING_URI") or env("MLFLOW_TRACKING_URI") or "",
            experiment=env("REER_TRACKING_EXPERIMENT") or DEFAULT_EXPERIMENT,
            ui_url=env("REER_MLFLOW_UI_URL") or "",
        )


def local_store(root: Path) -> tuple[str, Path]:
    """The default store under the data root: its tracking URI and its artifacts folder."""
    root = Path(root).resolve()
    return f"sqlite:///{root / 'mlflow.db'}", root / "mlartifacts"


@dataclass
class Record:
    """What one run holds: its name, tags, params, final metrics, metric series
    (`name -> [(step, value)]`), files or folders, texts (`file name -> text`) and, optionally,
    a DSPy program logged with the `mlflow.dspy` flavor."""

    name: str
    tags: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    program: Path | None = None


def flatten(values: dict, prefix: str = "") -> dict:
    """Nested dicts as one level of `a.b` keys; lists and other values are kept as they are."""
    out = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


def numbers(values: dict) -> dict[str, float]:
    """The finite numbers (and booleans, as 0 or 1) of `values`, flattened."""
    out = {}
    for key, value in flatten(values).items():
        if isinstance(value, bool | int | float) and math.isfinite(float(value)):
            out[_key(key)] = float(value)
    return out


def _key(name: str) -> str:
    return re.sub(r"[^\w\-. /:]", "_", str(name))[:250]


def run_url(ui: str, experiment_id: str, run_id: str) -> str:
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


_fluent = threading.Lock()  # mlflow's fluent API (the dspy flavor) keeps a global tracking URI


class Tracker:
    """Records runs in one MLflow store. `log(make, *args)` builds the record with `make(*args)`
    (only when tracking is on) and returns the run page's URL, or None when tracking is off or
    failed; the first failure is reported through `warn`, later ones are not."""

    def __init__(
        self,
        settings: TrackingSettings,
        root: Path,
        warn: Callable[[str], None] = print,
        tags: dict | None = None,
    ):
        self.settings, self.warn, self.tags = settings, warn, dict(tags or {})
        self.uri, artifacts = local_store(root)
        self.artifacts: Path | None = None if settings.uri else artifacts
        self.uri = settings.uri or self.uri
        self.failed = False

    @property
    def ui(self) -> str:
        if self.settings.ui_url:
            return self.settings.ui_url
        return self.uri if self.uri.startswith(("http://", "https://")) else DEFAULT_UI

    def log(self, make: Callable[..., Record], *args) -> str | None:
        if not self.settings.enabled or self.failed:
            return None
        try:
            return self._log(make(*args))
        except Exception as e:  # noqa: BLE001 - tracking must never fail the caller
            self.failed = True
            line = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            self.warn(f"MLflow tracking to {self.uri} failed, this run is not tracked: {line}")
            return None

    def _log(self, record: Record) -> str:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # nothing leaves the machine
        import mlflow
        from mlflow.entities import Metric, Param

        # MLflow gives every metric the thread's active model (loading or logging a model sets
        # it); a model of another store would break this store's foreign keys.
        mlflow.clear_active_model()
        client = mlflow.MlflowClient(self.uri)
        experiment_id = self._experiment(client)
        tags = {_key(k): str(v)[:MAX_PARAM] for k, v in (self.tags | record.tags).items()}
        run = client.create_run(experiment_id, run_name=record.name, tags=tags)
        run_id = run.info.run_id
        try:
            params = [
                Param(_key(k), _param(v))
                for k, v in flatten(record.params).items()
                if v is not None
            ]
            metrics = [Metric(k, v, 0, 0) for k, v in numbers(record.metrics).items()]
            for name, points in record.series.items():
                metrics += [
                    Metric(_key(name), float(v), 0, int(step))
                    for step, v in points
                    if v is not None and math.isfinite(float(v))
                ]
            for i in range(0, len(params), 100):
                client.log_batch(run_id, params=params[i : i + 100])
            for i in range(0, len(metrics), 1000):
                client.log_batch(run_id, metrics=metrics[i : i + 1000])
            for path in map(Path, record.artifacts):
                if path.is_dir():
                    client.log_artifacts(run_id, str(path), artifact_path=path.name)
                elif path.is_file():
                    client.log_artifact(run_id, str(path))
            for name, text in record.texts.items():
                client.log_text(run_id, text, name)
            if record.program is not None:
                self._log_program(mlflow, run_id, record.program)
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")
        return run_url(self.ui, experiment_id, run_id)

    def _experiment(self, client) -> str:
        """The experiment's id, created (with its artifacts under the data root for the local
        store) on first use; a file lock keeps two processes from creating the store at once."""
        from filelock import FileLock

        name = self.settings.experiment
        if self.artifacts is None:
            found = client.get_experiment_by_name(name)
            return found.experiment_id if found else client.create_experiment(name)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.artifacts.parent / "mlflow.db.lock")):
            found = client.get_experiment_by_name(name)
            if found:
                return found.experiment_id
            return client.create_experiment(name, artifact_location=self.artifacts.as_uri())

    def _log_program(self, mlflow, run_id: str, path: Path) -> None:
        """The program with the `mlflow.dspy` flavor (loadable by `mlflow.dspy.load_model`)."""
        from reer_pipeline.program.modules import load_program

        program = load_program(path)
        with _fluent:
            from mlflow.tracking._tracking_service import utils

            # MLflow's fluent state: the tracking URI (also put in the environment) and the
            # active model log_model sets; both restored, or later runs go to the wrong store
            before, env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
            mlflow.set_tracking_uri(self.uri)
            try:
                with mlflow.start_run(run_id=run_id, log_system_metrics=False):
                    mlflow.dspy.log_model(
                        program,
                        name="program",
                        pip_requirements=["dspy>=3.4", "reer_pipeline"],
                    )
            finally:
                mlflow.clear_active_model()
                mlflow.set_tracking_uri(before)
                if env is None:
                    os.environ.pop("MLFLOW_TRACKING_URI", None)
                else:
                    os.environ["MLFLOW_TRACKING_URI"] = env


def _param(value) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:MAX_PARAM]


def files_in(folder: Path, names: Iterable[str]) -> list[Path]:
    """The named files of `folder` that exist."""
    return [Path(folder) / n for n in names if (Path(folder) / n).is_file()]


# What each asset records: built from the report the asset already has.


def tuning_record(account, optimizer: str, config: dict, report: dict, folder: Path) -> Record:
    """A `tuned_program` run: config and budget, the validation score of each candidate (step:
    metric calls when found) and the best so far, the held-out evaluation with its interval, the
    saved files, and the program itself (`mlflow.dspy` flavor)."""
    curve = [(int(c), float(s)) for c, s in report.get("validation_points", [])]
    best, best_points = -math.inf, []
    for calls, score in curve:
        best = max(best, score)
        best_points.append((calls, best))
    params = config | {
        k: report.get(k) for k in ("optimizer", "run", "drafted_with", "model_choice")
    }
    params |= {"split_bounds": report.get("split_bounds"), "account": account.key}
    program = report.get("program")
    return Record(
        name=f"tuned_program {account.key} {optimizer}",
        tags={"asset": "tuned_program", "account": account.key, "optimizer": optimizer},
        params=params,
        metrics={k: v for k, v in report.items() if k not in ("validation_points",)},
        series={"validation_score": curve, "best_validation_score": best_points},
        artifacts=files_in(
            folder, ("program.json", "evaluation.json", "detailed_results.json", "validation.png")
        ),
        texts={"instructions.json": _json(report.get("instructions", {}))},
        program=Path(program) if program and Path(program).is_file() else None,
    )


def adapter_record(account, config: dict, model) -> Record:
    """An `author_adapter` run (`model`: finetune.AuthorModel): config, train and validation loss
    by step, held-out perplexity of base and adapter with the reduction's interval, and the
    adapter's files (peft weights, card, loss curve, evaluation)."""
    card = model.result.card
    return Record(
        name=f"author_adapter {account.key}",
        tags={"asset": "author_adapter", "account": account.key, "verdict": model.verdict},
        params=config
        | {"uri": model.uri, "run_key": card.get("run_key"), "split_sizes": card["data"]["sizes"]},
        metrics=model.metadata(),
        series={
            "train_loss": [tuple(p) for p in card.get("train_losses", [])],
            "val_loss": [tuple(p) for p in card.get("val_losses", [])],
        },
        artifacts=[model.adapter_dir],
    )


def engagement_record(account, config: dict, model, files: Iterable[Path]) -> Record:
    """An `engagement_model` run (`model`: scoring.EngagementModel): its figures, the report as
    Markdown and JSON, and the predicted-vs-actual plot and model file."""
    return Record(
        name=f"engagement_model {account.key}",
        tags={"asset": "engagement_model", "account": account.key},
        params=config,
        metrics=model.metadata(),
        artifacts=list(files),
        texts={"report.md": model.markdown(), "report.json": _json(model.report)},
    )


def evaluation_record(account, config: dict, report: dict, files: Iterable[Path]) -> Record:
    """An `evaluation` run: the systems, the judge, and per system its win rates with their
    intervals and Bradley-Terry ratings; position bias and agreements; the report and plot."""
    summary = report["summary"]
    return Record(
        name=f"evaluation {account.key}",
        tags={"asset": "evaluation", "account": account.key},
        params=config | {"judge": report["judge"], "systems_run": report["systems"]},
        metrics={k: v for k, v in summary.items() if k != "systems"}
        | {"systems": {r["system"]: r for r in summary["systems"]}},
        artifacts=list(files),
        texts={"table.md": str(report["table"])},
    )


def benchmark_record(name: str, params: dict, figures: dict, files: Iterable[Path] = ()) -> Record:
    """A benchmark run: its settings, every number among its figures, and its output files."""
    return Record(
        name=name,
        tags={"benchmark": name},
        params=params,
        metrics=figures,
        artifacts=list(files),
        texts={"figures.json": _json(figures)},
    )


def _json(value) -> str:
    return json.dumps(value, indent=2, default=str)


def track(make: Callable[..., Record], *args, root: Path, warn=print) -> str | None:
    """One run outside Dagster (benchmarks): settings from the environment
    (`TrackingSettings.from_env`), the local store under `root` by default."""
    return Tracker(TrackingSettings.from_env(), root, warn).log(make, *args)


def read_runs(root: Path, settings: TrackingSettings | None = None, where: str = ""):
    """`(client, runs)`: the experiment's runs, newest first (`where`: an MLflow filter string),
    for reading (the notebooks). `(None, [])`, and no store created, when the local store is
    absent."""
    import mlflow

    tracker = Tracker(settings or TrackingSettings.from_env(), root)
    if tracker.artifacts is not None and not (Path(root) / "mlflow.db").exists():
        return None, []  # a client would create the store
    client = mlflow.MlflowClient(tracker.uri)
    experiment = client.get_experiment_by_name(tracker.settings.experiment)
    if experiment is None:
        return client, []
    order = ["attributes.start_time DESC"]
    return client, client.search_runs([experiment.experiment_id], where, order_by=order)
