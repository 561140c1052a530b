"""The transcript viewer in headless Chromium: the run list, a filtered run page and a
transcript page, served by uvicorn; screenshots of each land in pytest's tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from viewer_runs import SCRIPT, make_run, viewer_app
from web_support import launch_chromium, live_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The viewer app on a free local port, in a background thread; yields its base URL."""
    root = tmp_path / "runs"
    make_run(root)
    with live_server(viewer_app(root)) as base:
        yield base


def test_browse_a_run_in_chromium(server: str, tmp_path: Path) -> None:
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        dialogs: list[str] = []
        blocked: list[str] = []  # anything the pages' Content-Security-Policy refused
        failed: list[str] = []  # responses with an error status
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: blocked.append(m.text) if "Security" in m.text else None)
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)

        page.goto(f"{server}/runs/")
        expect(page.locator("h1")).to_have_text("Runs")
        page.screenshot(path=tmp_path / "viewer-runs.png", full_page=True)
        page.get_by_role("link", name="run-a").click()

        # filter with the form, as a person would
        expect(page.locator("#matches")).to_contain_text("16 matching transcripts")
        page.select_option("select[name=outcome]", "judge_wrong")
        page.select_option("select[name=arm]", "planted")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("#matches")).to_contain_text("2 matching transcripts")
        rows = page.locator("#transcripts tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("planted/missed")
        page.screenshot(path=tmp_path / "viewer-filtered.png", full_page=True)

        # search, then open the transcript the critic wrote a script tag into
        page.fill("input[name=q]", "zebra")
        page.select_option("select[name=outcome]", "")
        page.get_by_role("button", name="Show").click()
        expect(rows).to_have_count(1)
        page.get_by_role("link", name="planted/caught").click()
        expect(page.locator("h1")).to_have_text("planted/caught")
        expect(page.locator("#messages pre").first).to_have_text(SCRIPT)  # shown as text
        expect(page.locator("#checks tbody tr")).to_have_count(2)
        expect(page.locator("#diff tr.claimed")).to_have_count(1)
        removed = page.locator("#diff tr.del").first
        expect(removed).to_have_css("background-color", "rgb(253, 231, 233)")  # styled
        expect(page.locator("#outcome")).to_have_text("caught")
        page.screenshot(path=tmp_path / "viewer-transcript.png", full_page=True)
        browser.close()
    assert dialogs == []  # the planted script never ran
    assert blocked == [] and all(url.endswith("/favicon.ico") for url in failed)
    for name in ("viewer-runs", "viewer-filtered", "viewer-transcript"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
