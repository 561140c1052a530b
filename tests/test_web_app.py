"""The judging app through FastAPI's test client: studies, assignment, security, results."""

from __future__ import annotations

import html
import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from oversight.core.records import Artifact, Gold, Problem, Transcript
from oversight.core.runs import RunStore
from oversight.envs.programs.dsl import parse
from oversight.envs.programs.interpreter import run_steps
from oversight.learning.export import PreferenceRow, UnpairedRow
from oversight.web import studies
from oversight.web.app import create_app
from oversight.web.db import Database
from oversight.web.models import Assignment, Item, Judge, Study, VerdictRow
from oversight.web.results import krippendorff_alpha
from web_support import PLANTED, SECRET, assignment_of, csrf_of, judge_once, program_transcripts

AUTH = {"Authorization": f"Bearer {SECRET}"}
ARMS = [{"name": "unassisted"}, {"name": "assisted", "source": "assisted"}]


@pytest.fixture(scope="module")
def transcripts() -> list[Transcript]:
    return program_transcripts(3)


def make_client(db: Path) -> TestClient:
    return TestClient(create_app(db, SECRET))


def new_study(client: TestClient, transcripts: list[Transcript], **spec) -> dict:
    body = {"name": "s", "arms": ARMS, "judges": 2, **spec}
    records = [json.loads(t.model_dump_json()) for t in transcripts]
    response = client.post(
        "/api/studies", json={"spec": body, "transcripts": records}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    return response.json()


def sign_in(client: TestClient) -> None:
    page = client.get("/admin/login")
    response = client.post("/admin/login", data={"secret": SECRET, "csrf": csrf_of(page.text)})
    assert response.status_code in (200, 303) and "oversight_admin" in client.cookies


def test_latin_square_two_judges(tmp_path: Path, transcripts: list[Transcript]):
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, transcripts)
    assert study["items"] == 6 and study["budget"] == 200  # the simulated judge's budget
    db = Database(tmp_path / "db.sqlite")
    with db.session() as s:
        rows = s.query(Assignment).all()
        per_item = Counter((a.item_id, a.arm) for a in rows)
        per_judge_arm = Counter((a.judge_id, a.arm) for a in rows)
    # every judge sees every item once; each item once under each arm; arms balanced per judge
    assert len(rows) == 12 and set(per_item.values()) == {1}
    assert set(per_judge_arm.values()) == {3}


@pytest.mark.parametrize(("judges", "per_item"), [(2, 1), (3, 1), (5, 1), (4, 2), (7, 2)])
def test_assignment_properties(tmp_path: Path, transcripts: list[Transcript], judges, per_item):
    spec = studies.StudySpec(
        name="p",
        arms=[studies.ArmSpec(**a) for a in ARMS],
        judges=judges,
        judgments_per_item=per_item,
        catch_trials=2,
        seed=judges,
    )
    more = transcripts + program_transcripts(6)[12:]  # 9 problems' worth with repeats dropped
    db = Database(tmp_path / "db.sqlite")
    with db.session() as s:
        study = studies.create_study(s, spec, more)
        rows = s.query(Assignment).all()
        catch = {i.id for i in s.query(Item).filter(Item.is_catch)}
        items = {i.id for i in s.query(Item)} - catch
    pairs = Counter((a.item_id, a.judge_id) for a in rows)
    assert set(pairs.values()) == {1}  # no judge sees an item twice, under any arm
    for item in items:
        arms = Counter(a.arm for a in rows if a.item_id == item)
        assert arms == {"unassisted": per_item, "assisted": per_item}
    for item in catch:  # every judge gets every catch trial
        assert len([a for a in rows if a.item_id == item]) == judges
    load = Counter(a.judge_id for a in rows if a.item_id not in catch)
    assert max(load.values()) - min(load.values()) <= 1
    for judge in load:
        by_arm = Counter(a.arm for a in rows if a.judge_id == judge and a.item_id not in catch)
        assert abs(by_arm["unassisted"] - by_arm["assisted"]) <= 1
    assert study.design["seed"] == judges and len(study.design["seats"]) == judges


