"""Run the RRM experiment: every seed builds its own references, then runs its rounds.

Seeds run side by side in worker processes, one per worker (:func:`split_seeds`); a seed left
over from the last wave runs alone, with the workers building its references and training its
modes instead.
Each seed's stages are checkpointed by :class:`~.seed_run.SeedRun` as they finish, so a killed
run resumes from its last stage; the seeds' held-out transcripts are appended to the run's
``transcripts.jsonl`` once, when the seed finishes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from oversight.core.files import write_atomic
from oversight.core.runs import RunStore
from oversight.experiments.progress import progress_bar
from oversight.experiments.rrm.config import RRMExperimentConfig

_STATE: dict[str, Any] = {}  # what forked workers inherit: the config and the progress queue


def _seed(seed: int, workers: int, tick: Callable[[str], None]) -> tuple[dict[str, Any], list[Any]]:
    """One seed's results and held-out transcripts, with ``workers`` processes of its own."""
    from oversight.experiments.rrm.seed_run import SeedRun
    from oversight.experiments.rrm.world import World

    cfg, store_path = _STATE["cfg"], _STATE["store"]
    world = World(cfg, seed, workers, lambda: tick("reference"))
    run = SeedRun(world, cfg, seed, RunStore(store_path).checkpoint(f"seed{seed}"), tick, workers)
    return run.run(), run.transcripts


def _pooled_seed(seed: int) -> tuple[dict[str, Any], list[Any]]:
    return _seed(seed, 1, _STATE["events"].put)


def split_seeds(seeds: list[int], workers: int) -> tuple[list[int], list[int]]:
    """(seeds run side by side, one per worker; seeds run one at a time, each with every
    worker). Whole waves of seeds go side by side; a last wave that would leave workers idle
    runs its seeds one at a time, their modes and sweep rows in parallel instead."""
    if workers <= 1 or len(seeds) <= 1:
        return [], list(seeds)
    if len(seeds) <= workers:
        return list(seeds), []
    side = len(seeds) - len(seeds) % workers
    return list(seeds[:side]), list(seeds[side:])


def run(cfg: RRMExperimentConfig, store: RunStore, progress: bool = True) -> list[dict[str, Any]]:
    """Every seed's results (resumed from checkpoints where they exist), in seed order."""
    from oversight.experiments.rrm.seed_run import stage_count

    with progress_bar(progress) as bar:
        per_seed = cfg.train_refs + cfg.test_refs + stage_count(cfg)
        task = bar.add_task(
            "RRM references and stages (all seeds)", total=per_seed * len(cfg.seeds)
        )
        done = {t.meta.get("seed") for t in store.transcripts()}
        context = mp.get_context("fork")
        side, alone = split_seeds(list(cfg.seeds), cfg.workers)
        events: mp.queues.Queue[Any] = context.Queue()
        _STATE.update(cfg=cfg, store=store.path, events=events)
        results: dict[int, dict[str, Any]] = {}

        def finish(seed: int, result: dict[str, Any], transcripts: list[Any]) -> None:
            if seed not in done:
                for t in transcripts:
                    t.meta["seed"] = seed
                store.append(transcripts)
            path = store.checkpoint(f"seed{seed}") / "result.json"
            write_atomic(path, json.dumps(result, default=float))
            results[seed] = result

        if side:
            with ProcessPoolExecutor(min(cfg.workers, len(side)), mp_context=context) as pool:
                futures = {pool.submit(_pooled_seed, s): s for s in side}
                pending = set(futures)
                while pending:
                    for f in [f for f in pending if f.done()]:
                        pending.discard(f)
                        finish(futures[f], *f.result())
                    try:
                        events.get(timeout=0.5)
                        bar.advance(task)
                    except queue.Empty:
                        pass
                while True:
                    try:
                        events.get_nowait()
                    except queue.Empty:
                        break
                    bar.advance(task)
        for seed in alone:
            finish(seed, *_seed(seed, cfg.workers, lambda stage: bar.advance(task)))
        _STATE.clear()
    return [results[s] for s in cfg.seeds]
