"""reer_pipeline.executors: the executor REER_EXECUTOR names; optional packages load lazily."""

import os
import subprocess
import sys
import textwrap

import dagster as dg
import pytest

from reer_pipeline.executors import executor_from_env
from tests.conftest import ROOT


def test_default_is_dagsters_own():
    assert executor_from_env({}) is None
    assert executor_from_env({"REER_EXECUTOR": "multiprocess"}) is None
    assert executor_from_env({"REER_EXECUTOR": " In_Process "}) is dg.in_process_executor


def test_unknown_choice_is_refused():
    with pytest.raises(ValueError, match="not one of: multiprocess, in_process, celery, k8s"):
        executor_from_env({"REER_EXECUTOR": "dask"})


def test_celery_needs_a_broker():
    with pytest.raises(ValueError, match="REER_CELERY_BROKER"):
        executor_from_env({"REER_EXECUTOR": "celery"})


def test_celery_broker_and_backend_are_read_when_a_run_starts(monkeypatch):
    pytest.importorskip("dagster_celery", reason="dagster-celery is not installed")
    monkeypatch.setenv("REER_CELERY_BROKER", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("REER_CELERY_BACKEND", raising=False)
    celery = executor_from_env({"REER_EXECUTOR": "celery", **os.environ})
    assert celery.name == "celery"
    resolved = celery.config_schema.resolve_config({}).value["config"]
    assert resolved["broker"] == resolved["backend"] == "redis://127.0.0.1:1/0"
    # env: references, not values: a later change of the environment is what a run sees.
    monkeypatch.setenv("REER_CELERY_BROKER", "redis://127.0.0.1:2/0")
    monkeypatch.setenv("REER_CELERY_BACKEND", "redis://127.0.0.1:2/1")
    resolved = celery.config_schema.resolve_config({}).value["config"]
    assert resolved["broker"] == "redis://127.0.0.1:2/0"
    with_backend = executor_from_env({"REER_EXECUTOR": "celery", **os.environ})
    assert with_backend.config_schema.resolve_config({}).value["config"]["backend"].endswith("/1")


def test_k8s_executor():
    pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed")
    assert executor_from_env({"REER_EXECUTOR": "k8s"}).name == "k8s"


def test_optional_packages_are_imported_only_when_chosen():
    script = textwrap.dedent(
        """
        import sys
        from reer_pipeline.executors import executor_from_env
        assert executor_from_env({}) is None
        print(sorted(m for m in ("dagster_celery", "celery", "dagster_k8s") if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
