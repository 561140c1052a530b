"""The human judge: verdicts come from people judging in the web app (``oversight serve``).

:class:`HumanJudge` is a Judge like any other: ``rule(episodes)`` enqueues each episode's artifact
(with the messages the judge may see) as an item of a study under one arm, then polls the app
until people have given every verdict, and returns them as :class:`Verdict` records, with the
checks they paid for appended to ``episode.checks``. So a human study runs through the same
protocols, records, metrics and reports as a simulated one.

It talks to the app over its JSON API (the admin secret as a bearer token), so the app may run in
another process or on another machine. Enqueuing is idempotent (an item is keyed by its
artifact id), so rerunning after a timeout picks up the verdicts already given. With several
judgments per item the verdict is the majority (a tie rejects), its confidence the mean.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from oversight.core.errors import OversightError
from oversight.core.records import Check, Transcript, Verdict
from oversight.protocols.engine import Episode


class HumanTimeout(OversightError):
    """People did not give every verdict in time; those given are kept in the app."""


class HumanJudge:
    """Rules through people judging in the app (see module docstring)."""

    def __init__(
        self,
        url: str,
        admin_secret: str,
        study_id: int,
        arm: str,
        *,
        timeout: float = 24 * 3600.0,
        poll: float = 2.0,
        name: str = "human",
    ):
        self.url = url.rstrip("/")
        self.study_id = study_id
        self.arm = arm
        self.timeout = timeout
        self.poll = poll
        self.name = name
        self._headers = {"Authorization": f"Bearer {admin_secret}"}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        response = httpx.request(
            method,
            f"{self.url}/api/studies/{self.study_id}{path}",
            headers=self._headers,
            timeout=30.0,
            **kwargs,
        )
        if response.status_code != 200:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise OversightError(f"judging app: {method} {path or '/'}: {detail}")
        return response.json()

    def rule(self, episodes: Sequence[Episode[Any]]) -> list[Verdict]:
        if not episodes:
            return []
        study = self._call("GET", "")
        needed = int(study["judgments_per_item"])
        records = [
            Transcript(
                episode_id=e.episode_id,
                protocol="",
                arm=self.arm,
                problem=e.problem,
                artifact=e.artifact,
                messages=e.visible(to_judge=True),
            ).model_dump(mode="json")
            for e in episodes
        ]
        self._call("POST", "/items", json={"arm": self.arm, "transcripts": records})
        keys = [e.artifact.id for e in episodes]
        deadline = time.monotonic() + self.timeout
        while True:
            given: dict[str, list[Transcript]] = {}
            for raw in self._call("GET", "/verdicts", params={"arm": self.arm}):
                t = Transcript.model_validate(raw)
                given.setdefault(str(t.meta["item"]), []).append(t)
            waiting = [k for k in keys if len(given.get(k, [])) < needed]
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise HumanTimeout(
                    f"{len(waiting)} of {len(keys)} items still wait for verdicts after "
                    f"{self.timeout:g} s (study {self.study_id}, arm {self.arm!r}); the verdicts "
                    "given are kept, so running again picks them up"
                )
            time.sleep(self.poll)
        out = []
        for e, key in zip(episodes, keys, strict=True):
            judged = given[key][:needed]
            for t in judged:
                e.checks.extend(
                    Check(
                        kind=c.kind,
                        args={**c.args, "judge": t.meta["judge"]},
                        cost=c.cost,
                        result=c.result,
                    )
                    for c in t.checks
                )
            out.append(_combine([t.verdict for t in judged if t.verdict is not None]))
        return out


def _combine(verdicts: list[Verdict]) -> Verdict:
    """One person's verdict as given; several people's by majority (a tie rejects)."""
    if len(verdicts) == 1:
        return verdicts[0]
    accept = 2 * sum(v.accept for v in verdicts) > len(verdicts)
    confidences = [v.confidence for v in verdicts if v.confidence is not None]
    return Verdict(
        accept=accept,
        confidence=sum(confidences) / len(confidences) if confidences else None,
        rule="human_majority",
        budget=verdicts[0].budget,
        spent=sum(v.spent for v in verdicts),
    )