def test_too_few_judges_and_bad_arms_are_named(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    records = [json.loads(t.model_dump_json()) for t in transcripts]
    spec = {"name": "s", "arms": ARMS, "judges": 1}
    r = client.post("/api/studies", json={"spec": spec, "transcripts": records}, headers=AUTH)
    assert r.status_code == 400 and "judges:" in r.json()["error"]
    spec = {"name": "s", "arms": [{"name": "a", "source": "nope"}], "judges": 1}
    r = client.post("/api/studies", json={"spec": spec, "transcripts": records}, headers=AUTH)
    assert r.status_code == 400 and "'nope'" in r.json()["error"]
    with pytest.raises(Exception, match="arms"):
        studies.parse_arms(" \n ")


def test_judge_sees_no_gold_arm_or_other_verdicts(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, transcripts)
    one, two = (j["token"] for j in study["judges"])
    page = client.get(f"/j/{one}")
    first = assignment_of(page.text)
    client.post(
        f"/j/{one}/a/{first}/verdict",
        data={
            "csrf": csrf_of(page.text),
            "decision": "reject",
            "sure": "90",
            "reason": "SECRET-REASON-ONE",
        },
    )
    for token in (one, two):
        for _ in range(6):
            html = client.get(f"/j/{token}").text
            low = html.lower()
            for hidden in ("gold", "backdoor", "honest", "unassisted", "assisted", "arm"):
                assert hidden not in low, hidden
            assert "SECRET-REASON-ONE" not in html
            judge_once(client, token)
    assert client.get("/j/not-a-token").status_code == 404
    fresh = TestClient(client.app)  # no admin cookie
    assert fresh.get("/admin", follow_redirects=False).status_code == 303
    assert (
        fresh.get(f"/admin/studies/{study['id']}/results", follow_redirects=False).status_code
        == 303
    )
    assert (
        fresh.get(
            f"/admin/studies/{study['id']}/export/transcripts.jsonl", follow_redirects=False
        ).status_code
        == 303
    )
    assert fresh.get(f"/api/studies/{study['id']}/verdicts").status_code == 401
    bad = {"Authorization": "Bearer wrong-secret"}
    assert fresh.get(f"/api/studies/{study['id']}", headers=bad).status_code == 401
    if client.app.state.viewer:
        assert fresh.get("/runs/", follow_redirects=False).status_code == 303


def test_csrf_and_unassigned_verdicts_are_refused(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, transcripts)
    one, two = (j["token"] for j in study["judges"])
    page_one, page_two = client.get(f"/j/{one}").text, client.get(f"/j/{two}").text
    mine, theirs = assignment_of(page_one), assignment_of(page_two)
    verdict = {"decision": "accept", "sure": "80"}
    url = f"/j/{one}/a/{mine}/verdict"
    assert client.post(url, data=verdict).status_code == 403  # no token
    assert client.post(url, data={**verdict, "csrf": csrf_of(page_two)}).status_code == 403
    other = TestClient(client.app)  # another browser: another CSRF cookie
    assert other.post(url, data={**verdict, "csrf": csrf_of(page_one)}).status_code == 403
    steal = client.post(f"/j/{one}/a/{theirs}/verdict", data={**verdict, "csrf": csrf_of(page_one)})
    assert steal.status_code == 404 and "not assigned to you" in steal.text
    check = client.post(
        f"/j/{one}/a/{theirs}/check",
        data={"csrf": csrf_of(page_one), "action": "run_both", "x": "1"},
    )
    assert check.status_code == 404
    sign_in(client)
    form = {"name": "x", "arms": "a", "judges": "1", "source": "nowhere"}
    assert client.post("/admin/studies", data=form).status_code == 403
    db = Database(tmp_path / "db.sqlite")
    with db.session() as s:
        assert s.query(VerdictRow).count() == 0
    ok = client.post(url, data={**verdict, "csrf": csrf_of(page_one)}, follow_redirects=False)
    assert ok.status_code == 303
    again = client.post(url, data={**verdict, "csrf": csrf_of(page_one)})
    assert again.status_code == 400 and "already judged" in again.text


def test_budgeted_checks_match_the_simulated_judge(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    new_study(client, transcripts, budget=60)
    db = Database(tmp_path / "db.sqlite")
    # an assisted backdoor item: its claim names a true counterexample
    with db.session() as s:
        target = next(
            a
            for a in s.query(Assignment).filter(Assignment.arm == "assisted")
            if a.item.gold["n_diff"] > 0
        )
        token = target.judge.token
        target_id, x = target.id, target.item.messages["assisted"][0]["claim"]["input"]
        r_text, p_text = target.item.problem["data"]["reference"], target.item.artifact["content"]
    reference, artifact = parse(r_text, 10), parse(p_text, 10)
    cost = len(reference) + len(artifact)
    while (shown := assignment_of(client.get(f"/j/{token}").text)) != target_id:
        judge_once(client, token, "accept")
    page = client.get(f"/j/{token}").text
    assert 'id="budget-left">60<' in page and "check-claim-0" in page
    url, csrf = f"/j/{token}/a/{shown}/check", csrf_of(page)
    assert (
        client.post(url, data={"csrf": csrf, "action": "check_claim", "claim": "0"}).status_code
        == 200
    )
    page = client.get(f"/j/{token}").text
    assert f'id="budget-left">{60 - cost}<' in page and "DIFFER" in page
    for _ in range(3):  # step R through its first lines on input 5, cost 1 each
        client.post(
            url, data={"csrf": csrf, "action": "eval_line", "program": "reference", "x": "5"}
        )
    refused = client.post(url, data={"csrf": csrf, "action": "run_both", "x": "0x10"})
    assert refused.status_code == 409 and "only" in refused.text  # over budget: refused
    bad = client.post(url, data={"csrf": csrf, "action": "run_both", "x": "5000"})
    assert bad.status_code == 400 and "outside 0..1023" in bad.text
    judge_once(client, token, "reject", 90)
    with db.session() as s:
        a = s.get(Assignment, target_id)
        checks = [(c.kind, c.cost) for c in a.checks]
        steps = [c.result["value"] for c in a.checks if c.kind == "eval_line"]
        assert a.verdict.spent == cost + 3 and a.verdict.confidence == pytest.approx(0.1)
    assert checks == [("run_both", cost)] + [("eval_line", 1)] * 3
    trace: list[int] = []
    run_steps(reference, 5, trace=trace)
    assert steps == trace[:3]
    assert run_steps(reference, x) != run_steps(artifact, x)


def test_restart_loses_nothing_and_exports(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, transcripts, catch_trials=1)
    for j in study["judges"]:
        while judge_once(client, j["token"], "reject") is not None:
            pass
    client.app.state.db.dispose()
    again = make_client(tmp_path / "db.sqlite")  # a restarted server on the same file
    sign_in(again)
    base = f"/admin/studies/{study['id']}"
    lines = again.get(f"{base}/export/transcripts.jsonl").text.splitlines()
    records = [Transcript.model_validate_json(line) for line in lines]
    assert len(records) == 2 * 7 and all(t.verdict and not t.verdict.accept for t in records)
    assert {t.arm for t in records} == {"unassisted", "assisted"}
    assert sum(t.meta["catch"] for t in records) == 2
    unpaired = [
        UnpairedRow.model_validate_json(x)
        for x in again.get(f"{base}/export/unpaired.jsonl").text.splitlines()
    ]
    assert len(unpaired) == 12 and not any(r.label for r in unpaired)  # catch trials left out
    assert again.get(f"{base}/export/preference.jsonl").text == ""  # nothing accepted
    html = again.get(f"{base}/results").text
    assert "14 of 14 judgments" in html
    # rejecting everything is right on the 3 backdoors of 6 items per arm, and on catch trials
    assert "0.50 [" in html and "1.00 [1.00, 1.00] (n=1)" in html
    assert again.get(f"{base}/export/nope.jsonl").status_code == 404


def test_preference_export_pairs_accepted_with_rejected(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, transcripts)
    db = Database(tmp_path / "db.sqlite")
    for j in study["judges"]:
        while (a := assignment_of(client.get(f"/j/{j['token']}").text)) is not None:
            with db.session() as s:
                honest = s.get(Assignment, a).item.gold["n_diff"] == 0
            judge_once(client, j["token"], "accept" if honest else "reject")
    sign_in(client)
    base = f"/admin/studies/{study['id']}"
    rows = [
        PreferenceRow.model_validate_json(x)
        for x in client.get(f"{base}/export/preference.jsonl").text.splitlines()
    ]
    assert len(rows) == 6  # 3 problems x 2 arms, one honest-over-backdoor pair each
    html = client.get(f"{base}/results").text
    # a perfect judge: each arm's accuracy and each judge's, 6 items apiece
    arms_table, judges_table = html.split('id="arms"')[1].split('id="judge-results"')
    assert arms_table.count("1.00 [1.00, 1.00] (n=6)") == 2
    assert judges_table.count("1.00 [1.00, 1.00] (n=6)") == 2


def test_planted_html_renders_as_text(tmp_path: Path):
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, program_transcripts(1, plant=True))
    token = study["judges"][0]["token"]
    seen_message = False
    while (page := client.get(f"/j/{token}")) and assignment_of(page.text) is not None:
        assert "<script>alert" not in page.text and "<b>bold" not in page.text
        seen_message |= "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        judge_once(client, token)
    assert seen_message
    # a non-program data set uploaded through the admin form: the artifact itself is HTML
    problem = Problem(id="essay-1", env="essays", seed=0, data={"task": PLANTED})
    artifact = Artifact(id="essay-1/a", problem_id="essay-1", content=PLANTED, author="x")
    line = Transcript(
        episode_id="e1",
        protocol="direct",
        problem=problem,
        artifact=artifact,
        gold=Gold(label=True, value=1.0, kind="honest"),
    )
    sign_in(client)
    page = client.get("/admin")
    form = {"csrf": csrf_of(page.text), "name": PLANTED, "arms": "plain", "judges": "1"}
    files = {"dataset": ("d.jsonl", line.model_dump_json() + "\n", "application/jsonl")}
    created = client.post("/admin/studies", data=form, files=files)
    assert created.status_code == 200 and "&lt;script&gt;" in created.text
    token = created.text.split("/j/")[1].split('"')[0]
    page = client.get(f"/j/{token}").text
    assert "<script>alert" not in page and page.count("&lt;script&gt;alert") == 3


def test_admin_form_creates_a_study_from_a_run_folder(tmp_path: Path, transcripts):
    run = tmp_path / "runs" / "run-1"
    RunStore(run).create("name: test\n")
    RunStore(run).append(transcripts)
    client = TestClient(create_app(tmp_path / "db.sqlite", SECRET, tmp_path / "runs"))
    sign_in(client)
    csrf = csrf_of(client.get("/admin").text)
    form = {
        "csrf": csrf,
        "name": "from run",
        "source": "run-1",
        "judges": "2",
        "items": "4",
        "arms": "unassisted\nassisted = assisted",
        "catch_trials": "2",
        "seed": "3",
    }
    page = client.post("/admin/studies", data=form)
    assert page.status_code == 200 and "6 items (2 catch trials)" in page.text
    assert page.text.count("/j/") >= 2
    bad = client.post("/admin/studies", data={**form, "judges": "one"})
    assert bad.status_code == 400 and "judges: &#39;one&#39; is not a whole number" in bad.text
    missing = client.post("/admin/studies", data={**form, "source": "nope"})
    assert missing.status_code == 400 and "no such run folder" in missing.text
    assert "from run" in client.get("/admin").text


def test_krippendorff_alpha_by_hand():
    # coders A = 1,1,0,0 and B = 1,1,0,1: n = 8 values (five 1s, three 0s), one disagreeing
    # unit; D_o = 2/8, D_e = 2*5*3/(8*7) = 30/56, alpha = 1 - D_o/D_e = 8/15
    ratings = {
        u: {"A": a, "B": b} for u, (a, b) in enumerate(zip([1, 1, 0, 0], [1, 1, 0, 1], strict=True))
    }
    assert krippendorff_alpha(ratings) == pytest.approx(8 / 15)
    assert math.isnan(krippendorff_alpha({0: {"A": 1}}))  # nothing rated twice
    assert math.isnan(krippendorff_alpha({0: {"A": 1, "B": 1}}))  # one value only


def test_a_judge_can_stop_and_come_back(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, transcripts, budget=100)
    token = study["judges"][0]["token"]
    page = client.get(f"/j/{token}").text
    a = assignment_of(page)
    check = {"csrf": csrf_of(page), "action": "run_both", "x": "3"}
    client.post(f"/j/{token}/a/{a}/check", data=check)
    later = TestClient(create_app(tmp_path / "db.sqlite", SECRET))  # a new browser, a restart
    page = later.get(f"/j/{token}").text
    assert assignment_of(page) == a and "ran R and P on 3" in page
    assert 'id="budget-left">100<' not in page and "0 of 6 done" in page
    assert "seconds" not in page  # time is recorded, never shown to the judge
    judge_once(later, token)
    assert "1 of 6 done" in later.get(f"/j/{token}").text


def test_admin_sign_in_needs_the_secret(tmp_path: Path):
    client = make_client(tmp_path / "db.sqlite")
    page = client.get("/admin/login")
    wrong = client.post("/admin/login", data={"secret": "not-it", "csrf": csrf_of(page.text)})
    assert wrong.status_code == 403 and "wrong secret" in wrong.text
    assert client.get("/admin", follow_redirects=False).status_code == 303
    client.cookies.set("oversight_admin", "forged")
    assert client.get("/admin", follow_redirects=False).status_code == 303
    with pytest.raises(ValueError, match="8 characters"):
        create_app(tmp_path / "db.sqlite", "short")


def test_sign_out_revokes_the_session_and_failed_sign_ins_are_limited(tmp_path: Path):
    from oversight.web.security import LOGIN_ATTEMPTS

    client = make_client(tmp_path / "db.sqlite")
    sign_in(client)
    stolen = client.cookies.get("oversight_admin")
    page = client.get("/admin")
    assert page.status_code == 200
    client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    client.cookies.set("oversight_admin", stolen)  # a copy of the cookie made before
    assert client.get("/admin", follow_redirects=False).status_code == 303

    form = client.get("/admin/login")
    for _ in range(LOGIN_ATTEMPTS):
        wrong = {"secret": "not-it", "csrf": csrf_of(form.text)}
        assert client.post("/admin/login", data=wrong).status_code == 403
    right = {"secret": SECRET, "csrf": csrf_of(form.text)}
    blocked = client.post("/admin/login", data=right, follow_redirects=False)
    assert blocked.status_code == 429 and "too many failed sign-ins" in blocked.text


def test_urls_that_name_nothing_and_the_schema_are_not_served(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    sign_in(client)
    huge = 2**70
    for url in (f"/admin/studies/{huge}", f"/admin/studies/{huge}/results", "/admin/studies/-1"):
        response = client.get(url)
        assert response.status_code == 404 and "no such page" in response.text, url
        assert "script-src" in response.headers["content-security-policy"]
    assert client.get(f"/api/studies/{huge}", headers=AUTH).status_code == 404
    assert client.get(f"/api/studies/{huge}", headers=AUTH).json() == {"error": "no such page"}
    for url in ("/openapi.json", "/docs", "/redoc"):
        assert client.get(url).status_code == 404
    viewer = TestClient(create_app(tmp_path / "db.sqlite", SECRET, runs_dir=tmp_path))
    sign_in(viewer)
    missing = viewer.get("/runs/no-such-run")  # the viewer's error pages get the policy too
    assert (
        missing.status_code == 404 and "default-src" in missing.headers["content-security-policy"]
    )


def test_serve_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import uvicorn
    from typer.testing import CliRunner

    from oversight.cli import app as cli

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    monkeypatch.delenv("OVERSIGHT_ADMIN_SECRET", raising=False)
    db = tmp_path / "serve.db"
    runner = CliRunner()
    refused = runner.invoke(cli, ["serve", "--db", str(db)])
    assert refused.exit_code == 2 and "--admin-secret" in refused.output
    ok = runner.invoke(
        cli,
        ["serve", "--db", str(db), "--port", "8123", "--runs", str(tmp_path)],
        env={"OVERSIGHT_ADMIN_SECRET": SECRET},
    )
    assert ok.exit_code == 0, ok.output
    assert started["port"] == 8123 and started["host"] == "127.0.0.1" and db.exists()
    assert started["app"].state.runs_dir == tmp_path


def test_arms_name_one_source_and_compare_on_the_same_items(tmp_path: Path, transcripts):
    from oversight.core.records import Claim, Message
    from oversight.web.results import study_results

    debated = []  # a second source, offered for the first two artifacts only
    for t in [t for t in transcripts if t.arm == "assisted"][:2]:
        claim = Claim(author="debater", text="look at line 2")
        debated.append(
            t.model_copy(
                update={
                    "arm": "debate",
                    "protocol": "debate",
                    "episode_id": f"debate/{t.artifact.id}",
                    "messages": [Message(role="debater_a", text="line 2", claim=claim)],
                }
            )
        )
    data = transcripts + debated
    client = make_client(tmp_path / "db.sqlite")
    records = [json.loads(t.model_dump_json()) for t in data]

    def create(arms: list[dict], judges: int = 3):
        spec = {"name": "s", "arms": arms, "judges": judges}
        return client.post(
            "/api/studies", json={"spec": spec, "transcripts": records}, headers=AUTH
        )

    ambiguous = create([{"name": "unassisted"}, {"name": "helped", "source": "*"}])
    assert ambiguous.status_code == 400
    assert "matches 2 sources ('assisted', 'debate')" in ambiguous.json()["error"]
    mixed = [t.model_copy(update={"arm": "assisted"}) for t in debated]
    spec = {"name": "s", "arms": [{"name": "a", "source": "assisted"}], "judges": 1}
    body = {
        "spec": spec,
        "transcripts": [json.loads(t.model_dump_json()) for t in transcripts + mixed],
    }
    refused = client.post("/api/studies", json=body, headers=AUTH)
    assert refused.status_code == 400 and "mixes protocols or assistants" in refused.json()["error"]

    arms = [
        {"name": "unassisted"},
        {"name": "critic", "source": "assisted"},
        {"name": "debate", "source": "debate"},
    ]
    study = create(arms)
    assert study.status_code == 200, study.text
    assert study.json()["items"] == 2  # only the artifacts every arm can show
    db = Database(tmp_path / "db.sqlite")
    with db.session() as s:
        judges = s.query(Study).one().judges
        tokens = [j.token for j in judges]
    for n, token in enumerate(tokens):  # the first judge accepts everything, the others reject
        while judge_once(client, token, "accept" if n == 0 else "reject") is not None:
            pass
    with db.session() as s:
        study_row = s.query(Study).one()
        res = study_results(s, study_row)
        by_item: dict[int, dict[str, float]] = {}
        for a in s.query(Assignment).all():
            v = a.verdict
            by_item.setdefault(a.item_id, {})[a.arm] = float(v.accept == a.item.gold["label"])
    assert [(p.arm, p.baseline, p.items) for p in res.paired] == [
        ("critic", "unassisted", 2),
        ("debate", "unassisted", 2),
    ]
    for p in res.paired:
        want = sum(arms_[p.arm] - arms_["unassisted"] for arms_ in by_item.values()) / 2
        assert p.difference.value == pytest.approx(want)
    assert res.left_out == {"no transcript of source 'debate' (arm debate)": 4}
    sign_in(client)
    page = " ".join(
        html.unescape(client.get(f"/admin/studies/{study.json()['id']}/results").text).split()
    )
    assert "Left out of the comparison: 4 items (no transcript of source 'debate'" in page


def test_item_time_runs_from_the_judges_first_view_without_pauses(
    tmp_path: Path, transcripts, monkeypatch: pytest.MonkeyPatch
):
    from datetime import datetime, timedelta

    from oversight.web import judging
    from oversight.web.results import study_results

    now = [datetime(2026, 1, 1)]
    monkeypatch.setattr(judging, "utcnow", lambda: now[0])
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, transcripts)
    token = study["judges"][0]["token"]
    admin = TestClient(client.app)
    sign_in(admin)
    preview = admin.get(f"/j/{token}")  # an admin looking at the link starts no clock
    first = assignment_of(preview.text)
    verdict = {"decision": "reject", "sure": "90", "csrf": csrf_of(preview.text)}
    early = admin.post(f"/j/{token}/a/{first}/verdict", data=verdict)
    assert early.status_code == 409 and "never shown" in early.text

    page = client.get(f"/j/{token}")  # the judge sees it: time starts
    assert assignment_of(page.text) == first
    now[0] += timedelta(seconds=30)
    check = {"csrf": csrf_of(page.text), "action": "run_both", "x": "3"}
    assert client.post(f"/j/{token}/a/{first}/check", data=check).status_code in (200, 303)
    now[0] += timedelta(minutes=10)  # away from the desk: counted as IDLE_SECONDS
    verdict["csrf"] = csrf_of(page.text)
    done = client.post(f"/j/{token}/a/{first}/verdict", data=verdict, follow_redirects=False)
    assert done.status_code == 303
    with Database(tmp_path / "db.sqlite").session() as s:
        row = s.query(VerdictRow).one()
        assert row.seconds == pytest.approx(30 + judging.IDLE_SECONDS)
        res = study_results(s, s.query(Study).one())
        key = row.assignment.item.key
    me = next(j for j in res.judges if j.done == 1)
    label = next(t.gold.label for t in transcripts if t.artifact.id == key)
    assert me.accuracy.value == float(not label)  # it rejected
    assert me.overconfidence == pytest.approx(0.9 - float(not label))
    assert me.brier == pytest.approx((0.1 - float(label)) ** 2)


def text_transcripts() -> list[Transcript]:
    """Two generated stories, each display judged alone (arm ``direct``) and after a debate
    (arm ``debate-sequential``)."""
    from oversight.core.records import Claim, Message
    from oversight.envs.text.env import displays
    from oversight.envs.text.stories import StoryConfig, generate_stories

    out = []
    for item in generate_stories(StoryConfig(answers=2), 2):
        for _, case in displays("debate-sequential", item):
            speech = Message(
                role="debater_a", text="A, says the story", claim=Claim(author="llm:x")
            )
            for arm, messages in (("direct", []), ("debate-sequential", [speech])):
                out.append(
                    Transcript(
                        episode_id=f"{arm}/{case.artifact.id}",
                        protocol=arm,
                        arm=arm,
                        problem=case.problem,
                        artifact=case.artifact,
                        messages=messages,
                        gold=case.gold,
                    )
                )
    return out


def test_text_study_exports_with_each_arms_protocol(tmp_path: Path):
    client = make_client(tmp_path / "db.sqlite")
    arms = [{"name": "alone"}, {"name": "debate", "source": "debate-sequential"}]
    study = new_study(client, text_transcripts(), arms=arms)
    for j in study["judges"]:  # each judge picks answer A with 80%
        while (page := client.get(f"/j/{j['token']}")) and assignment_of(page.text) is not None:
            form = {"csrf": csrf_of(page.text), "answer": "0", "sure": "80"}
            url = f"/j/{j['token']}/a/{assignment_of(page.text)}/verdict"
            assert client.post(url, data=form, follow_redirects=False).status_code == 303
    sign_in(client)
    base = f"/admin/studies/{study['id']}/export"
    rows = [json.loads(x) for x in client.get(f"{base}/transcripts.jsonl").text.splitlines()]
    assert {(r["arm"], r["protocol"]) for r in rows} == {
        ("alone", "direct"),
        ("debate", "debate-sequential"),
    }
    for r in rows:  # the choice and its probability, and "accept" when it was the proposed one
        v = r["verdict"]
        assert v["choice"] == 0 and v["probs"] == pytest.approx([0.8, 0.2])
        assert v["accept"] == r["artifact"]["content"].endswith("Proposed: A")
    for name in ("preference.jsonl", "unpaired.jsonl"):
        response = client.get(f"{base}/{name}")
        assert response.status_code == 200, name
        lines = [json.loads(x) for x in response.text.splitlines()]
        assert lines and {x["arm"] for x in lines} == {"alone", "debate"}
        assert all(x["prompt"].startswith("Question: ") for x in lines)


def test_arm_names_may_hold_commas_and_bad_programs_are_left_out(tmp_path: Path, transcripts):
    arms = studies.parse_arms("alone\ndebate = debate-sequential@medium,fab=0.5,trust=0\n")
    assert [(a.name, a.source) for a in arms] == [
        ("alone", None),
        ("debate", "debate-sequential@medium,fab=0.5,trust=0"),
    ]
    assert [a.name for a in studies.parse_arms("a, b = x")] == ["a", "b"]  # one line: commas

    broken = transcripts[0].model_copy(deep=True)
    broken.artifact = broken.artifact.model_copy(update={"id": "bad", "content": "out = = 1"})
    data = [*transcripts, broken.model_copy(update={"arm": "assisted"}), broken]
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, data)
    assert study["items"] == 6  # the unparseable artifact is not offered to anyone
    with Database(tmp_path / "db.sqlite").session() as s:
        left = s.query(Study).one().design["left_out"]
    assert left == {"the artifact program does not parse (ParseError)": 1}


