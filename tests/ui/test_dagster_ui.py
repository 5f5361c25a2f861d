"""The Dagster UI in a real browser: find the assets, launch the ingest job, read the result.

With `REER_SCREENSHOT_DIR` set (e.g. `docs`, relative to the project root), the test also saves
the global asset lineage as `asset-graph.png` there: the README's picture is made by this test.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from reer_pipeline.assets.ingest import partition_key
from reer_pipeline.assets.partitions import export_partitions
from reer_pipeline.definitions import defs
from tests.conftest import ROOT, SAMPLE, copy_export

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "tests" / "artifacts"
pytestmark = [
    pytest.mark.slow,  # starts `dagster dev` and a browser
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dagster_dev(data_root, tmp_path):
    """`dagster dev` on 127.0.0.1 with a temporary DAGSTER_HOME, stopped afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    # the project's instance config, without Dagster's community pop-up: it opens over the
    # launch dialog at an unpredictable moment and intercepts clicks
    config = (ROOT / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(config + "\nnux:\n  enabled: false\n")
    export = copy_export(SAMPLE, data_root)
    env = os.environ | {"DAGSTER_HOME": str(home), "REER_DATA_DIR": str(data_root)}
    port = free_port()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(export_partitions.name, [partition_key(export)])
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.Popen(
        [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "dagster_dev.log").open("w"),  # read back when the test fails
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(url + "/server_info", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("dagster dev did not come up") from None
                time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_materialize_ingest_from_the_ui(dagster_dev, tmp_path, sample_facts):
    from playwright.sync_api import expect, sync_playwright

    asset_names = [key.to_user_string() for key in defs.resolve_all_asset_keys()]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            page.goto(dagster_dev + "/assets")  # the catalog lists every asset by name
            for name in asset_names:
                expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=60_000)

            page.goto(dagster_dev + "/locations/reer_pipeline/jobs/ingest")
            launch = page.get_by_role("button", name="Materialize all…")
            launch.wait_for(timeout=60_000)
            launch.click()
            page.get_by_role("button", name="All", exact=True).click()
            # the dialog relabels its button while the partitions load: click it once it is
            # ready, and wait for the dialog itself (not the button's label) to close
            dialog = page.get_by_role("dialog")
            launch_run = dialog.get_by_role("button", name="Launch 1 run", exact=True)
            expect(launch_run).to_be_enabled(timeout=60_000)
            page.wait_for_timeout(1000)
            launch_run.click()
            expect(dialog).to_have_count(0, timeout=60_000)

            # the runs page polls by itself; reloading it on a busy machine can cut every load
            page.goto(dagster_dev + "/runs")
            try:
                expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=600_000)
            except AssertionError as error:
                log = (tmp_path / "dagster_dev.log").read_text(errors="replace")[-4000:]
                message = f"no successful run listed; dagster dev's log ends:\n{log}"
                raise AssertionError(message) from error

            page.goto(dagster_dev + "/assets/posts")
            row_count = page.get_by_text("Row count").locator("xpath=following-sibling::*[1]")
            expect(row_count).to_have_text(f"{sample_facts.posts:,}", timeout=60_000)

            # ingest registered the account: its partition shows on every per-account asset
            page.goto(dagster_dev + "/assets/reer_traces?view=partitions")
            expect(page.get_by_text(sample_facts.account).first).to_be_visible(timeout=60_000)

            if os.environ.get("REER_SCREENSHOT_DIR"):
                save_asset_graph(page, dagster_dev, asset_names)
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "ui_posts.png"), full_page=True)
            browser.close()


def save_asset_graph(page, url: str, asset_names: list[str]) -> None:
    """The global asset lineage, every group expanded, as `$REER_SCREENSHOT_DIR/asset-graph.png`."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1600, "height": 800})
    page.goto(url + "/asset-groups")
    settings = page.get_by_role("button", name="settings").last  # the graph's own menu
    settings.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)  # the menu lists "Expand" only once the groups are known
    settings.click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.get_by_role("button", name="Hide navigation").click()
    page.reload()  # the graph fits itself to the window when it loads, expanded now
    for name in asset_names:
        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=60_000)
    page.wait_for_timeout(2000)  # the graph animates into place after the nodes appear
    folder = ROOT / os.environ["REER_SCREENSHOT_DIR"]
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "asset-graph.png"))
