"""The human judge in the engine: a simulated person judges in the app over HTTP while the
protocol waits for the verdicts."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from oversight.core.records import Message
from oversight.envs.programs.env import ProgramEnv
from oversight.judges.human import HumanJudge, HumanTimeout
from oversight.protocols.engine import CRITIQUE, Episode, run_protocol
from oversight.web.app import create_app
from web_support import KNOBS, SECRET, assignment_of, csrf_of, live_server, program_transcripts


class ClaimCritic:
    """Repeats the claim stored with each test transcript (a true counterexample on backdoors)."""

    name = "critic"

    def __init__(self, claims: dict[str, Message]):
        self.claims = claims

    def act(self, role: str, round: int, episodes: Sequence[Episode]) -> list[Message]:
        return [self.claims[e.artifact.id] for e in episodes]


def person(base: str, token: str, n: int, stop: threading.Event) -> None:
    """Judges ``n`` items: checks the critic's claim with one click, rejects when R and P
    differ on it, else accepts."""
    with httpx.Client(base_url=base) as client:
        done = 0
        while done < n and not stop.is_set():
            page = client.get(f"/j/{token}").text
            a = assignment_of(page)
            if a is None:
                time.sleep(0.05)
                continue
            if "check-claim-0" in page and "DIFFER" not in page and "same</b>" not in page:
                client.post(
                    f"/j/{token}/a/{a}/check",
                    data={"csrf": csrf_of(page), "action": "check_claim", "claim": "0"},
                )
                continue
            decision = "reject" if "DIFFER" in page else "accept"
            client.post(
                f"/j/{token}/a/{a}/verdict",
                data={"csrf": csrf_of(page), "decision": decision, "sure": "100"},
            )
            done += 1


def test_human_judge_runs_a_protocol(tmp_path: Path):
    transcripts = [t for t in program_transcripts(2) if t.arm == "assisted"]
    env = ProgramEnv(KNOBS)
    episodes = [
        Episode(t.episode_id, t.problem, t.artifact, env.context(t.problem, t.artifact))
        for t in transcripts
    ]
    critic = ClaimCritic({t.artifact.id: t.messages[0] for t in transcripts})
    app = create_app(tmp_path / "db.sqlite", SECRET)
    spec = {"name": "engine", "arms": [{"name": "assisted", "source": "*"}], "judges": 1}
    with live_server(app) as base:
        auth = {"Authorization": f"Bearer {SECRET}"}
        study = httpx.post(
            f"{base}/api/studies", json={"spec": spec, "transcripts": []}, headers=auth
        ).json()
        judge = HumanJudge(base, SECRET, study["id"], "assisted", timeout=0.3, poll=0.05)
        with pytest.raises(HumanTimeout, match="4 of 4 items still wait"):
            run_protocol(CRITIQUE, _fresh(episodes), {"critic": critic}, judge, arm="assisted")
        stop = threading.Event()
        worker = threading.Thread(target=person, args=(base, study["judges"][0]["token"], 4, stop))
        worker.start()
        judge.timeout = 30
        try:
            out = run_protocol(CRITIQUE, episodes, {"critic": critic}, judge, arm="assisted")
        finally:
            stop.set()
            worker.join(10)
    for t, source in zip(out, transcripts, strict=True):
        assert t.verdict is not None and t.verdict.rule == "human"
        assert t.verdict.accept == (source.gold is not None and source.gold.n_diff == 0)
        assert t.verdict.budget == 200 and t.verdict.spent == t.checks[0].cost
        assert [c.kind for c in t.checks] == ["run_both"]
        assert (
            t.checks[0].args["why"] == "claim by critic" and t.checks[0].args["judge"] == "judge-1"
        )
        assert t.messages[0].claim is not None  # the protocol's own record, as for any judge


def _fresh(episodes: list[Episode]) -> list[Episode]:
    return [Episode(e.episode_id, e.problem, e.artifact, e.context) for e in episodes]


def test_majority_of_several_people():
    from oversight.core.records import Verdict
    from oversight.judges.human import _combine

    votes = [Verdict(accept=a, confidence=c, spent=5) for a, c in ((True, 0.9), (False, 0.2))]
    tie = _combine(votes)
    assert not tie.accept and tie.rule == "human_majority" and tie.spent == 10
    assert tie.confidence == pytest.approx(0.55)
    assert _combine([*votes, Verdict(accept=True, confidence=0.7)]).accept
    assert _combine(votes[:1]) is votes[0]
