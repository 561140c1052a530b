"""The transcript viewer on a large run: first open (index build) and filtered, paginated pages.

Usage::

    python benchmarks/bench_viewer.py [--quick] [--transcripts N] [--problems P] [--dir DIR]

Plays real episodes of the program environment (16-bit programs of 48 lines as in the default
run; per problem two honest, one lazy and eight backdoored artifacts over four trigger families
and two subtleties; five arms: judge alone with random or informed tests, assisted by a guided or
a random-testing critic, and the guided arm with a judge whose verdict flips with probability
0.1), then repeats them under fresh episode and problem ids until the run holds N transcripts
(10,000 by default), written with :class:`RunStore` like any run.

Then it measures, on one core:

(a) building the viewer's index of the run (target: at most 10 s);
(b) the first open of the run page through the viewer (index build included);
(c) pages rendered through the router with :class:`fastapi.testclient.TestClient`: the run list,
    filtered, searched and deep pages, and a transcript page with its program diff
    (target: under 1 s each): the first render and the median of five (of one with ``--quick``).

and prints each time with its ratio to the target (below 1 meets it).
"""

from __future__ import annotations

import one_thread  # sets thread variables: must come before numpy and torch

# isort: split

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from oversight.agents.critics import CriticConfig, SearchCritic
from oversight.core.records import Transcript
from oversight.core.runs import RunStore
from oversight.core.seeding import rng
from oversight.envs.programs.env import ProgramEnv
from oversight.envs.programs.generator import GeneratorConfig
from oversight.envs.programs.makers import make_backdoor, make_honest, make_lazy
from oversight.judges.budgeted import BudgetedJudge, JudgeConfig
from oversight.protocols import CRITIQUE, DIRECT, play
from oversight.web import viewer
from oversight.web.run_index import INDEX_NAME, RunIndex

BUILD_TARGET = 10.0  # seconds for the first open of a 10,000-transcript run
PAGE_TARGET = 1.0  # seconds per rendered page
RUN = "bench-viewer"


def real_episodes(problems: int, seed: int) -> list[Transcript]:
    """Real program episodes, five arms, gold attached (see the module docstring)."""
    env = ProgramEnv(GeneratorConfig(bits=16, length=48))
    items = []
    for p in range(problems):
        problem, ref = env.reference(seed * 10_000 + p)
        r = rng(seed, "bench-viewer", p)
        made = [make_honest(ref, r, 0.3), make_honest(ref, r), make_lazy(ref, r)]
        made += [
            make_backdoor(ref, r, family, k)
            for family in ("literal", "linear", "mixing", "spread")
            for k in (6, 10)
        ]
        for i, m in enumerate(made):
            items.append(env.case(problem, m, f"{m.kind}{i}"))
    arms = [  # name, protocol, judge's test strategy, critic, judge noise
        ("unassisted_random", DIRECT, "random", None, 0.0),
        ("unassisted_informed", DIRECT, "informed", None, 0.0),
        ("assisted_guided", CRITIQUE, "informed", "guided", 0.0),
        ("assisted_random", CRITIQUE, "informed", "random", 0.0),
        ("assisted_guided_noisy", CRITIQUE, "informed", "guided", 0.1),
    ]
    out: list[Transcript] = []
    for arm, protocol, strategy, critic, noise in arms:
        config = JudgeConfig(budget=200, strategy=strategy, noise=noise)
        judge = BudgetedJudge(config, seed=seed)
        agents = {}
        if critic is not None:
            agents["critic"] = SearchCritic(CriticConfig(kind=critic, budget_fraction=1 / 64))
        out += play(protocol, items, agents, judge, arm, batch=len(items))
    return out


def write_run(root: Path, pool: list[Transcript], n: int) -> Path:
    """A run folder holding ``n`` transcripts: the pool, repeated under fresh ids."""
    store = RunStore(root / RUN)
    store.create(f"experiment: bench-viewer\ntranscripts: {n}\n")
    batch: list[Transcript] = []
    for i in range(n):
        rep, t = divmod(i, len(pool))
        copy = pool[t].model_copy(deep=True)
        if rep:
            copy.problem.id = f"{copy.problem.id}-r{rep}"
            copy.artifact.problem_id = copy.problem.id
            copy.artifact.id = f"{copy.problem.id}/{copy.artifact.id.split('/')[-1]}"
            copy.episode_id = f"{copy.arm}/{copy.artifact.id}"
        batch.append(copy)
        if len(batch) == 500:
            store.append(batch)
            batch = []
    store.append(batch)
    return store.path