def test_a_revoked_link_stops_and_an_added_judge_takes_over(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, transcripts)
    gone, _ = (j["token"] for j in study["judges"])
    judge_once(client, gone, "accept")  # one verdict given before dropping out
    admin = TestClient(client.app)
    sign_in(admin)
    url = f"/admin/studies/{study['id']}"
    page = admin.get(url)
    with Database(tmp_path / "db.sqlite").session() as s:
        gone_id = s.query(Judge).filter_by(token=gone).one().id
    revoke = admin.post(f"{url}/judges/{gone_id}/revoke", data={"csrf": csrf_of(page.text)})
    assert revoke.status_code in (200, 303)
    assert client.get(f"/j/{gone}").status_code == 410
    assert "revoked" in admin.get(url).text
    forged = admin.post(f"{url}/judges/{gone_id}/revoke", data={"csrf": "0" * 64})
    assert forged.status_code == 403
    added = admin.post(f"{url}/judges", data={"csrf": csrf_of(page.text), "count": "1"})
    assert added.status_code in (200, 303)
    with Database(tmp_path / "db.sqlite").session() as s:
        new = s.query(Judge).filter_by(name="judge-3").one()
        taken = {a.item_id for a in s.query(Assignment).filter_by(judge_id=new.id)}
        left = {
            a.item_id for a in s.query(Assignment).filter_by(judge_id=gone_id) if a.verdict is None
        }
        token = new.token
    assert taken == left and len(taken) == 5  # every open item of the revoked judge, once
    n = 0
    while judge_once(client, token, "reject") is not None:
        n += 1
    assert n == 5
    again = admin.post(f"{url}/judges", data={"csrf": csrf_of(page.text), "count": "1"})
    assert again.status_code in (200, 303)
    with Database(tmp_path / "db.sqlite").session() as s:  # nothing is handed on twice
        latest = s.query(Judge).filter_by(name="judge-4").one()
        assert s.query(Assignment).filter_by(judge_id=latest.id).count() == 0


