"""Export of transcripts as TRL reward-model datasets: labels come from the judge (gold only
when asked), pairs stay within one problem and arm, files hold TRL's keys and the arm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oversight.cli import app
from oversight.core.errors import OversightError
from oversight.core.records import Artifact, Gold, Problem, Transcript, Verdict
from oversight.core.runs import RunStore
from oversight.learning.export import (
    PreferenceRow,
    UnpairedRow,
    export_run,
    preferences_from_transcripts,
    prompt_for,
    read_rows,
    unpaired_from_transcripts,
    write_rows,
)

R1 = "out = x + 1\nout = out + 1\nout = out + 0"
R2 = "out = x * 3\nout = out ^ 0"


def make(
    content: str,
    accept: bool | None,
    gold: bool | None,
    *,
    reference: str = R1,
    arm: str = "a",
    saving: float | None = 1.0,
) -> Transcript:
    """One hand-made episode; ``None`` leaves out the verdict or the gold record."""
    pid = f"p{reference == R2:d}"
    aid = f"{arm}/{pid}/{content}"
    return Transcript(
        episode_id=aid,
        protocol="direct",
        arm=arm,
        problem=Problem(id=pid, env="programs", seed=0, data={"bits": 8, "reference": reference}),
        artifact=Artifact(
            id=aid, problem_id=pid, content=content, claimed_saving=saving, author="m"
        ),
        verdict=None if accept is None else Verdict(accept=accept),
        gold=None if gold is None else Gold(label=gold, value=0.0, kind="honest"),
    )


# Gold disagrees with the judge on P1 and P2: the judge accepted a backdoor (P1) and
# rejected a good program (P2).
EPISODES = [
    make("P1", accept=True, gold=False, saving=2.0),
    make("P2", accept=False, gold=True, saving=1.0),
    make("P3", accept=False, gold=False, saving=0.5),
]


def test_prompt_holds_the_task_and_the_reference():
    prompt = prompt_for(EPISODES[0])
    assert R1 in prompt
    assert "same output" in prompt and "every 8-bit input" in prompt and "fewer lines" in prompt
    assert "8-bit" in prompt


def test_prompt_needs_a_reference_program():
    t = EPISODES[0].model_copy(deep=True)
    t.problem.data = {"image": [0, 1]}
    with pytest.raises(OversightError, match="no reference program"):
        prompt_for(t)


def test_preferences_follow_the_judge_even_where_gold_disagrees():
    prompt = prompt_for(EPISODES[0])
    assert preferences_from_transcripts(EPISODES) == [
        PreferenceRow(prompt=prompt, chosen="P1", rejected="P2", arm="a"),
        PreferenceRow(prompt=prompt, chosen="P1", rejected="P3", arm="a"),
    ]


def test_preferences_follow_gold_only_when_asked():
    prompt = prompt_for(EPISODES[0])
    assert preferences_from_transcripts(EPISODES, label_source="gold") == [
        PreferenceRow(prompt=prompt, chosen="P2", rejected="P1", arm="a"),
        PreferenceRow(prompt=prompt, chosen="P2", rejected="P3", arm="a"),
    ]


def test_judge_labels_never_read_gold():
    no_gold = [t.model_copy(update={"gold": None}) for t in EPISODES]
    assert preferences_from_transcripts(no_gold) == preferences_from_transcripts(EPISODES)
    assert unpaired_from_transcripts(no_gold) == unpaired_from_transcripts(EPISODES)
    assert preferences_from_transcripts(no_gold, label_source="gold") == []


def test_unpaired_rows_carry_the_verdict():
    prompt = prompt_for(EPISODES[0])
    assert unpaired_from_transcripts(EPISODES) == [
        UnpairedRow(prompt=prompt, completion="P1", label=True, arm="a"),
        UnpairedRow(prompt=prompt, completion="P2", label=False, arm="a"),
        UnpairedRow(prompt=prompt, completion="P3", label=False, arm="a"),
    ]
    gold = unpaired_from_transcripts(EPISODES, label_source="gold")
    assert [r.label for r in gold] == [False, True, False]


def test_unknown_label_source_is_an_error():
    with pytest.raises(OversightError, match="allowed: judge, gold"):
        unpaired_from_transcripts(EPISODES, label_source="oracle")  # type: ignore[arg-type]


def test_pairs_stay_within_problem_and_arm_and_skip_duplicates():
    episodes = [
        make("A", True, None),
        make("A", True, None),  # same text again: one row
        make("B", False, None),
        make("A", False, None),  # A rejected too: never paired with itself
        make("C", False, None, reference=R2),  # another problem, nothing accepted there
        make("D", False, None, arm="b"),  # another arm, nothing accepted there
        make("E", None, None),  # no verdict: no label
    ]
    rows = preferences_from_transcripts(episodes)
    assert [(r.chosen, r.rejected) for r in rows] == [("A", "B")]
    assert [(r.completion, r.label) for r in unpaired_from_transcripts(episodes)] == [
        ("A", True),
        ("B", False),
        ("A", False),
        ("C", False),
        ("D", False),
    ]


def test_arm_filter_and_unknown_arm():
    episodes = [*EPISODES, make("Q", True, None, arm="b"), make("S", False, None, arm="b")]
    assert [(r.chosen, r.rejected) for r in preferences_from_transcripts(episodes, arm="b")] == [
        ("Q", "S")
    ]
    assert len(preferences_from_transcripts(episodes)) == 3
    with pytest.raises(OversightError, match="unknown arm 'c'; arms in this run: 'a', 'b'"):
        preferences_from_transcripts(episodes, arm="c")


def test_margin_is_the_claimed_saving_gap():
    rows = preferences_from_transcripts(EPISODES, margin="saving")
    assert [r.margin for r in rows] == [1.0, 1.5]
    bare = [make("X", True, None, saving=None), make("Y", False, None)]
    with pytest.raises(OversightError, match="artifact a/p0/X has none"):
        preferences_from_transcripts(bare, margin="saving")


def test_cap_draws_a_seeded_sample_per_problem():
    episodes = [make(f"G{i}", True, None) for i in range(4)]
    episodes += [make(f"B{i}", False, None) for i in range(4)]
    episodes += [make("G", True, None, reference=R2), make("B", False, None, reference=R2)]
    full = preferences_from_transcripts(episodes)
    capped = preferences_from_transcripts(episodes, cap=3, seed=7)
    assert len(full) == 17 and len(capped) == 4  # 3 from the first problem, 1 from the second
    assert capped == preferences_from_transcripts(episodes, cap=3, seed=7)
    assert set(capped) <= set(full)
    samples = {tuple(preferences_from_transcripts(episodes, cap=3, seed=s)) for s in range(10)}
    assert len(samples) > 1


def test_jsonl_keys_are_exactly_trl_and_read_back_equal(tmp_path):
    pref = preferences_from_transcripts(EPISODES)
    with_margin = preferences_from_transcripts(EPISODES, margin="saving")
    unpaired = unpaired_from_transcripts(EPISODES)
    for name, rows, model, keys in [
        ("p.jsonl", pref, PreferenceRow, {"prompt", "chosen", "rejected", "arm"}),
        ("m.jsonl", with_margin, PreferenceRow, {"prompt", "chosen", "rejected", "margin", "arm"}),
        ("u.jsonl", unpaired, UnpairedRow, {"prompt", "completion", "label", "arm"}),
    ]:
        path = write_rows(tmp_path / name, rows)
        lines = path.read_text().splitlines()
        assert len(lines) == len(rows)
        assert all(set(json.loads(line)) == keys for line in lines)
        assert read_rows(path, model) == rows


def test_read_rows_of_a_missing_file(tmp_path):
    with pytest.raises(OversightError, match="no such file"):
        read_rows(tmp_path / "none.jsonl", UnpairedRow)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    args = ["run", "offense-defense-quick", "--set", "learned.enabled=false"]
    args += ["--set", "problems=2", "--set", "adaptive.enabled=false", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_export_run_writes_trl_files(run_dir, tmp_path):
    paths = export_run(run_dir, tmp_path / "data")
    assert set(paths) == {"preference", "unpaired"}
    assert paths["preference"].name == "preference.jsonl"
    assert paths["unpaired"].name == "unpaired.jsonl"
    pref = read_rows(paths["preference"], PreferenceRow)
    unpaired = read_rows(paths["unpaired"], UnpairedRow)
    assert pref and unpaired
    transcripts = RunStore(run_dir).transcripts()
    references = {t.problem.data["reference"] for t in transcripts}
    assert all(any(ref in r.prompt for ref in references) for r in pref)
    assert {r.label for r in unpaired} == {True, False}
    arms = {t.arm for t in transcripts}
    for line in paths["preference"].read_text().splitlines():
        row = json.loads(line)
        assert set(row) == {"prompt", "chosen", "rejected", "arm"} and row["arm"] in arms


def test_export_run_by_arm_uses_only_that_arm(run_dir, tmp_path):
    transcripts = RunStore(run_dir).transcripts()
    arm = transcripts[0].arm
    paths = export_run(run_dir, tmp_path, arm=arm)
    unpaired = read_rows(paths["unpaired"], UnpairedRow)
    accepted = {t.artifact.content for t in transcripts if t.arm == arm and t.verdict.accept}
    assert {r.completion for r in unpaired if r.label} == accepted


def test_export_run_names_the_arms_for_an_unknown_arm(run_dir, tmp_path):
    with pytest.raises(OversightError, match="unknown arm 'nope'; arms in this run: ") as err:
        export_run(run_dir, tmp_path, arm="nope")
    assert "'assisted_guided'" in str(err.value) and "'unassisted_random'" in str(err.value)
    assert not (tmp_path / "preference.jsonl").exists()


def test_export_run_without_transcripts(tmp_path):
    with pytest.raises(OversightError, match="holds no transcripts"):
        export_run(tmp_path, tmp_path / "out")
    with pytest.raises(OversightError, match="no such run folder"):
        export_run(tmp_path / "missing", tmp_path / "out")


def test_cli_export_takes_margin_and_cap(run_dir, tmp_path):
    full = tmp_path / "full"
    result = CliRunner().invoke(app, ["export", str(run_dir), "--out", str(full)])
    assert result.exit_code == 0, result.output
    capped = tmp_path / "capped"
    args = ["export", str(run_dir), "--out", str(capped), "--margin", "saving", "--cap", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_rows(capped / "preference.jsonl", PreferenceRow)
    every = read_rows(full / "preference.jsonl", PreferenceRow)
    groups = {(r.arm, r.prompt) for r in every}
    assert len(rows) == len(groups) < len(every)  # one pair per problem and arm
    assert all(r.margin is not None for r in rows) and all(r.margin is None for r in every)
    bad = CliRunner().invoke(app, ["export", str(run_dir), "--margin", "size"])
    assert bad.exit_code == 2 and "allowed: saving" in bad.output


def text_episode(display: str, choice: int | None, correct: int, arm: str = "debate") -> Transcript:
    """A text episode showing Monday and Friday in the order ``display`` names."""
    shown = ["Monday", "Friday"] if display == "o0" else ["Friday", "Monday"]
    return Transcript(
        episode_id=f"{arm}/s1/{display}",
        protocol=arm,
        arm=arm,
        problem=Problem(
            id="s1",
            env="text",
            seed=0,
            data={"question": "When?", "answers": ["Monday", "Friday"], "source": "secret"},
        ),
        artifact=Artifact(
            id=f"s1/{display}",
            problem_id="s1",
            content=f"A: {shown[0]}\nB: {shown[1]}\nProposed: A",
        ),
        verdict=Verdict(accept=choice == 0, choice=choice, probs=[0.5, 0.5]),
        gold=Gold(label=correct == 0, value=0.0, kind="text", info={"correct": correct}),
    )


def test_text_episodes_export_the_judges_chosen_answer():
    # The judge picks Friday in both orders; gold says Monday. One episode was not judged.
    episodes = [text_episode("o0", 1, 0), text_episode("o1", 0, 1), text_episode("o1", None, 1)]
    (pref,) = preferences_from_transcripts(episodes)
    assert pref == PreferenceRow(
        prompt="Question: When?\nAnswer:", chosen=" Friday", rejected=" Monday", arm="debate"
    )
    assert "secret" not in pref.prompt  # the hidden source is never in the data
    (gold,) = preferences_from_transcripts(episodes, "gold")
    assert (gold.chosen, gold.rejected) == (" Monday", " Friday")
    unpaired = unpaired_from_transcripts(episodes)
    assert {(r.completion, r.label) for r in unpaired} == {(" Friday", True), (" Monday", False)}


def test_conversational_rows_hold_turns(tmp_path):
    from oversight.learning.export import ChatPreferenceRow, conversational, read_preferences

    row = conversational(preferences_from_transcripts([text_episode("o0", 1, 0)])[0])
    path = write_rows(tmp_path / "chat.jsonl", [row])
    data = json.loads(path.read_text())
    assert data == {
        "prompt": [{"role": "user", "content": "Question: When?\nAnswer:"}],
        "chosen": [{"role": "assistant", "content": "Friday"}],
        "rejected": [{"role": "assistant", "content": "Monday"}],
        "arm": "debate",
    }
    assert read_preferences(path) == [row] and isinstance(row, ChatPreferenceRow)
    plain = write_rows(tmp_path / "plain.jsonl", preferences_from_transcripts(EPISODES))
    assert all(isinstance(r, PreferenceRow) for r in read_preferences(plain))


def test_cli_exports_a_text_run_in_either_type(tmp_path):
    run = tmp_path / "run"
    args = ["run", "text-debate-quick", "--set", "tournament.enabled=false", "--set", "sweeps={}"]
    result = CliRunner().invoke(app, [*args, "--out", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    transcripts = RunStore(run).transcripts()
    for chat in (False, True):
        out = tmp_path / f"export-{chat}"
        flags = ["--chat"] if chat else []
        result = CliRunner().invoke(app, ["export", str(run), "--out", str(out), *flags])
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in (out / "preference.jsonl").read_text().splitlines()]
        assert rows and {r["arm"] for r in rows} <= {t.arm for t in transcripts}
        questions = {t.problem.data["question"] for t in transcripts}
        for r in rows:
            prompt = r["prompt"][0]["content"] if chat else r["prompt"]
            assert prompt.removeprefix("Question: ").removesuffix("\nAnswer:") in questions
            assert isinstance(r["chosen"], list) == chat
