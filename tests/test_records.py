import json

import pytest

from oversight.core.errors import OversightError
from oversight.core.jsonl import append_jsonl, read_jsonl
from oversight.core.records import (
    SCHEMA_VERSION,
    Artifact,
    Check,
    Claim,
    Gold,
    Message,
    Problem,
    Transcript,
    Verdict,
)


def transcript(i: int = 0) -> Transcript:
    problem = Problem(id="p", env="programs", seed=1, data={"bits": 8, "reference": "out = x\n"})
    return Transcript(
        episode_id=f"e{i}",
        protocol="critique",
        problem=problem,
        artifact=Artifact(id="a", problem_id="p", content="out = x\n", author="honest"),
        messages=[Message(role="critic", claim=Claim(author="c", suspicion=0.5, input=3))],
        checks=[Check(kind="run_both", args={"input": 3}, cost=2, result={"reference": 3})],
        verdict=Verdict(accept=True, rule="tests_passed", budget=10, spent=2),
        gold=Gold(label=False, value=-10, kind="lazy", n_diff=1, diff_inputs=[3]),
    )


def test_jsonl_round_trip(tmp_path):
    path = tmp_path / "t.jsonl"
    originals = [transcript(i) for i in range(3)]
    assert append_jsonl(path, originals) == 3
    back = list(read_jsonl(path, Transcript))
    assert back == originals
    assert json.loads(path.read_text().splitlines()[0])["schema_version"] == SCHEMA_VERSION
    assert back[0].claims[0].input == 3


def test_wrong_schema_version_is_refused(tmp_path):
    path = tmp_path / "t.jsonl"
    obj = json.loads(transcript().model_dump_json())
    obj["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(obj) + "\n")
    with pytest.raises(OversightError, match="schema_version"):
        list(read_jsonl(path, Transcript))


def test_torn_last_line_is_skipped_and_repaired(tmp_path):
    path = tmp_path / "t.jsonl"
    append_jsonl(path, [transcript(0)])
    with open(path, "a") as f:
        f.write(transcript(1).model_dump_json()[:40])  # a crash mid-write
    assert [t.episode_id for t in read_jsonl(path, Transcript)] == ["e0"]
    append_jsonl(path, [transcript(2)])
    assert [t.episode_id for t in read_jsonl(path, Transcript)] == ["e0", "e2"]


def test_unknown_fields_are_rejected():
    with pytest.raises(ValueError):
        Verdict(accept=True, acept=False)  # type: ignore[call-arg]