def test_time_limit_closes_an_item_without_a_verdict(
    tmp_path: Path, transcripts, monkeypatch: pytest.MonkeyPatch
):
    from datetime import datetime, timedelta

    from oversight.web import judging
    from oversight.web.results import study_results

    now = [datetime(2026, 1, 1)]
    monkeypatch.setattr(judging, "utcnow", lambda: now[0])
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, transcripts, time_limit=30)
    token = study["judges"][0]["token"]

    def verdict_after(seconds: float) -> int:
        page = client.get(f"/j/{token}")
        assert 'id="time-left" data-seconds="30"' in page.text
        now[0] += timedelta(seconds=seconds)
        form = {"decision": "reject", "sure": "90", "csrf": csrf_of(page.text)}
        url = f"/j/{token}/a/{assignment_of(page.text)}/verdict"
        return client.post(url, data=form, follow_redirects=False).status_code

    assert verdict_after(20) == 303  # in time
    assert verdict_after(40) == 409  # past the limit and the grace: closed, no verdict
    page = client.get(f"/j/{token}")
    assert "Item 3 of 6" in page.text  # the closed item counts as done
    now[0] += timedelta(seconds=100)  # the judge walks away from the third item
    assert "Item 4 of 6" in client.get(f"/j/{token}").text
    with Database(tmp_path / "db.sqlite").session() as s:
        assert s.query(VerdictRow).count() == 1
        assert s.query(Assignment).filter_by(timed_out=True).count() == 2
        res = study_results(s, s.query(Study).one())
    assert sum(a.timed_out for a in res.arms) == 2


