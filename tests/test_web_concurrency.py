"""Many judges at once against a real server: no verdict lost, no item assigned twice."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import httpx

from oversight.web.app import create_app
from oversight.web.db import Database
from oversight.web.models import Assignment, VerdictRow
from web_support import SECRET, assignment_of, csrf_of, live_server, program_transcripts

JUDGES = 8
AUTH = {"Authorization": f"Bearer {SECRET}"}


def test_simultaneous_verdicts_and_enqueues(tmp_path: Path):
    transcripts = program_transcripts(4)
    first, later = transcripts[:8], transcripts[8:]
    app = create_app(tmp_path / "db.sqlite", SECRET)
    spec = {
        "name": "load",
        "arms": [{"name": "unassisted"}, {"name": "assisted", "source": "*"}],
        "judges": JUDGES,
        "catch_trials": 1,
    }
    outcomes: Counter[int] = Counter()
    lock = threading.Lock()
    with live_server(app) as base:
        study = httpx.post(
            f"{base}/api/studies",
            headers=AUTH,
            json={"spec": spec, "transcripts": [json.loads(t.model_dump_json()) for t in first]},
        ).json()
        start = threading.Barrier(2 * JUDGES + 1)

        def judge(token: str, barrier: threading.Barrier) -> None:
            with httpx.Client(base_url=base, timeout=60) as client:
                barrier.wait()
                while (page := client.get(f"/j/{token}").text) and (a := assignment_of(page)):
                    r = client.post(
                        f"/j/{token}/a/{a}/verdict",
                        data={"csrf": csrf_of(page), "decision": "accept", "sure": "70"},
                    )
                    with lock:
                        outcomes[r.status_code] += 1

        def enqueue() -> None:
            start.wait()
            for arm in ("unassisted", "assisted"):
                body = [json.loads(t.model_dump_json()) for t in later if t.arm == arm]
                r = httpx.post(
                    f"{base}/api/studies/{study['id']}/items",
                    headers=AUTH,
                    json={"arm": arm, "transcripts": body},
                    timeout=60,
                )
                assert r.status_code == 200, r.text

        # two threads per judge: the same person submitting from two tabs at once
        threads = [
            threading.Thread(target=judge, args=(j["token"], start)) for j in study["judges"]
        ]
        threads += [
            threading.Thread(target=judge, args=(j["token"], start)) for j in study["judges"]
        ]
        threads.append(threading.Thread(target=enqueue))
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        # the enqueued items may land after some judges finished: let one pass finish them
        for j in study["judges"]:
            judge(j["token"], threading.Barrier(1))
    db = Database(tmp_path / "db.sqlite")
    with db.session() as s:
        assignments = s.query(Assignment).all()
        verdicts = s.query(VerdictRow).all()
        per_item_arm = Counter((a.item_id, a.arm) for a in assignments if not a.item.is_catch)
    assert set(outcomes) <= {303, 400}  # 400: the other tab's verdict was already in
    assert outcomes[303] == len(verdicts) == len(assignments) == 4 * 2 + JUDGES + 4 * 2
    assert len({v.assignment_id for v in verdicts}) == len(verdicts)
    assert set(Counter((a.item_id, a.judge_id) for a in assignments).values()) == {1}
    assert set(per_item_arm.values()) == {1} and len(per_item_arm) == 8 * 2
