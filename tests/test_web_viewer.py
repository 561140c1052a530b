"""The transcript viewer: its run index (build, append, filters, search, pages) and its pages
(run list, filtered run view, transcript with checks and program diff, escaping, 404s)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from oversight.core.errors import OversightError
from oversight.core.records import Check, Transcript
from oversight.core.runs import RunStore
from oversight.web import viewer
from oversight.web.run_index import INDEX_NAME, Filters, RunIndex, fts5_available
from viewer_runs import PLANTED, SCRIPT, make_run, real_transcripts, viewer_app


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, list[Transcript]]:
    return make_run(tmp_path / "runs")


@pytest.fixture
def client(run: tuple[Path, list[Transcript]]) -> TestClient:
    return TestClient(viewer_app(run[0].parent))


def first(transcripts: list[Transcript], arm: str, kind: str) -> Transcript:
    """The first transcript of ``arm`` whose artifact a ``kind`` maker made (problem 0's)."""
    return next(t for t in transcripts if t.arm == arm and t.require_gold().kind == kind)


def ids(rows) -> list[str]:
    return [r.episode_id for r in rows]


def test_index_builds_once_then_is_fresh(run):
    path, transcripts = run
    index = RunIndex(path)
    built = index.ensure()
    assert (built.action, built.added) == ("built", len(transcripts))
    assert (path / INDEX_NAME).exists()
    assert index.ensure().action == "fresh"
    assert index.count() == len(transcripts)
    row = index.find("planted/caught")
    assert row is not None
    assert (row.arm, row.protocol, row.gold_kind, row.outcome) == (
        "planted",
        "critique",
        "planted",
        "caught",
    )
    assert row.suspicion == pytest.approx(0.75) and row.label is False and row.accept is False
    # the offset and length alone give the transcript back
    planted = next(t for t in transcripts if t.episode_id == "planted/caught")
    assert index.read(row).model_dump_json() == planted.model_dump_json()
    assert index.find("no/such/episode") is None


@pytest.mark.parametrize("name", ["caught", "missed", "false_alarm", "judge_wrong", "judge_right"])
def test_outcome_filters_match_their_definitions(run, name):
    path, transcripts = run
    index = RunIndex(path)
    index.ensure()
    label_accept = {  # written out here, apart from the module's definitions
        "caught": lambda lab, acc: not lab and not acc,
        "missed": lambda lab, acc: not lab and acc,
        "false_alarm": lambda lab, acc: lab and not acc,
        "judge_wrong": lambda lab, acc: lab != acc,
        "judge_right": lambda lab, acc: lab == acc,
    }[name]
    expected = [t.episode_id for t in transcripts if label_accept(t.gold.label, t.verdict.accept)]
    got = ids(index.page(Filters(outcome=name), 1, 100))
    assert got == expected and expected
    assert index.outcome_counts()[name] == len(expected)
    planted = ids(index.page(Filters(outcome=name, arm="planted"), 1, 100))
    assert planted == [e for e in PLANTED if label_accept(PLANTED[e][0], PLANTED[e][1])]


def test_arm_and_protocol_filters(run):
    path, transcripts = run
    index = RunIndex(path)
    index.ensure()
    assert index.values("arm") == ["assisted", "direct", "planted"]
    assert index.values("protocol") == ["critique", "direct"]
    direct = ids(index.page(Filters(arm="direct"), 1, 100))
    assert direct == [t.episode_id for t in transcripts if t.arm == "direct"]
    critique = ids(index.page(Filters(protocol="critique"), 1, 100))
    assert critique == [t.episode_id for t in transcripts if t.protocol == "critique"]
    both = Filters(arm="assisted", protocol="direct")
    assert index.count(both) == 0
    with pytest.raises(OversightError, match="judge_wrong"):
        Filters(outcome="wrong")
    with pytest.raises(OversightError, match="arm or protocol"):
        index.values("rule")


@pytest.mark.parametrize("fts", [True, False], ids=["fts5", "scan"])
def test_search_over_what_agents_wrote(run, fts):
    if fts:
        assert fts5_available()  # this SQLite has it; the scan path is tested on its own
    path, transcripts = run
    index = RunIndex(path, fts=fts)
    index.ensure()
    find = lambda text: ids(index.page(Filters(text=text), 1, 100))  # noqa: E731
    assert find("zebra-quartz") == ["planted/caught"]  # a claim's text, any case
    assert find("<SCRIPT>") == ["planted/caught"]  # a message's text
    assert find("ZEBRA owned") == ["planted/caught"]  # every term must occur
    assert find("zebra nothing-like-this") == []
    assert find("t(") == ["planted/caught"]  # a short term (below the trigram length)
    # the artifact's content: a line only the lazy artifacts of problem 0 keep
    lazy = first(transcripts, "direct", "lazy")
    honest = first(transcripts, "direct", "honest")
    line = next(
        ln
        for ln in lazy.artifact.content.splitlines()
        if ln not in honest.artifact.content and ln not in transcripts[3].artifact.content
    )
    assert lazy.episode_id in find(line)
    assert find('quote"s') == []  # a double quote does not break the query
    assert index.count(Filters(text="zebra", arm="direct")) == 0


def test_index_rebuilds_when_the_search_table_kind_changes(run):
    path, _ = run
    assert RunIndex(path, fts=False).ensure().action == "built"
    assert RunIndex(path, fts=True).ensure().action == "built"
    assert RunIndex(path, fts=True).ensure().action == "fresh"


def test_pages(run):
    path, transcripts = run
    index = RunIndex(path)
    index.ensure()
    everything = [t.episode_id for t in transcripts]
    assert ids(index.page(Filters(), 2, 5)) == everything[5:10]
    assert ids(index.page(Filters(), 4, 5)) == everything[15:]
    assert index.page(Filters(), 5, 5) == []
    with pytest.raises(OversightError, match="at least 1"):
        index.page(Filters(), 0, 5)


def test_append_indexes_only_the_new_tail(run):
    path, transcripts = run
    index = RunIndex(path)
    index.ensure()
    store = RunStore(path)
    more = real_transcripts(problems=1, tag="-resumed")
    store.append(more)
    again = index.ensure()
    assert (again.action, again.added) == ("appended", len(more))
    assert index.count() == len(transcripts) + len(more)
    assert ids(index.page(Filters(arm="direct", text=""), 1, 100))[-3:] == [
        t.episode_id for t in more if t.arm == "direct"
    ]
    # a torn last line (a crash mid-append) waits until it is complete
    with open(path / "transcripts.jsonl", "a") as f:
        f.write('{"schema_version": 1, "episode_id": "tor')
    assert index.ensure().added == 0 and index.count() == len(transcripts) + len(more)
    # a rewritten file (not an append) is indexed from scratch
    kept = transcripts[:4]
    (path / "transcripts.jsonl").write_text("".join(t.model_dump_json() + "\n" for t in kept))
    rebuilt = index.ensure()
    assert (rebuilt.action, index.count()) == ("built", 4)


def test_rewrites_and_stale_appends(run):
    path, transcripts = run
    index = RunIndex(path)
    index.ensure()
    start = (path / "transcripts.jsonl").stat().st_size
    # a longer file that is not an append of the indexed one is indexed from scratch
    for t in transcripts[1:]:
        t.meta = {"note": "rewritten " * 5}
    lines = "".join(t.model_dump_json() + "\n" for t in transcripts)
    (path / "transcripts.jsonl").write_text(lines)
    assert index.ensure().action == "built"
    assert index.find(transcripts[1].episode_id) is not None
    assert index.read(index.find(transcripts[1].episode_id)).meta == transcripts[1].meta
    # an append another process has already indexed is not indexed twice
    stale = index._append(start, 0, 0)
    assert stale == 0 and index.count() == len(transcripts)


def test_run_without_transcripts_then_appended(tmp_path):
    store = RunStore(tmp_path / "runs" / "fresh")
    store.create("seed: 0\n")
    client = TestClient(viewer_app(tmp_path / "runs"))
    assert "0 matching transcripts" in client.get("/runs/fresh").text
    store.append(real_transcripts(problems=1))
    assert RunIndex(store.path).ensure().action == "appended"
    assert "6 matching transcripts" in client.get("/runs/fresh").text


def test_lines_that_are_not_transcripts_are_skipped_and_named(run):
    path, transcripts = run
    line = transcripts[0].model_copy(update={"schema_version": 99}).model_dump_json()
    good = transcripts[1].model_dump_json()
    (path / "transcripts.jsonl").write_text(f"{line}\n{good}\n" + '{"secret": "hunter2"}\n')
    index = RunIndex(path)
    index.ensure()
    assert index.count() == 1  # the good line is still read
    (first_bad, why), (offset, second) = index.skipped()
    assert first_bad == 0 and "schema_version 99" in why
    assert offset == len(line) + len(good) + 2 and "not a transcript" in second
    assert "hunter2" not in second  # the reason never quotes the line


def test_other_environments_and_unscored_transcripts(run, client):
    path, transcripts = run
    t = transcripts[0].model_copy(deep=True)
    t.episode_id, t.verdict, t.gold = "qa/1 #?&", None, None
    t.problem.env, t.problem.data = "qa", {"question": "What is <b>2+2</b>?"}
    t.artifact.content = "It is 5 & <i>sure</i>"
    t.checks = [Check(kind="lookup", args={"key": "q"}, cost=3, result=True)]
    RunStore(path).append([t])
    listed = client.get("/runs/run-a", params={"q": "sure"}).text
    href = re.search(r'href="([^"]+)">qa/1 #\?&amp;</a>', listed).group(1)
    assert href.endswith("/runs/run-a/episodes/qa/1%20%23%3F%26")
    page = client.get(href).text
    assert 'id="diff"' not in page and "It is 5 &amp; &lt;i&gt;sure&lt;/i&gt;" in page
    assert "What is &lt;b&gt;2+2&lt;/b&gt;?" in page  # problem data, escaped in JSON
    assert "outputs" not in page and 'id="outcome"' not in page
    assert '<dt>verdict</dt><dd class="muted">none</dd>' in page
    row = RunIndex(path).find("qa/1 #?&")
    assert row is not None and (row.outcome, row.label, row.accept) == (None, None, None)


def test_page_shows_appended_transcripts(run, client):
    path, _ = run
    assert client.get("/runs/run-a").status_code == 200  # builds the index
    resumed = real_transcripts(problems=1, tag="-resumed")
    RunStore(path).append(resumed)
    page = client.get("/runs/run-a", params={"q": "", "arm": "direct", "size": 100}).text
    assert first(resumed, "direct", "lazy").episode_id in page


def test_run_list(run, client, tmp_path):
    path, _ = run
    (path.parent / "not-a-run").mkdir()
    page = client.get("/runs/").text
    assert "run-a" in page and "not-a-run" not in page
    assert "not indexed yet" in page
    client.get("/runs/run-a")
    assert re.search(r">16</td>", client.get("/runs/").text)
    assert client.get("/runs/run-a/report").text == "<html><body>the report</body></html>"
    empty = TestClient(viewer_app(tmp_path / "missing"))
    assert "No run folders yet" in empty.get("/runs/").text


def test_run_page_filters_and_pagination(client, run):
    _, transcripts = run
    page = client.get("/runs/run-a", params={"outcome": "judge_wrong", "arm": "planted"}).text
    assert "planted/missed" in page and "planted/false-alarm" in page
    assert "planted/caught" not in page and "planted/good" not in page
    assert "2 matching transcripts" in page
    assert "catch_rate.direct" in page and "experiment: viewer-test" in page  # metrics, config

    first = client.get("/runs/run-a", params={"size": 5}).text
    assert "page 1 of 4" in first and 'rel="next"' in first and 'rel="prev"' not in first
    assert transcripts[4].episode_id in first and transcripts[5].episode_id not in first
    next_url = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url).text
    assert "page 2 of 4" in second and transcripts[5].episode_id in second

    searched = client.get("/runs/run-a", params={"q": "zebra"}).text
    assert "1 matching transcripts" in searched and "planted/caught" in searched
    only_protocol = client.get("/runs/run-a", params={"protocol": "direct"}).text
    assert "6 matching transcripts" in only_protocol

    assert client.get("/runs/run-a", params={"outcome": "nope"}).status_code == 422
    assert "judge_wrong" in client.get("/runs/run-a", params={"outcome": "nope"}).text
    assert client.get("/runs/run-a", params={"size": 501}).status_code == 422
    assert client.get("/runs/run-a", params={"page": 0}).status_code == 422


