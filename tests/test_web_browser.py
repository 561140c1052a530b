"""The judging app in headless Chromium: an admin creates a study, two judges judge under two
arms (spending budget and checking the critic's claim), the admin reads results and exports."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from oversight.core.records import Transcript
from oversight.core.runs import RunStore
from oversight.web.app import create_app
from web_support import SECRET, launch_chromium, live_server, program_transcripts

DOCS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def budget_left(page: Page) -> int:
    return int(page.inner_text("#budget-left"))


def checked(page: Page, n: int) -> None:
    """Wait until the checks table shows ``n`` checks (checks are sent in the background)."""
    page.wait_for_selector(f"#checks tr:nth-child({n + 1})")


def judge_all(page: Page, link: str, shots: Path, name: str) -> int:
    """Judge every item behind ``link``; on the first, spend budget on own checks, and check
    that the page keeps its place and what was typed. Returns how many claims were checked."""
    page.goto(link)
    claims = 0
    first = True
    while page.locator("#verdict-form").count():
        assert "gold" not in page.content().lower()
        if first:
            before = budget_left(page)
            page.fill("#run-input", "7")
            page.evaluate("window.stayed = true")  # gone if the page reloads
            page.click("#run-both")
            checked(page, 1)
            assert page.evaluate("window.stayed === true")  # the judge keeps their place
            assert page.input_value("#run-input") == "7"  # and what they typed
            page.fill("#eval-input", "7")
            page.click("#eval-line")
            checked(page, 2)
            run_cost = int(page.inner_text("#run-both").split("costs ")[1].rstrip(")"))
            assert budget_left(page) == before - run_cost - 1
            assert "ran R and P on 7" in page.inner_text("#checks")
            assert "R line 0 on 7" in page.inner_text("#checks")
            page.wait_for_selector("html[data-keys=on]", state="attached")
            page.keyboard.press("r")  # the keys choose the verdict
            assert page.is_checked("input[name=decision][value=reject]")
            page.keyboard.press("a")
            assert page.is_checked("input[name=decision][value=accept]")
            first = False
        if page.locator("#check-claim-0").count():
            before = budget_left(page)
            n = page.locator("#checks tr").count() - 1 if page.locator("#checks").count() else 0
            page.click("#check-claim-0")
            checked(page, n + 1)
            assert budget_left(page) < before and "claim by critic" in page.inner_text("#checks")
            claims += 1
            page.screenshot(path=str(shots / f"{name}-assisted.png"), full_page=True)
        differ = page.locator("#checks").count() and "DIFFER" in page.inner_text("#checks")
        page.check(f"input[name=decision][value={'reject' if differ else 'accept'}]")
        page.select_option("#sure", "90")
        page.click("#submit-verdict")
    assert page.locator("#finished").count()
    return claims


def test_browser_study_end_to_end(tmp_path: Path):
    runs = tmp_path / "runs"
    transcripts: list[Transcript] = program_transcripts(2)
    RunStore(runs / "run-1").create("name: browser\n")
    RunStore(runs / "run-1").append(transcripts)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    app = create_app(tmp_path / "db.sqlite", SECRET, runs)
    with live_server(app) as base, sync_playwright() as p:
        browser = launch_chromium(p)
        admin = browser.new_context().new_page()
        admin.goto(f"{base}/admin")
        assert admin.url.endswith("/admin/login")
        admin.fill("input[name=secret]", SECRET)
        admin.click("button[type=submit]")
        admin.fill("input[name=name]", "browser study")
        admin.fill("input[name=source]", "run-1")
        admin.fill("textarea[name=arms]", "unassisted\nassisted = assisted")
        admin.fill("input[name=judges]", "2")
        admin.click("#new-study button[type=submit]")
        assert "4 items (0 catch trials)" in admin.content()
        admin.screenshot(path=str(shots / "study.png"), full_page=True)
        links = [a.get_attribute("href") for a in admin.locator("a.judge-link").all()]
        assert len(links) == 2
        claims = 0
        for i, link in enumerate(links):  # each judge in their own browser context
            judge = browser.new_context().new_page()
            if i == 0:
                judge.goto(str(link))
                judge.screenshot(path=str(shots / "judge.png"), full_page=True)
            claims += judge_all(judge, str(link), shots, f"judge-{i + 1}")
        assert claims == 4  # each item is shown assisted to exactly one judge
        admin.click("text=Results")
        table = admin.inner_text("#arms")
        assert "unassisted" in table and "assisted" in table and "(n=4)" in table
        admin.screenshot(path=str(shots / "results.png"), full_page=True)
        href = admin.locator("a", has_text="transcripts.jsonl").first.get_attribute("href")
        export = admin.request.get(f"{base}{href}")
        lines = [Transcript.model_validate_json(x) for x in export.text().splitlines()]
        assert len(lines) == 8 and sum(len(t.checks) > 0 for t in lines) >= 4
        if app.state.viewer:
            admin.goto(f"{base}/runs/")
            assert "run-1" in admin.content()
            admin.screenshot(path=str(shots / "viewer.png"), full_page=True)
        browser.close()
    DOCS.mkdir(parents=True, exist_ok=True)
    for shot in shots.glob("*.png"):
        shutil.copy(shot, DOCS / shot.name)


def test_text_judge_sees_what_the_protocols_judge_sees(tmp_path: Path):
    """A debate item in a browser: the question, the answers and the speeches, quotes marked
    verified or unverified; no sentence of the hidden story unless a debater quoted it
    verbatim; the verdict is an answer with a probability."""
    import json

    from fastapi.testclient import TestClient

    from oversight.core.records import Claim, Message
    from oversight.envs.text.env import displays
    from oversight.envs.text.stories import StoryConfig, generate_stories

    (item,) = generate_stories(StoryConfig(answers=2), 1)
    sentences = [s.strip() for s in item.source.split(". ") if len(s.strip()) > 12]
    quoted, invented = sentences[0], "The dragon ate the tower on Sunday"
    _, case = next(iter(displays("debate-sequential", item)))
    speeches = [
        Message(role="debater_a", text=f"Read this: <quote>{quoted}</quote>.",
                claim=Claim(author="llm:x")),
        Message(role="debater_b", round=0, text=f"No: <quote>{invented}</quote>",
                claim=Claim(author="llm:x")),
    ]  # fmt: skip
    t = Transcript(
        episode_id=f"debate/{case.artifact.id}",
        protocol="debate-sequential",
        arm="debate",
        problem=case.problem,
        artifact=case.artifact,
        messages=speeches,
        gold=case.gold,
    )
    app = create_app(tmp_path / "db.sqlite", SECRET)
    spec = {"name": "text", "arms": [{"name": "debate", "source": "debate"}], "judges": 1}
    body = {"spec": spec, "transcripts": [json.loads(t.model_dump_json())]}
    auth = {"Authorization": f"Bearer {SECRET}"}
    created = TestClient(app).post("/api/studies", json=body, headers=auth).json()
    token = created["judges"][0]["token"]
    with live_server(app) as base, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_context().new_page()
        page.goto(f"{base}/j/{token}")
        text = page.inner_text("main")
        verified = page.locator(".quote.verified").all_inner_texts()
        unverified = page.locator(".quote.unverified").all_inner_texts()
        assert any(quoted in v for v in verified) and any(invented in u for u in unverified)
        for sentence in sentences:  # the story shows only where it was quoted and verified
            assert sentence not in text or any(sentence in v for v in verified), sentence
        assert item.question in text
        page.check("input[name=answer][value='1']")
        page.select_option("#sure", "70")
        page.click("#submit-verdict")
        assert page.locator("#finished").count()
        browser.close()
    with TestClient(app) as client:
        rows = client.get(f"/api/studies/{created['id']}/verdicts", headers=auth).json()
    assert rows


def test_browser_upload_arms_time_results_and_exports(tmp_path: Path):
    """Items 2-6 of a study in the browser: an upload with a bad line loads and reports it; an
    ambiguous arm is refused; judges judge by keys; results compare the arms on the same items
    and time the items; exports carry each arm's protocol."""
    import json

    transcripts = program_transcripts(2)
    data = tmp_path / "data.jsonl"
    lines = [t.model_dump_json() for t in transcripts]
    data.write_text("\n".join([*lines[:2], "not a transcript", *lines[2:]]) + "\n")
    app = create_app(tmp_path / "db.sqlite", SECRET)
    with live_server(app) as base, sync_playwright() as p:
        browser = launch_chromium(p)
        admin = browser.new_context().new_page()
        admin.goto(f"{base}/admin/login")
        admin.fill("input[name=secret]", SECRET)
        admin.click("button[type=submit]")

        def create(arms: str) -> None:
            admin.goto(f"{base}/admin")
            admin.fill("input[name=name]", "upload study")
            admin.set_input_files("input[name=dataset]", str(data))
            admin.fill("textarea[name=arms]", arms)
            admin.fill("input[name=judges]", "2")
            admin.click("#new-study button[type=submit]")

        create("unassisted\nhelped = nope")
        assert "which the source lacks" in admin.content()  # refused before anything is stored
        create("unassisted\nassisted = *")  # the data's only source
        assert "Data set loaded: 4 items" in admin.inner_text("#loading")
        assert "line 3: not a transcript" in admin.inner_text("#loading")
        links = [a.get_attribute("href") for a in admin.locator("a.judge-link").all()]
        for link in links:
            judge = browser.new_context().new_page()
            judge.goto(str(link))
            for _ in range(10):  # 4 items each; bounded, so a broken page fails, never hangs
                if not judge.locator("#verdict-form").count():
                    break
                judge.wait_for_selector("html[data-keys=on]", state="attached")
                judge.keyboard.press("r")
                assert judge.is_checked("input[name=decision][value=reject]")
                judge.click("#submit-verdict")
            assert judge.locator("#finished").count()
        admin.click("text=Results")
        assert "assisted" in admin.inner_text("#paired") and "4" in admin.inner_text("#paired")
        assert "No item was left out" in admin.inner_text("#left-out")
        href = admin.locator("a", has_text="transcripts.jsonl").first.get_attribute("href")
        rows = [json.loads(x) for x in admin.request.get(f"{base}{href}").text().splitlines()]
        assert {(r["arm"], r["protocol"]) for r in rows} == {
            ("unassisted", "direct"),
            ("assisted", "critique"),
        }
        assert all(r["meta"]["seconds"] >= 0 for r in rows) and len(rows) == 8
        browser.close()
