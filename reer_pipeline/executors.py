"""The executor for every job, chosen by configuration: `REER_EXECUTOR` (see deploy/README.md).

- `multiprocess` (default): Dagster's default executor. Launched runs put each step in its own
  process on this machine; `execute_in_process` runs in process.
- `in_process`: every step in the run's own process.
- `celery`: `dagster_celery.celery_executor`, steps go through a Celery broker to workers started
  with `dagster-celery worker start` (deploy/celery/). Broker and result backend come from
  `REER_CELERY_BROKER` and `REER_CELERY_BACKEND` (default: the broker URL). They are given to
  Dagster as `env:` references, resolved when a run starts, so a URL with a password never lands
  in a job snapshot or in run config.
- `k8s`: `dagster_k8s.k8s_job_executor`, one Kubernetes Job per step; only for runs that the
  `K8sRunLauncher` starts (deploy/k8s/).

dagster-celery and dagster-k8s are imported only when they are chosen.
"""

import os
from collections.abc import Mapping

import dagster as dg

EXECUTOR_ENV = "REER_EXECUTOR"
BROKER_ENV = "REER_CELERY_BROKER"
BACKEND_ENV = "REER_CELERY_BACKEND"
CHOICES = ("multiprocess", "in_process", "celery", "k8s")


def executor_from_env(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition | None:
    """The executor `REER_EXECUTOR` names, or None for Dagster's default (multiprocess)."""
    env = os.environ if environ is None else environ
    choice = env.get(EXECUTOR_ENV, "").strip().lower() or "multiprocess"
    if choice == "multiprocess":
        return None
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "celery":
        return celery_executor_from_env(env)
    if choice == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as exc:
            raise ImportError(
                f"{EXECUTOR_ENV}=k8s needs the dagster-k8s package: pip install dagster-k8s"
            ) from exc
        return k8s_job_executor
    raise ValueError(f"{EXECUTOR_ENV}={choice!r} is not one of: {', '.join(CHOICES)}")


def celery_executor_from_env(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """dagster-celery's executor, pointed at the broker and backend named by the environment."""
    env = os.environ if environ is None else environ
    if not env.get(BROKER_ENV):
        raise ValueError(
            f"{EXECUTOR_ENV}=celery needs {BROKER_ENV}, the Celery broker URL "
            "(e.g. redis://127.0.0.1:6379/0)"
        )
    try:
        from dagster_celery import celery_executor
    except ImportError as exc:
        raise ImportError(
            f"{EXECUTOR_ENV}=celery needs the dagster-celery package: "
            "pip install 'dagster-celery[redis]'"
        ) from exc
    backend = BACKEND_ENV if env.get(BACKEND_ENV) else BROKER_ENV
    return celery_executor.configured(
        {"broker": {"env": BROKER_ENV}, "backend": {"env": backend}},
        name="celery",
    )