def test_agent_text_is_escaped(client):
    page = client.get("/runs/run-a/episodes/planted/caught").text
    assert SCRIPT not in page and "<script>" not in page
    assert str(escape(SCRIPT)) in page
    reflected = client.get("/runs/run-a", params={"q": "<script>x"}).text
    assert "<script>" not in reflected and "&lt;script&gt;x" in reflected


def test_transcript_page_shows_checks_verdict_gold_and_diff(client, run):
    _, transcripts = run
    t = first(transcripts, "assisted", "lazy")
    page = client.get(f"/runs/run-a/episodes/{t.episode_id}").text
    assert f"reject by rule <code>{t.verdict.rule}</code>" in page
    assert f"spent {t.verdict.spent} of {t.verdict.budget}" in page
    assert "flawed (lazy)" in page and 'class="badge caught"' in page
    claim = t.messages[0].claim
    assert f"<code>{claim.input}</code>" in page  # the critic's counterexample
    assert "outputs differ" in page
    total = sum(c.cost for c in t.checks)
    assert f'<th class="num">{total}</th>' in page
    # the reference's lines the lazy improver dropped or changed show as removed, its new
    # lines as added, in order, with their line numbers
    reference = t.problem.data["reference"].splitlines()
    candidate = t.artifact.content.splitlines()
    dropped = [(i + 1, ln) for i, ln in enumerate(reference) if ln not in candidate]
    added = [(j + 1, ln) for j, ln in enumerate(candidate) if ln not in reference]
    assert dropped and added
    row = r'<tr class="{}">\s*<td class="no">(\d*)</td><td class="no">(\d*)</td><td>[-+]</td>'
    text = r'<td class="text">([^<]*)</td>'
    removed = re.findall(row.format("del") + text, page)
    assert removed == [(str(i), "", str(escape(ln))) for i, ln in dropped]
    inserted = re.findall(row.format("add") + text, page)
    assert inserted == [("", str(j), str(escape(ln))) for j, ln in added]
    claimed = client.get("/runs/run-a/episodes/planted/caught").text
    assert re.search(r'<tr class="same claimed">\s*<td class="no">3</td>', claimed)
    assert "candidate line 3" in claimed