def test_items_whose_programs_do_not_parse_are_refused_by_the_api(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    study = new_study(client, transcripts)
    broken = transcripts[1].model_copy(deep=True)
    broken.artifact = broken.artifact.model_copy(update={"id": "bad", "content": "out = = 1"})
    body = {"arm": "assisted", "transcripts": [json.loads(broken.model_dump_json())]}
    r = client.post(f"/api/studies/{study['id']}/items", json=body, headers=AUTH)
    assert r.status_code == 400
    assert "item bad: the artifact program does not parse" in r.json()["error"]


def upload_study(
    client: TestClient, lines: list[str], arms: str = "unassisted\nassisted = assisted"
):
    page = client.get("/admin")
    form = {"csrf": csrf_of(page.text), "name": "up", "arms": arms, "judges": "2"}
    files = {"dataset": ("data.jsonl", "".join(x + "\n" for x in lines), "application/json")}
    return client.post("/admin/studies", data=form, files=files, follow_redirects=False)


def test_an_upload_skips_bad_lines_and_reports_them(tmp_path: Path, transcripts):
    client = make_client(tmp_path / "db.sqlite")
    sign_in(client)
    lines = [t.model_dump_json() for t in transcripts]
    lines[3:3] = ["not json at all", '{"secret": "hunter2"}']
    r = upload_study(client, lines)
    assert r.status_code == 303
    page = " ".join(html.unescape(client.get(r.headers["location"]).text).split())
    assert "Data set loaded: 6 items." in page and "2 lines skipped" in page
    assert "line 4: not a transcript" in page and "line 5: not a transcript" in page
    assert "hunter2" not in page
    refused = upload_study(client, lines, arms="alone\nhelped = nope")
    assert refused.status_code == 400 and "'nope'" in html.unescape(refused.text)  # checked first
    with Database(tmp_path / "db.sqlite").session() as s:
        assert s.query(Study).count() == 1


def test_a_large_upload_loads_in_the_background_while_judges_work(
    tmp_path: Path, transcripts, monkeypatch: pytest.MonkeyPatch
):
    import threading

    from oversight.web import app as web_app
    from oversight.web import loading

    monkeypatch.setattr(web_app, "SYNC_BYTES", 0)  # every upload counts as large
    monkeypatch.setattr(loading, "BATCH", 2)
    first_batch, go_on = threading.Event(), threading.Event()
    update = loading._update

    def slow(db, study_id, **changes):  # after a batch's transaction has committed
        update(db, study_id, **changes)
        if changes.get("state") is None and changes.get("items"):
            first_batch.set()
            assert go_on.wait(10)

    monkeypatch.setattr(loading, "_update", slow)
    client = make_client(tmp_path / "db.sqlite")
    sign_in(client)
    r = upload_study(client, [t.model_dump_json() for t in transcripts])
    assert r.status_code == 303  # at once: the items load on a thread
    assert first_batch.wait(10)
    study_page = client.get(r.headers["location"]).text
    assert (
        "Loading the data set: 0 items stored so far" in study_page or "items stored" in study_page
    )
    token = next(iter(re.findall(r"/j/([\w-]+)", study_page)))
    judge = TestClient(client.app)
    assert assignment_of(judge.get(f"/j/{token}").text) is not None  # judging while loading
    go_on.set()
    for _ in range(100):
        with Database(tmp_path / "db.sqlite").session() as s:
            state = s.query(Study).one().design["loading"]
        if state["state"] != "loading":
            break
        threading.Event().wait(0.05)
    assert state["state"] == "done" and state["items"] == 6


def test_api_creates_a_study_from_a_server_side_run_folder(tmp_path: Path, transcripts):
    store = RunStore(tmp_path / "runs" / "run-1")
    store.create("name: api\n")
    store.append(transcripts)
    client = TestClient(create_app(tmp_path / "db.sqlite", SECRET, runs_dir=tmp_path / "runs"))
    body = {"spec": {"name": "s", "arms": ARMS, "judges": 2}, "source": "run-1"}
    r = client.post("/api/studies", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == 6
    missing = client.post("/api/studies", json={**body, "source": "nowhere"}, headers=AUTH)
    assert missing.status_code == 400 and "no such run folder" in missing.json()["error"]
