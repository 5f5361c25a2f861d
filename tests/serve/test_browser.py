"""The desk in a real browser (Playwright driving Debian's chromium): approve; edit, watch the
live re-score, approve; reject with a reason; each decision in the `reviews` asset after its
run; the hostile draft is text and runs nothing; without the token a non-loopback server
refuses, and signing in lets the person in.

The drafts are real: the `engagement_model` and the drafting job (`candidates`,
`candidate_scores`) run on the sample with the embedded model and tiny budgets first. With
`REER_SCREENSHOT_DIR` set (e.g. `docs`), the desk and the account page are saved there as
`desk.png` and `account.png`.
"""

import os
import shutil
import signal

import dagster as dg
import pytest

from reer_pipeline.definitions import defs
from reer_pipeline.serve.app import create_app
from reer_pipeline.serve.desk import draft_entry
from reer_pipeline.serve.security import TOKEN_ENV
from tests.conftest import ROOT
from tests.serve.conftest import ACCOUNT, HOSTILE, Server, free_port
from tests.serve.test_live import serve
from tests.serve.test_reviews import materialize_reviews, reviews_table

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "tests" / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
pytestmark = [
    pytest.mark.slow,  # a server, a browser and (for the live re-score) the embedded model
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed"),
]


DRAFTING = {
    "ops": {
        "candidates": {
            "config": {"max_topics": 2, "n_angles": 2, "max_tokens": 64, "min_usable_rate": 0.0}
        }
    }
}


@pytest.fixture
def drafted(desk_root, model_env):
    """The sample's engagement model and real drafts with their scores, from Dagster runs."""
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("accounts", [ACCOUNT.key])
        for job, selection, config in (
            ("mining", [dg.AssetKey("engagement_model")], {}),
            ("drafting", None, DRAFTING),
        ):
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance,
                partition_key=ACCOUNT.key,
                run_config=config,
                asset_selection=selection,
            )
            assert result.success, job
    return desk_root


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


def test_approve_edit_reject_in_the_browser(layout, drafted, browser):
    from playwright.sync_api import expect

    app = create_app(layout)
    desk = app.state.desk
    topic = "health care"  # the hostile draft, kept as if drafted here, with its real score
    desk.keep(
        ACCOUNT,
        draft_entry(
            ACCOUNT,
            {"topic": topic, "text": HOSTILE},
            desk.score(ACCOUNT, HOSTILE, topic)["scores"],
            {},
            {},
        ),
    )
    with Server(app) as server:
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{server.url}/accounts/{ACCOUNT.key}")
        summary = page.locator("p.summary")
        expect(summary).to_contain_text("approved 0, rejected 0")
        assert page.locator("article.draft").count() >= 3
        expect(page.locator("article.draft").first.locator(".facts")).not_to_contain_text(
            "not scored"
        )

        # the hostile draft is shown as its text; no element or script of it exists
        expect(page.locator("p.text", has_text="onerror=alert(1)")).to_have_text(HOSTILE)
        assert page.locator("article img, article script").count() == 0

        cards = page.locator("article.draft")
        approved = cards.nth(0).get_attribute("data-draft")
        cards.nth(0).get_by_role("button", name="Approve").click()
        expect(summary).to_contain_text("approved 1, rejected 0")

        card = page.locator("article.draft").nth(0)
        edited_id = card.get_attribute("data-draft")
        edited = "Health care for working families: affordable, close to home, and theirs."
        card.locator("textarea").fill(edited)
        expect(card.locator(".live-chars")).to_have_text(str(len(edited)))
        expect(card.locator(".live-score")).to_contain_text("total", timeout=300_000)
        expect(card.locator(".live-score")).to_contain_text("fluency")
        if os.environ.get("REER_SCREENSHOT_DIR"):
            folder = ROOT / os.environ["REER_SCREENSHOT_DIR"]
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / "desk.png"))
        card.get_by_role("button", name="Approve").click()
        expect(summary).to_contain_text("approved 2, rejected 0", timeout=300_000)

        card = page.locator("article.draft").nth(0)
        rejected = card.get_attribute("data-draft")
        card.locator("select[name=reason]").select_option(label="off topic")
        card.locator("input[name=note]").fill("about something else")
        card.get_by_role("button", name="Reject").click()
        expect(summary).to_contain_text("approved 2, rejected 1")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "desk.png"), full_page=True)
        assert dialogs == []

        page.goto(f"{server.url}/accounts/{ACCOUNT.key}/about")
        expect(page.locator("img[alt^=predicted]")).to_be_visible()  # the engagement plot
        expect(page.get_by_text("approved 2, rejected 1")).to_be_visible()
        if os.environ.get("REER_SCREENSHOT_DIR"):
            page.screenshot(path=str(ROOT / os.environ["REER_SCREENSHOT_DIR"] / "account.png"))

    with dg.instance_for_test() as instance:
        assert materialize_reviews(instance).success
    rows = {r[0]: r for r in reviews_table(drafted)}
    assert rows[approved][1:4] == ("approved", None, False)
    assert rows[edited_id][1:4] == ("approved", None, True) and rows[edited_id][5] == edited
    assert rows[rejected][1:3] == ("rejected", "off_topic")


def test_a_non_loopback_server_refuses_without_the_token(desk_root, browser):
    from playwright.sync_api import expect

    token = "a-long-random-token-for-this-test"
    port = free_port()
    proc = serve(desk_root, port, "--host", "0.0.0.0", env={TOKEN_ENV: token})
    try:
        page = browser.new_page()
        url = f"http://127.0.0.1:{port}"
        response = page.goto(f"{url}/accounts/{ACCOUNT.key}")
        assert response.status == 401
        assert TOKEN_ENV in page.content() and token not in page.content()
        page.goto(f"{url}/login")
        page.locator("input[name=token]").fill("not-the-token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("p.bad")).to_have_text("That is not the token.")
        page.locator("input[name=token]").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name=ACCOUNT.key).click()
        expect(page.locator("p.summary")).to_contain_text("drafts waiting")
        assert token not in page.content()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