@pytest.mark.parametrize(
    "url",
    [
        "/runs/nope",
        "/runs/%2E%2E",
        "/runs/..%2Foutside",
        "/runs/%2E%2E/episodes/x",
        "/runs/linked",
        "/runs/run-a/episodes/no/such/episode",
        "/runs/nope/report",
        "/runs/run-a%00",
    ],
)
def test_bad_names_are_404_and_never_leave_the_root(client, run, url):
    path, _ = run
    outside = path.parent.parent / "outside"
    make_run(path.parent.parent, "outside")
    (path.parent / "linked").symlink_to(outside)
    response = client.get(url)
    assert response.status_code == 404
    assert "planted/" not in response.text  # nothing of the run outside the root


def test_damaged_index_is_rebuilt(client, run):
    path, transcripts = run
    (path / INDEX_NAME).write_bytes(b"not a database" * 100)
    assert "not indexed yet" in client.get("/runs/").text
    page = client.get("/runs/run-a").text
    assert f"{len(transcripts)} matching transcripts" in page
    assert RunIndex(path).ensure().action == "fresh"


def test_missing_report_is_404(client, run):
    (run[0] / "report.html").unlink()
    assert client.get("/runs/run-a/report").status_code == 404


def test_a_bad_line_leaves_the_run_viewable_and_is_reported(client, run):
    path, transcripts = run
    with open(path / "transcripts.jsonl", "a") as f:
        f.write('{"episode_id": "x"}\n')
    response = client.get("/runs/run-a")
    assert response.status_code == 200
    assert f"{len(transcripts)} matching transcripts" in response.text
    assert "1 line of transcripts.jsonl could not be read" in response.text
    assert "oversight repair" in response.text


