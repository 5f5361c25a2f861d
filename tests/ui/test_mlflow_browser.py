"""The MLflow UI in a real browser: the engagement_model (no language model: the page is what
is tested; the author_adapter's run is checked in tests/dagster/test_author.py) is materialized
with its run in a local store under a temporary data root, `mlflow server` serves that store on
127.0.0.1, and the run's page shows its metrics and parameters. Every request the page makes
stays on 127.0.0.1 (nothing from a CDN)."""

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

from reer_pipeline.tracking import local_store
from tests.conftest import SAMPLE, copy_export
from tests.dagster.test_ingest_assets import ingest
from tests.test_tracking import ACCOUNT, engagement
from tests.ui.test_dagster_ui import ARTIFACTS, CHROMIUM, free_port

pytestmark = [
    pytest.mark.slow,  # starts `mlflow server` and a browser
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


def test_the_engagement_model_run_page_shows_its_metrics(data_root, mlflow_server, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("REER_MLFLOW_UI_URL", mlflow_server)  # the run link points at this server
    with dg.instance_for_test() as instance:
        assert ingest(instance, copy_export(SAMPLE, data_root))[0].success
        result = engagement(instance)
    meta = result.asset_materializations_for_node("engagement_model")[0].metadata
    link = meta["mlflow_run"].value
    assert link.startswith(mlflow_server + "/#/experiments/")
    n_test = meta["n_test"].value

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
            expect(page.get_by_text(f"engagement_model {ACCOUNT}").first).to_be_visible(
                timeout=120_000
            )
            metric = page.get_by_text("n_test", exact=True).first
            expect(metric).to_be_visible(timeout=60_000)
            expect(page.get_by_text(str(n_test), exact=True).first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("test_fraction", exact=True).first).to_be_visible()
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "mlflow_run.png"), full_page=True)
            browser.close()
    assert outside == [], f"the MLflow UI asked for {outside}"
