"""Run the RRM experiment: every seed builds its own references, then runs its rounds.

Seeds run in parallel worker processes (a single seed builds its references in them instead).
Each seed's stages are checkpointed by :class:`~.seed_run.SeedRun` as they finish, so a killed
run resumes from its last stage; the seeds' held-out transcripts are appended to the run's
``transcripts.jsonl`` once, when the seed finishes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from oversight.core.files import write_atomic
from oversight.core.runs import RunStore
from oversight.experiments.progress import progress_bar
from oversight.experiments.rrm.config import RRMExperimentConfig

_STATE: dict[str, Any] = {}  # what forked workers inherit: the config and the progress queue


def _seed_worker(seed: int) -> tuple[dict[str, Any], list[Any]]:
    from oversight.experiments.rrm.seed_run import SeedRun
    from oversight.experiments.rrm.world import World

    cfg, store_path, events = (_STATE[k] for k in ("cfg", "store", "events"))
    world = World(cfg, seed, _STATE["world_workers"], lambda: events.put("reference"))
    run = SeedRun(
        world,
        cfg,
        seed,
        RunStore(store_path).checkpoint(f"seed{seed}"),
        tick=lambda stage: events.put(stage),
    )
    return run.run(), run.transcripts


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
        events: mp.queues.Queue[Any] | queue.SimpleQueue[Any] = (
            context.Queue() if cfg.workers > 1 else queue.SimpleQueue()
        )
        parallel_seeds = cfg.workers > 1 and len(cfg.seeds) > 1
        _STATE.update(
            cfg=cfg,
            store=store.path,
            events=events,
            world_workers=1 if parallel_seeds else cfg.workers,
        )
        results: dict[int, dict[str, Any]] = {}

        def drain() -> None:
            while True:
                try:
                    events.get_nowait()
                except queue.Empty:
                    return
                bar.advance(task)

        def finish(seed: int, result: dict[str, Any], transcripts: list[Any]) -> None:
            if seed not in done:
                for t in transcripts:
                    t.meta["seed"] = seed
                store.append(transcripts)
            path = store.checkpoint(f"seed{seed}") / "result.json"
            write_atomic(path, json.dumps(result, default=float))
            results[seed] = result

        if not parallel_seeds:
            for seed in cfg.seeds:
                finish(seed, *_seed_worker(seed))
                drain()
        else:
            with ProcessPoolExecutor(min(cfg.workers, len(cfg.seeds)), mp_context=context) as pool:
                futures = {pool.submit(_seed_worker, s): s for s in cfg.seeds}
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
                drain()
        _STATE.clear()
    return [results[s] for s in cfg.seeds]
