"""The MLflow UI in a real browser: a tiny author_adapter is materialized with its run in a local
store under a temporary data root, `mlflow server` serves that store on 127.0.0.1, and the run's
page shows its metrics. Every request the page makes stays on 127.0.0.1 (nothing from a CDN)."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pytest

from reer_pipeline.definitions import defs
from reer_pipeline.tracking import local_store
from tests.conftest import SAMPLE, copy_export
from tests.dagster.test_author import ACCOUNT, TINY
from tests.dagster.test_ingest_assets import ingest
from tests.ui.test_dagster_ui import ARTIFACTS, CHROMIUM, free_port

pytestmark = [
    pytest.mark.slow,  # trains a model, starts `mlflow server` and a browser
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed"),
    pytest.mark.usefixtures("tracking_on"),  # off elsewhere (tests/conftest.py)
]


@pytest.fixture
def mlflow_server(data_root, tmp_path):
    """`mlflow server` on 127.0.0.1 over the data root's store, stopped (its whole process
    group) afterwards."""
    uri, artifacts = local_store(data_root)
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    log = tmp_path / "mlflow_server.log"
    proc = subprocess.Popen(
        [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        + ["--backend-store-uri", uri, "--default-artifact-root", str(artifacts)],
        env=os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        f"mlflow server did not come up:\n{log.read_text()}"
                    ) from None
                time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_the_author_adapter_run_page_shows_its_metrics(data_root, mlflow_server, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("REER_MLFLOW_UI_URL", mlflow_server)  # the run link points at this server
    with dg.instance_for_test() as instance:
        assert ingest(instance, copy_export(SAMPLE, data_root))[0].success
        result = defs.resolve_job_def("author_model").execute_in_process(
            instance=instance,
            partition_key=ACCOUNT,
            run_config={"ops": {"author_adapter": {"config": TINY}}},
        )
    meta = result.asset_materializations_for_node("author_adapter")[0].metadata
    link = meta["mlflow_run"].value
    assert link.startswith(mlflow_server + "/#/experiments/")
    ppl = meta["heldout_ppl_adapter"].value["ppl"]

    outside = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def only_loopback(route):
            host = urlparse(route.request.url).hostname
            if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_loopback)
        try:
            page.goto(link)
            expect(page.get_by_text(f"author_adapter {ACCOUNT}").first).to_be_visible(
                timeout=120_000
            )
            metric = page.get_by_text("heldout_ppl_adapter.ppl", exact=True).first
            expect(metric).to_be_visible(timeout=60_000)
            expect(page.get_by_text(f"{ppl:.4g}"[:5]).first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("max_steps", exact=True).first).to_be_visible()
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "mlflow_run.png"), full_page=True)
            browser.close()
    assert outside == [], f"the MLflow UI asked for {outside}"