def timed(client: TestClient, url: str, repeats: int) -> tuple[float, float, str]:
    """(first render, median of ``repeats`` more) in seconds, and the page."""
    t0 = time.perf_counter()
    response = client.get(url)
    first = time.perf_counter() - t0
    if response.status_code != 200:
        sys.exit(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        client.get(url)
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), response.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat per page")
    parser.add_argument("--transcripts", type=int, default=10_000)
    parser.add_argument("--problems", type=int, default=12, help="real problems played")
    parser.add_argument("--dir", type=Path, default=None, help="keep the run here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    one_thread.pin_one_core()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        pool = real_episodes(args.problems, args.seed)
        played = time.perf_counter() - t0
        path = write_run(root, pool, args.transcripts)
        size = (path / "transcripts.jsonl").stat().st_size
        print(
            f"{len(pool)} real episodes played in {played:.1f} s; run of {args.transcripts} "
            f"transcripts written in {time.perf_counter() - t0 - played:.1f} s "
            f"({size / 1e6:.1f} MB, {size / args.transcripts / 1e3:.1f} kB per transcript)"
        )

        index = RunIndex(path)
        built = index.ensure()
        index_mb = (path / INDEX_NAME).stat().st_size / 1e6
        search = "FTS5 trigram" if index.fts else "scanned table"
        print(
            f"(a) index build: {built.seconds:.2f} s for {built.added} transcripts "
            f"({index_mb:.1f} MB, search: {search}); target {BUILD_TARGET:.0f} s: "
            f"ratio {built.seconds / BUILD_TARGET:.2f}"
        )

        app = FastAPI()
        app.state.runs_dir = root
        app.include_router(viewer.router, prefix="/runs")
        client = TestClient(app)
        (path / INDEX_NAME).unlink()
        t0 = time.perf_counter()
        client.get(f"/runs/{RUN}").raise_for_status()
        first_open = time.perf_counter() - t0
        print(
            f"(b) first open of the run page (index build included): {first_open:.2f} s; "
            f"target {BUILD_TARGET:.0f} s: ratio {first_open / BUILD_TARGET:.2f}"
        )

        missed = next(
            (t for t in pool if t.gold and t.verdict and not t.gold.label and t.verdict.accept),
            pool[0],
        )
        code_line = missed.artifact.content.splitlines()[len(missed.artifact.content) % 7]
        pages = {
            "run list": "/runs/",
            "run page 1 (50 rows)": f"/runs/{RUN}",
            "page 150 of all": f"/runs/{RUN}?page=150",
            "outcome=caught": f"/runs/{RUN}?outcome=caught",
            "outcome=missed, page 3": f"/runs/{RUN}?outcome=missed&page=3",
            "outcome=false_alarm": f"/runs/{RUN}?outcome=false_alarm",
            "outcome=judge_wrong, 200 rows": f"/runs/{RUN}?outcome=judge_wrong&size=200",
            "arm + outcome": f"/runs/{RUN}?arm=assisted_guided&outcome=missed",
            "protocol, page 40": f"/runs/{RUN}?protocol=critique&page=40",
            "search common word": f"/runs/{RUN}?q=differ",
            "search a code line": f"/runs/{RUN}?q={code_line.replace(' ', '+')}",
            "search short term": f"/runs/{RUN}?q=0x",
            "search + outcome + arm": f"/runs/{RUN}?q=counterexample&outcome=caught"
            "&arm=assisted_random",
            "500 rows": f"/runs/{RUN}?size=500",
            "transcript (diff)": f"/runs/{RUN}/episodes/{missed.episode_id}",
        }
        print(f"(c) pages (target {PAGE_TARGET:.0f} s each):")
        print(f"  {'page':<32} {'first ms':>9} {'median ms':>10} {'ratio':>6}  matches")
        worst = 0.0
        for name, url in pages.items():
            first, median, text = timed(client, url, 1 if args.quick else 5)
            worst = max(worst, first, median)
            matches = ""
            if "matching transcripts" in text:
                matches = text.split('<p id="matches">')[1].split(" matching")[0]
            print(
                f"  {name:<32} {first * 1e3:9.1f} {median * 1e3:10.1f} "
                f"{max(first, median) / PAGE_TARGET:6.3f}  {matches}"
            )
        build_ok = max(built.seconds, first_open) <= BUILD_TARGET
        page_ok = worst < PAGE_TARGET
        print(
            f"first open: {'MEETS' if build_ok else 'BELOW'} target "
            f"({max(built.seconds, first_open) / BUILD_TARGET:.2f}x); slowest page: "
            f"{worst * 1e3:.0f} ms, {'MEETS' if page_ok else 'BELOW'} target "
            f"({worst / PAGE_TARGET:.2f}x)"
        )


if __name__ == "__main__":
    main()
