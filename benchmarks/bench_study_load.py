"""A judge's page while a large data set loads into a new study, against the same page idle.

Usage::

    python benchmarks/bench_study_load.py [--quick] [--copies N]

Builds a JSONL data set of N copies of small program studies' transcripts (distinct artifacts),
starts the app in-process (FastAPI's TestClient) with one small study whose judge keeps
opening their page, measures that page idle, then uploads the data set through the admin form
and measures the page while the items load on a thread. Prints the upload's size, how long the
upload request and the loading took, the page's median and slowest times idle and during the
load, and their ratio, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from oversight.web.app import create_app
from oversight.web.db import Database
from oversight.web.models import Study
from web_support import SECRET, csrf_of, program_transcripts


def page_times(client: TestClient, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        client.get(url).raise_for_status()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    """Build the data set, time the page idle and during the load, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 4 MB data set")
    parser.add_argument("--copies", type=int, default=2000, help="copies of 12 transcripts")
    args = parser.parse_args()
    copies = 200 if args.quick else args.copies
    base = program_transcripts(3)
    lines = []
    for i in range(copies):
        for t in base:
            artifact = t.artifact.model_copy(update={"id": f"{t.artifact.id}-{i}"})
            lines.append(t.model_copy(update={"artifact": artifact}).model_dump_json())
    data = "".join(x + "\n" for x in lines).encode()
    folder = Path(tempfile.mkdtemp())
    app = create_app(folder / "db.sqlite", SECRET)
    client = TestClient(app)
    small = [json.loads(t.model_dump_json()) for t in base]
    spec = {"name": "small", "arms": [{"name": "u"}], "judges": 1}
    study = client.post(
        "/api/studies",
        json={"spec": spec, "transcripts": small},
        headers={"Authorization": f"Bearer {SECRET}"},
    ).json()
    judge_url = f"/j/{study['judges'][0]['token']}"
    idle = page_times(client, judge_url, 20)
    login = client.get("/admin/login")
    client.post("/admin/login", data={"secret": SECRET, "csrf": csrf_of(login.text)})
    form = {
        "csrf": csrf_of(client.get("/admin").text),
        "name": "big",
        "arms": "unassisted\nassisted = assisted",
        "judges": "2",
    }
    start = time.perf_counter()
    r = client.post(
        "/admin/studies",
        data=form,
        files={"dataset": ("data.jsonl", data, "application/json")},
        follow_redirects=False,
    )
    accepted = time.perf_counter() - start
    assert r.status_code == 303, r.text
    db = Database(folder / "db.sqlite")
    during: list[float] = []
    while True:
        during += page_times(client, judge_url, 1)
        with db.session() as s:
            state = s.query(Study).filter_by(name="big").one().design["loading"]
        if state["state"] != "loading":
            break
        time.sleep(0.2)
    loaded = time.perf_counter() - start
    print(
        f"data set: {len(data) / 1e6:.1f} MB, {len(lines)} transcripts; upload accepted in "
        f"{accepted:.1f} s; {state['items']} items loaded ({state['state']}) in {loaded:.1f} s"
    )
    for name, times in (("idle", idle), ("during the load", during)):
        print(
            f"judge page {name}: median {statistics.median(times) * 1000:.0f} ms, "
            f"slowest {max(times) * 1000:.0f} ms ({len(times)} requests)"
        )
    ratio = statistics.median(during) / statistics.median(idle)
    print(f"median during the load / idle: {ratio:.1f}x; peak memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
