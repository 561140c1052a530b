"""The offline text-debate experiment: quick run, run folder, resume, config errors."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from oversight.cli import app
from oversight.core.records import Transcript
from oversight.experiments.text_debate.config import TextDebateConfig
from oversight.experiments.text_debate.run import plan
from oversight.protocols.text import TEXT_PROTOCOLS

runner = CliRunner()


def test_quick_run_writes_its_folder_and_resume_redoes_nothing(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "text-debate", "--quick", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "debate-sequential" in result.output
    cfg = TextDebateConfig.model_validate(yaml.safe_load((out / "config.yaml").read_text()))
    metrics = json.loads((out / "metrics.json").read_text())
    for p in TEXT_PROTOCOLS:
        for name in ("accuracy", "log_loss", "brier", "ece"):
            assert f"{name}.{p}" in metrics and f"{name}.{p}.ci_low" in metrics
    for v in cfg.tournament.variants:
        assert f"tournament.bt.{v.name}" in metrics
        assert f"tournament.self_play_accuracy.{v.name}" in metrics
    html = (out / "report.html").read_text()
    for title in ("Protocols compared", "Sweep: liar fabrication", "Sweep: story difficulty",
                  "Calibration", "Tournament", "Judge accuracy vs debater rating"):  # fmt: skip
        assert title in html
    lines = (out / "transcripts.jsonl").read_text().splitlines()
    expected = sum(len(job.todo) for job in plan(cfg, set()))
    assert len(lines) == expected == metrics["episodes"]
    ts = [Transcript.model_validate_json(line) for line in lines]
    assert len({t.episode_id for t in ts}) == len(ts)
    spans = [(t, q) for t in ts for q in t.meta["quotes"] if q["verified"]]
    assert spans and all(
        " ".join(t.problem.data["source"][q["start"] : q["end"]].split())
        == " ".join(q["text"].split())
        for t, q in spans
    )
    assert all(t.gold is not None and t.verdict.probs for t in ts)

    again = runner.invoke(app, ["run", "--resume", str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    assert len((out / "transcripts.jsonl").read_text().splitlines()) == len(lines)
    assert json.loads((out / "metrics.json").read_text()) == metrics

    # A crash mid-write: half the episodes and a torn line. Resume plays only what is missing
    # and, every choice being seeded by episode id, ends with the same measurements.
    half = "\n".join(lines[: len(lines) // 2]) + "\n" + lines[len(lines) // 2][:40]
    (out / "transcripts.jsonl").write_text(half)
    again = runner.invoke(app, ["run", "--resume", str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    resumed = (out / "transcripts.jsonl").read_text().splitlines()
    assert sorted(resumed) == sorted(lines)
    assert json.loads((out / "metrics.json").read_text()) == metrics


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("difficulty=extreme", "difficulty 'extreme' is not a level"),
        ("protocols=[chess]", "unknown protocols ['chess']"),
        ("tournament.variants=[{name: solo}]", "at least two variants"),
        ("sweeps.trust_unverified=[2]", "must lie in [0, 1]"),
        ("judge.trust=1", "unknown key 'judge.trust'"),
        ("tournament.stories=99", "exceeds stories"),
    ],
)
def test_bad_configs_are_refused_with_the_key(tmp_path, override, expected):
    out = tmp_path / "r"
    result = runner.invoke(app, ["run", "text-debate-quick", "--set", override, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split())
    assert not out.exists()
