"""Scaling of `oversight sweep` on Ray: the same sweep of 8 quick runs on 1 and on 2 workers.

Usage::

    python benchmarks/bench_sweep.py [--runs 8] [--backend ray|local] [--config NAME]

Starts one local Ray cluster of 2 CPUs and warms both its workers with one run each (so both
have imported what the runs use), then runs N quick runs at most 1 at a time (seeds 0..N-1),
and N more at most 2 at a time (seeds N..2N-1: no run finds what an earlier one cached). Prints
the wall time of each and their ratio against the target of 1.8, and, apart, what starting the
cluster cost (a cold `oversight sweep` pays it once). Needs 2 free cores: anything else running
on the machine lowers the ratio. With ``--backend local`` the same on the local process pool
(whose workers do not outlive one sweep: each sweep pays their start).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from oversight.experiments import sweep

TARGET = 1.8


def timed(config: str, runs: list[sweep.Run], workers: int, backend: str) -> float:
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        sweep.execute(config, runs, Path(root), workers, backend, progress=False)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--backend", default="ray", choices=["ray", "local"])
    parser.add_argument("--config", default="offense-defense-quick")
    parser.add_argument("--grid", default="judge.budget=200", help="the sweep's one grid point")
    args = parser.parse_args()
    # seeds 0..N-1 at 1 worker, N..2N-1 at 2: no run meets what an earlier one cached
    n = args.runs
    runs = sweep.plan(args.config, [args.grid], 2 * n + 2)
    if args.backend == "ray":
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        print(f"starting a 2-CPU local Ray cluster: {time.perf_counter() - start:.1f} s")
    # one run on each worker first, so that both have imported everything the runs use
    print(f"warm-up, 2 runs: {timed(args.config, runs[2 * n :], 2, args.backend):.1f} s")
    one = timed(args.config, runs[:n], 1, args.backend)
    two = timed(args.config, runs[n : 2 * n], 2, args.backend)
    ratio = one / two
    print(f"{args.runs} runs of {args.config} on {args.backend}")
    print(f"  1 worker:  {one:6.1f} s")
    print(f"  2 workers: {two:6.1f} s")
    print(
        f"  speed-up:  {ratio:.2f}x (target {TARGET}x: {'met' if ratio >= TARGET else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