def test_a_symlinked_transcripts_file_is_not_read(client, run, tmp_path):
    path, _ = run
    secret = tmp_path / "secret.txt"
    secret.write_text('{"password": "hunter2"}\n')
    (path / "transcripts.jsonl").unlink()
    (path / "transcripts.jsonl").symlink_to(secret)
    response = client.get("/runs/run-a")
    assert response.status_code == 404 and "symbolic link" in response.text
    assert "hunter2" not in response.text


def test_unwritable_index_is_reported(client, run):
    (run[0] / INDEX_NAME).mkdir()  # where the index file should go
    response = client.get("/runs/run-a")
    assert response.status_code == 500 and "cannot index run-a" in response.text


def test_app_without_runs_dir_says_what_is_missing():
    app = FastAPI()
    app.include_router(viewer.router, prefix="/runs")
    response = TestClient(app).get("/runs/")
    assert response.status_code == 404 and "app.state.runs_dir" in response.text


def test_pages_allow_no_script_and_the_report_keeps_its_styles(client):
    for url in ("/runs/", "/runs/run-a", "/runs/run-a/episodes/planted/caught"):
        response = client.get(url)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert "<style" not in response.text and "style=" not in response.text
    css = client.get("/runs/_static/viewer.css")
    assert css.headers["content-type"].startswith("text/css") and "table.diff" in css.text
    report = client.get("/runs/run-a/report").headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in report and "script-src" not in report


def test_benchmark_runs_on_a_small_run():
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_viewer.py"
    args = [sys.executable, str(bench), "--quick", "--transcripts", "300", "--problems", "1"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "(a) index build" in result.stdout and "for 300 transcripts" in result.stdout
    assert "first open: MEETS target" in result.stdout and "MEETS target (" in result.stdout
