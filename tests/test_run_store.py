"""The run folder never loses or double-counts a record, and refuses what it cannot trust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oversight.cli import app
from oversight.core.errors import OversightError
from oversight.core.files import atomic_path, read_checkpoint, write_atomic
from oversight.core.jsonl import append_jsonl, read_jsonl
from oversight.core.records import Transcript
from oversight.core.runs import REJECTED, TRANSCRIPTS, RunStore
from test_records import transcript


def test_a_record_counts_only_once_its_newline_is_written(tmp_path: Path):
    path = tmp_path / "t.jsonl"
    append_jsonl(path, [transcript(0), transcript(1)])
    path.write_bytes(path.read_bytes()[:-1])  # the last record lacks only its newline
    assert [t.episode_id for t in read_jsonl(path, Transcript)] == ["e0"]
    append_jsonl(path, [transcript(1)])  # the resume replays it; nothing is lost
    assert [t.episode_id for t in read_jsonl(path, Transcript)] == ["e0", "e1"]


@pytest.mark.parametrize("junk", ["[1, 2]", "null", "5", '"text"'])
def test_non_object_lines_are_refused_with_their_line(tmp_path: Path, junk: str):
    path = tmp_path / "t.jsonl"
    append_jsonl(path, [transcript(0)])
    with open(path, "a") as f:
        f.write(junk + "\n")
    with pytest.raises(OversightError, match=r"t\.jsonl:2: .*not a JSON object"):
        list(read_jsonl(path, Transcript))


def _store(tmp_path: Path, n: int = 3) -> RunStore:
    store = RunStore(tmp_path / "run")
    store.create("experiment: offense-defense\nseed: 0\n", {"experiment": "x", "seed": 0})
    store.append([transcript(i) for i in range(n)])
    return store


def test_duplicates_are_refused_and_repair_moves_bad_lines_aside(tmp_path: Path):
    store = _store(tmp_path)
    path = store.path / TRANSCRIPTS
    first = path.read_bytes().split(b"\n")[0]
    with open(path, "ab") as f:
        f.write(first + b"\n{not json\n" + b"[1]\n" + first[:30])
    with pytest.raises(OversightError, match=r":4: episode 'e0' again \(first on line 1\)"):
        store.transcripts()
    assert store.repair() == (3, 4)
    assert [t.episode_id for t in store.transcripts()] == ["e0", "e1", "e2"]
    rejected = (store.path / REJECTED).read_bytes().splitlines()
    assert len(rejected) == 4 and rejected[0] == first  # kept aside, not deleted
    assert store.repair() == (3, 0)


def test_resume_refuses_an_edited_config_naming_the_keys(tmp_path: Path):
    store = _store(tmp_path)
    store.check_config({"experiment": "x", "seed": 0})
    with pytest.raises(OversightError, match=r"differs .*\(judge, seed\)"):
        store.check_config({"experiment": "x", "seed": 1, "judge": {"budget": 3}})


def test_a_start_that_did_no_work_leaves_no_folder(tmp_path: Path):
    empty = RunStore(tmp_path / "empty")
    empty.create("a: 1\n", {"a": 1})
    assert empty.discard_if_unstarted() and not empty.path.exists()
    assert not _store(tmp_path).discard_if_unstarted()


def test_atomic_writes_leave_the_old_file_on_failure(tmp_path: Path):
    path = write_atomic(tmp_path / "m.json", "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old" and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("content", [b"", b"\x80\x02garbage"])
def test_damaged_checkpoints_fail_in_one_line(tmp_path: Path, content: bytes):
    torch = pytest.importorskip("torch")
    path = tmp_path / "pointer.pt"
    path.write_bytes(content)
    with pytest.raises(OversightError, match=r"pointer\.pt: unreadable pointer checkpoint"):
        read_checkpoint(path, lambda p: torch.load(p, weights_only=True), "pointer")


def test_cli_resume_and_repair_end_to_end(tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["run", "offense-defense-quick", "--out", str(out), "--quiet"]
    assert runner.invoke(app, [*args, "--set", "problems=2"]).exit_code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config = (out / "config.yaml").read_text()
    (out / "config.yaml").write_text(config.replace("seed: 0", "seed: 7"))
    edited = runner.invoke(app, ["run", "--resume", str(out)])
    assert edited.exit_code == 2 and "(seed)" in edited.output
    assert len(edited.output.strip().splitlines()) == 1  # one line, no config dump
    (out / "config.yaml").write_text(config)
    path = out / TRANSCRIPTS
    path.write_bytes(path.read_bytes() + path.read_bytes().split(b"\n")[0] + b"\n")
    assert runner.invoke(app, ["run", "--resume", str(out), "--quiet"]).exit_code == 2
    repaired = runner.invoke(app, ["repair", str(out)])
    assert repaired.exit_code == 0 and "moved 1 lines" in repaired.output
    assert runner.invoke(app, ["run", "--resume", str(out), "--quiet"]).exit_code == 0
    assert json.loads((out / "metrics.json").read_text()) == metrics
