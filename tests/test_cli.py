"""The CLI end to end on a tiny config, config errors, and resume after an interruption."""

import json

import pytest
from typer.testing import CliRunner

from oversight.cli import app
from oversight.core.jsonl import read_jsonl
from oversight.core.records import Transcript
from oversight.core.runs import RunStore

TINY = [
    "--set",
    "problems=2",
    "--set",
    "learned.enabled=false",
    "--set",
    "adaptive.candidates=2",
    "--set",
    "critic_budget_sweep=[0.001, 0.01]",
    "--set",
    "batch=8",
]
runner = CliRunner()


def test_help_explains_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "run" in result.output and "configs" in result.output
    assert "--resume" in runner.invoke(app, ["run", "--help"]).output


def test_run_writes_the_run_folder(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", "offense-defense-quick", *TINY, "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "catch_rate.unassisted",
        "catch_rate.assisted",
        "false_alarm_rate.assisted",
        "judge_accuracy.unassisted",
        "judge_accuracy.assisted",
        "acceptance_precision.assisted",
    ):
        assert key in metrics and f"{key}.ci_low" in metrics and f"{key}.n" in metrics
    assert metrics["judge_spent_max.assisted_guided"] <= metrics["judge_budget.assisted_guided"]
    assert "problems: 2" in (out / "config.yaml").read_text()
    html = (out / "report.html").read_text()
    assert "Safety vs audit budget" in html and "data:image/png;base64," in html
    transcripts = list(read_jsonl(out / "transcripts.jsonl", Transcript))
    assert transcripts and all(t.gold is not None and t.verdict is not None for t in transcripts)
    assert "Judge outcomes" in result.output and "assisted_guided" in result.output


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("judge.budgett=3", "unknown key 'judge.budgett'; allowed keys here: budget, noise"),
        ("judge.strategy=smart", "judge.strategy: Input should be 'random' or 'informed'"),
        ("attack.families=[literal,magic]", "allowed: literal, linear, mixing, spread"),
        ("problemz=3", "unknown key 'problemz'"),
    ],
)
def test_config_errors_name_the_key(tmp_path, override, expected):
    result = runner.invoke(
        app, ["run", "offense-defense-quick", "--set", override, "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_missing_config_file(tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "no config file" in result.output


def test_resume_after_interruption_redoes_nothing(tmp_path, monkeypatch):
    full = tmp_path / "full"
    assert (
        runner.invoke(
            app, ["run", "offense-defense-quick", *TINY, "--out", str(full), "--quiet"]
        ).exit_code
        == 0
    )
    expected = [t.episode_id for t in read_jsonl(full / "transcripts.jsonl", Transcript)]

    calls = {"n": 0}
    original = RunStore.append

    def crash_after_three(self, transcripts):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("killed")
        original(self, transcripts)

    part = tmp_path / "part"
    monkeypatch.setattr(RunStore, "append", crash_after_three)
    with pytest.raises(RuntimeError, match="killed"):
        runner.invoke(
            app,
            ["run", "offense-defense-quick", *TINY, "--out", str(part), "--quiet"],
            catch_exceptions=False,
        )
    monkeypatch.setattr(RunStore, "append", original)
    before = (part / "transcripts.jsonl").read_text()
    kept = [t.episode_id for t in read_jsonl(part / "transcripts.jsonl", Transcript)]
    assert 0 < len(kept) < len(expected)

    result = runner.invoke(app, ["run", "--resume", str(part), "--quiet"])
    assert result.exit_code == 0, result.output
    after = (part / "transcripts.jsonl").read_text()
    assert after.startswith(before)  # nothing finished was lost or rewritten
    ids = [t.episode_id for t in read_jsonl(part / "transcripts.jsonl", Transcript)]
    assert len(ids) == len(set(ids))  # nothing redone
    assert sorted(ids) == sorted(expected)
    same = json.loads((full / "metrics.json").read_text())
    assert json.loads((part / "metrics.json").read_text()) == same  # same results as one go


def test_resume_refuses_a_config(tmp_path):
    result = runner.invoke(app, ["run", "x.yaml", "--resume", str(tmp_path)])
    assert result.exit_code == 2


def test_oracle_command(tmp_path):
    r = tmp_path / "r.dsl"
    r.write_text("# reference\nout = x + 1\nif x == 5: out = 0\nv = x * 3\n")
    p = tmp_path / "p.dsl"
    p.write_text("out = x + 1\n")
    result = runner.invoke(app, ["oracle", str(r), str(p), "--bits", "4"])
    assert result.exit_code == 0, result.output
    assert "equivalent: False" in result.output and "saving: 2" in result.output
    assert "first differing inputs: 5" in result.output


def test_malformed_program_names_line_and_column(tmp_path):
    r = tmp_path / "r.dsl"
    r.write_text("out = x + 1\n\nout = out $ 3\n")
    result = runner.invoke(app, ["oracle", str(r), str(r), "--bits", "8"])
    assert result.exit_code == 2
    assert "line 3, column 11: unexpected character '$'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"out = x\n# caf\xe9\n", "r.dsl: line 2, column 6: not UTF-8 text (byte 0xe9)"),
        (b"out = x\x00\n", "r.dsl: line 1, column 8: NUL character"),
        (b"out = " + b"9" * 5000 + b"\n", "r.dsl: line 1, column 7: constant '999"),
        (None, "r.dsl: is a directory, not a program file"),
    ],
    ids=["latin-1", "NUL", "huge literal", "directory"],
)
def test_oracle_bad_program_file(tmp_path, content, expected):
    """A file that is not a program, or a directory, gives one error line and exit code 2."""
    r = tmp_path / "r.dsl"
    if content is None:
        r.mkdir()
    else:
        r.write_bytes(content)
    p = tmp_path / "p.dsl"
    p.write_text("out = x\n")
    result = runner.invoke(app, ["oracle", str(r), str(p), "--bits", "16"])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    assert expected in result.output
    assert "Traceback" not in result.output


def test_oracle_accepts_bom_and_crlf(tmp_path):
    """A UTF-8 byte-order mark and CRLF line ends (as Windows editors write) are accepted."""
    r = tmp_path / "r.dsl"
    r.write_bytes(b"\xef\xbb\xbf# reference\r\nout = x + 1\r\nif x == 5: out = 0\r\n")
    p = tmp_path / "p.dsl"
    p.write_text("out = x + 1\n")
    result = runner.invoke(app, ["oracle", str(r), str(p), "--bits", "4"])
    assert result.exit_code == 0, result.output
    assert "equivalent: False" in result.output and "first differing inputs: 5" in result.output


def test_export_command(tmp_path):
    run = tmp_path / "run"
    assert (
        runner.invoke(
            app, ["run", "offense-defense-quick", *TINY, "--out", str(run), "--quiet"]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        app, ["export", str(run), "--out", str(tmp_path / "e"), "--arm", "assisted_guided"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "e" / "preference.jsonl").read_text().strip()
    assert (tmp_path / "e" / "unpaired.jsonl").read_text().strip()
    bad = runner.invoke(app, ["export", str(run), "--arm", "nope"])
    assert bad.exit_code == 2 and "arms in this run" in bad.output
