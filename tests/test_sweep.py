"""Sweeps (`oversight sweep`): grids, seeds, refusals before any work, Ray and the local pool,
the merged table against the runs' own metrics, and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from oversight.cli import app
from oversight.core.errors import OversightError
from oversight.experiments import sweep

FIXED = [
    "problems=2",
    "learned.enabled=false",
    "adaptive.enabled=false",
    "critic_budget_sweep=[0.01]",
    "batch=8",
]
KEY = "judge_accuracy.unassisted"
runner = CliRunner()


def _sets() -> list[str]:
    return [arg for s in FIXED for arg in ("--set", s)]


def test_grid_values_split_outside_brackets_and_bad_grids_are_refused() -> None:
    assert sweep.split_values("[0, 1],[2],3") == ["[0, 1]", "[2]", "3"]
    assert sweep.parse_grid(["a.b=1,2", "c=x"]) == [("a.b", ["1", "2"]), ("c", ["x"])]
    with pytest.raises(OversightError, match="--seeds"):
        sweep.plan("offense-defense-quick", ["seed=1,2"], 1)
    for bad in (["a"], ["a="], ["a=1,"], ["a=1", "a=2"], []):
        with pytest.raises(OversightError):
            sweep.parse_grid(bad)
    assert sweep.seed_override(["seed", "x"], 3) == "seed=3"
    assert sweep.seed_override(["seeds"], 3) == "seeds=[3]"
    run = sweep.Run(("modes=[a, b]",), 1, ())
    assert "/" not in run.folder and " " not in run.folder


def test_plan_is_every_point_and_seed_and_refuses_a_bad_point_before_any_run(
    tmp_path: Path,
) -> None:
    runs = sweep.plan("offense-defense-quick", ["judge.budget=50,400", "batch=8,16"], 2, FIXED)
    assert len(runs) == 8 and len({r.folder for r in runs}) == 8
    assert runs[0].overrides[-1] == "seed=0" and runs[1].overrides[-1] == "seed=1"
    rrm = sweep.plan("rrm-quick", ["judge_budget=16"], 2)
    assert [r.overrides[-1] for r in rrm] == ["seeds=[0]", "seeds=[1]"]
    out = tmp_path / "sweep"
    result = runner.invoke(
        app,
        ["sweep", "offense-defense-quick", "--grid", "judge.budgett=1,2", "--out", str(out)],
    )
    assert result.exit_code == 2 and "budgett" in result.output
    assert not out.exists()  # refused before any work
    result = runner.invoke(
        app, ["sweep", "offense-defense-quick", "--grid", "judge.budget=50,abc", "--out", str(out)]
    )
    assert result.exit_code == 2 and "judge.budget" in result.output and "abc" in result.output


def test_sweep_on_ray_merges_runs_and_resumes_on_the_local_pool(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = [
        "sweep",
        "offense-defense-quick",
        *_sets(),
        "--grid",
        "judge.budget=50,400",
        "--seeds",
        "2",
        "--metric",
        KEY,
        "--out",
        str(out),
        "--quiet",
    ]
    result = runner.invoke(app, [*args, "--backend", "ray", "--workers", "2"])
    assert result.exit_code == 0, result.output
    merged = json.loads((out / "sweep.json").read_text())
    assert len(merged["runs"]) == 4
    for point in merged["points"]:
        per_seed = [
            json.loads((out / r["folder"] / "metrics.json").read_text())[KEY]
            for r in merged["runs"]
            if r["point"] == point["point"]
        ]
        assert len(per_seed) == 2 and point[KEY] == pytest.approx(np.mean(per_seed))
        assert point[f"{KEY}.n"] == 2
    # seeds differ (their own problems), so the runs are not copies of one another
    values = [r["metrics"][KEY] for r in merged["runs"]]
    assert (
        len(set(values)) > 1
        or len({r["metrics"]["catch_rate.assisted"] for r in merged["runs"]}) > 1
    )
    html = (out / "report.html").read_text()
    assert KEY in html and "data:image/png;base64," in html
    assert KEY in result.output

    # Resume: finished runs are skipped; a run without metrics is redone on the local pool,
    # and comes out as it did on Ray.
    redo = out / merged["runs"][1]["folder"]
    kept = out / merged["runs"][0]["folder"] / "metrics.json"
    before = kept.stat().st_mtime_ns
    lost = json.loads((redo / "metrics.json").read_text())
    (redo / "metrics.json").unlink()
    result = runner.invoke(app, [*args, "--backend", "local", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert kept.stat().st_mtime_ns == before
    assert json.loads((redo / "metrics.json").read_text())[KEY] == lost[KEY]
    assert json.loads((out / "sweep.json").read_text())["points"] == merged["points"]


def test_unknown_metric_names_similar_keys() -> None:
    runs = [sweep.Run(("a=1",), 0, ())]
    with pytest.raises(OversightError, match=r"similar keys: judge_accuracy\.unassisted"):
        sweep.merge(runs, [{KEY: 0.5}], ["judge_accuracy.unasisted"])
    merged = sweep.merge(runs, [{KEY: 0.5, "n": "x"}])
    assert merged.keys == [KEY]  # numeric keys only by default
